/**
 * What activities see of the model layer: one call in, one validated outcome (or a typed error) out.
 * Implemented by `createModelGateway` in providers/gateway.ts.
 */
import type { z } from 'zod';
import type { ModelSpec, Usage } from '../domain/models';
import type { AnyLocalAnswer } from '../factory/define';

export interface ModelCall<T> {
  modelId: string;
  /** Station name, for cache keys, opt-outs and summaries. */
  station: string;
  /** How the local provider answers offline (the station's `local`); none: offline it cannot, and the step escalates. */
  local?: AnyLocalAnswer;
  input: unknown;
  system: string;
  prompt: string;
  /** The station's output schema: enforced by JSON-schema mode where supported, then validation, one repair. */
  schema: z.ZodType<T>;
  temperature?: number;
  /** Options laid over the registry model's for this call (e.g. the learning registry's model file); part of the cache key. */
  modelOptions?: Record<string, unknown>;
  cache?: { enabled?: boolean; ttlSeconds?: number; cacheNonZeroTemperature?: boolean };
  signal?: AbortSignal;
  /** Called periodically during long calls (the activity passes Context.heartbeat). */
  heartbeat?: (details?: unknown) => void;
}

export interface ModelCallOutcome<T> {
  output: T;
  confidence: number | null;
  usage: Usage;
  costUsd: number;
  latencyMs: number;
  cacheHit: boolean;
  /** True when the first answer failed the schema and the repair attempt succeeded. */
  repaired: boolean;
  modelId: string;
  modelVersion?: string;
}

export interface CacheStats {
  hits: number;
  misses: number;
  costSavedUsd: number;
}

export interface ModelGateway {
  call<T>(call: ModelCall<T>): Promise<ModelCallOutcome<T>>;
  /** The registry this gateway serves (tiers, prices, limits). */
  models(): ModelSpec[];
  cacheStats(): CacheStats;
  close(): Promise<void>;
}
