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
  /**
   * This call's identity in its job (workflow, run, step and call number; see `settlementOf`). A call
   * cached under this identity and asked again under it — its activity or workflow task ran again — is
   * settled by its own first answer: the same output, usage, cost and latency, not a cache hit, and not
   * paid for twice. Other calls with the same content still get a cache hit at no cost. Only cacheable
   * calls are settled this way (temperature 0 or `cacheNonZeroTemperature`, cache on).
   */
  settles?: string;
  /** Ask the provider for token log-probabilities and make the answer's probability its confidence (see providers/logprobs.ts). */
  logprobs?: { field?: string };
  /**
   * Other models of the same tier, in the order to try them: when `modelId` is cooling down after an
   * outage, or fails with one now, the next answers instead (failover), and the outcome says why.
   */
  fallbacks?: readonly string[];
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
  /** Where `confidence` came from (see ProviderResponse.confidenceSource). */
  confidenceSource?: 'classifier' | 'local-answer' | 'logprobs';
  /** The models of the tier passed over before `modelId` answered, and why (failover). */
  failover?: FailoverStep[];
}

/** One model passed over by failover: it was cooling down, or it failed with an outage now and was cooled down. */
export interface FailoverStep {
  modelId: string;
  reason: string;
  /** Until when the worker leaves it alone (ISO time). */
  coolingDownUntil: string;
}

/** A model the worker's calls leave alone for now, and why. */
export interface ModelCooldown {
  modelId: string;
  until: string;
  reason: string;
  /** Outages that cooled it down since the worker started. */
  cooldowns: number;
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
  /** The models cooling down after an outage now (failover passes over them). */
  cooldowns(): ModelCooldown[];
  close(): Promise<void>;
}
