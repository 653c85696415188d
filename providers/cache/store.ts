/**
 * The cross-run cache port: a content-addressed store of validated model outcomes, shared by every run
 * (and, with Redis or PostgreSQL, by every worker). A key is a sha256 over everything that determines an
 * answer, so an identical call (same model, prompts, input, parameters and output schema) is never paid
 * for twice.
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from '../../domain/hash';

export interface CacheEntry {
  /** The stored outcome (plain JSON). */
  value: unknown;
  /** What producing it cost, so a hit can report the cost it saved. */
  costUsd: number;
}

export interface CacheStoreStats {
  hits: number;
  misses: number;
  costSavedUsd: number;
  entries: number;
}

export interface CacheStore {
  readonly kind: 'sqlite' | 'redis' | 'postgres';
  /** Counts a hit (with the entry's cost as saved) or a miss. Expired entries are misses. */
  get(key: string): Promise<CacheEntry | undefined>;
  set(key: string, entry: CacheEntry, ttlSeconds: number): Promise<void>;
  delete(key: string): Promise<void>;
  /** Totals kept by the store itself: across all processes sharing it. */
  stats(): Promise<CacheStoreStats>;
  close(): Promise<void>;
}

export interface CacheKeyParts {
  modelId: string;
  providerModel: string;
  system: string;
  prompt: string;
  input: unknown;
  parameters: Record<string, unknown>;
  jsonSchema: unknown;
  /** Per-call model options (a different model file is a different model). */
  modelOptions?: Record<string, unknown>;
}

/** A call's cache key: sha256 of its parts as canonical JSON (domain/hash.ts), so equal content gives an equal key whatever the property order. */
export function cacheKey(parts: CacheKeyParts): string {
  return createHash('sha256').update(canonicalJson(parts)).digest('hex');
}
