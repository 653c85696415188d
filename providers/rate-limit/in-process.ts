/**
 * The embedded default: the buckets live in this process's memory, shared by every concurrent call of
 * one gateway (one worker process). Each worker process has buckets of its own; a fleet that must hold a
 * provider's limit together uses the PostgreSQL limiter (postgres.ts). A bucket holds a full minute of
 * its limit unless told otherwise, so after a quiet minute one minute's worth may go at once.
 */
import type { ModelSpec } from '../../domain/models';
import { amountOf, ONE_MINUTE_BURST_MS, roomFor, waitingLine, type BucketSize, type RateLimiter } from './limiter';

export interface RateLimiterOptions {
  now?: () => number;
  /** How much of a minute's limit a full bucket holds (default a minute). */
  burstMs?: number;
}

class TokenBucket {
  private available: number;
  private updatedAt: number;
  constructor(
    private readonly size: BucketSize,
    private readonly now: () => number,
  ) {
    this.available = size.capacity;
    this.updatedAt = now();
  }

  private refill() {
    const at = this.now();
    this.available = Math.min(this.size.capacity, this.available + ((at - this.updatedAt) * this.size.perMinute) / 60_000);
    this.updatedAt = at;
  }

  /** Milliseconds until `amount` is available (0 when it is now). */
  waitFor(amount: number): number {
    this.refill();
    const missing = amount - this.available;
    return missing <= 0 ? 0 : Math.ceil((missing * 60_000) / this.size.perMinute);
  }

  take(amount: number) {
    this.refill();
    this.available -= amount;
  }

  /** Usage above the estimate becomes debt that later calls wait out. */
  adjust(amount: number) {
    this.refill();
    this.available = Math.min(this.size.capacity, this.available - amount);
  }
}

export function createRateLimiter(options: RateLimiterOptions = {}): RateLimiter {
  const now = options.now ?? Date.now;
  const burstMs = options.burstMs ?? ONE_MINUTE_BURST_MS;
  const buckets = new Map<string, Map<BucketSize['kind'], TokenBucket>>();

  function bucketsFor(model: ModelSpec, sizes: BucketSize[]): Map<BucketSize['kind'], TokenBucket> {
    let entry = buckets.get(model.id);
    if (!entry) {
      entry = new Map(sizes.map((size) => [size.kind, new TokenBucket(size, now)]));
      buckets.set(model.id, entry);
    }
    return entry;
  }

  const acquire = waitingLine((model, sizes, estimatedTokens) => {
    const entry = bucketsFor(model, sizes);
    const waitMs = Math.max(0, ...sizes.map((size) => entry.get(size.kind)!.waitFor(roomFor(size, amountOf(size, estimatedTokens)))));
    if (waitMs === 0) for (const size of sizes) entry.get(size.kind)!.take(amountOf(size, estimatedTokens));
    return waitMs;
  }, burstMs);

  return {
    acquire,
    settle(model, tokenDifference) {
      buckets.get(model.id)?.get('tokens')?.adjust(tokenDifference);
    },
    async close() {},
  };
}
