/**
 * The rate-limiter port and what its implementations share: each model has a requests/min and a
 * tokens/min token bucket (from `rateLimit` in its spec), refilled at the limit per minute and holding
 * `burstMs` worth of it; a call waits, in arrival order within the process, until both have room.
 * `waitingLine` is that local queue; an implementation only says, for the call at the head of the line,
 * "taken" or "wait this long" (in-process.ts from buckets in memory, postgres.ts from buckets the fleet shares).
 */
import type { ModelSpec } from '../../domain/models';

export interface RateLimiter {
  /** Resolves when the model has room for one request of about `estimatedTokens`; rejects if `signal` aborts. */
  acquire(model: ModelSpec, estimatedTokens: number, signal?: AbortSignal): Promise<void>;
  /** Corrects the token bucket once the real usage is known (the difference may be negative). Never throws. */
  settle(model: ModelSpec, tokenDifference: number): void;
  /** Waits for corrections still on their way and releases what the limiter holds. */
  close(): Promise<void>;
}

/** A bucket holds this much of a minute's limit by default in one process: a full minute, as it always did. */
export const ONE_MINUTE_BURST_MS = 60_000;

export type BucketKind = 'requests' | 'tokens';

export interface BucketSize {
  kind: BucketKind;
  /** Refill rate: the model's limit. */
  perMinute: number;
  /** What the bucket holds when full: `burstMs` of refill, at least one request. */
  capacity: number;
}

/** The model's buckets (none when it has no limits), requests before tokens: the order every implementation locks them in. */
export function bucketSizes(model: ModelSpec, burstMs: number): BucketSize[] {
  const { requestsPerMinute, tokensPerMinute } = model.rateLimit;
  const sizes: BucketSize[] = [];
  if (requestsPerMinute) sizes.push({ kind: 'requests', perMinute: requestsPerMinute, capacity: Math.max(1, (requestsPerMinute * burstMs) / 60_000) });
  if (tokensPerMinute) sizes.push({ kind: 'tokens', perMinute: tokensPerMinute, capacity: Math.max(1, (tokensPerMinute * burstMs) / 60_000) });
  return sizes;
}

/** How much one request takes from a bucket: one request, or its estimated tokens. */
export const amountOf = (size: BucketSize, estimatedTokens: number) => (size.kind === 'requests' ? 1 : estimatedTokens);

/** The room a request waits for: its amount, at most a full bucket; a larger one then leaves the bucket in debt. */
export const roomFor = (size: BucketSize, amount: number) => Math.min(amount, size.capacity);

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function rejectOnAbort(signal: AbortSignal): Promise<never> {
  return new Promise((_resolve, reject) => {
    if (signal.aborted) reject(signal.reason as Error);
    else signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
  });
}

/** Takes room for one request now (resolving 0) or says how many milliseconds to wait before asking again. */
export type TakeOrWait = (model: ModelSpec, sizes: BucketSize[], estimatedTokens: number) => number | Promise<number>;

/**
 * `acquire` for an implementation: per model one FIFO line of waiting calls; the head asks `takeOrWait`,
 * sleeps what it is told (at most `maxSleepMs`, so room another process hands back is seen) and asks again.
 */
export function waitingLine(takeOrWait: TakeOrWait, burstMs: number, maxSleepMs = Number.POSITIVE_INFINITY): RateLimiter['acquire'] {
  const lines = new Map<string, { sizes: BucketSize[]; tail: Promise<void> }>();
  return (model, estimatedTokens, signal) => {
    let line = lines.get(model.id);
    if (!line) {
      line = { sizes: bucketSizes(model, burstMs), tail: Promise.resolve() };
      lines.set(model.id, line);
    }
    const { sizes } = line;
    if (sizes.length === 0) return Promise.resolve();
    const turn = line.tail.then(async () => {
      for (;;) {
        if (signal?.aborted) throw signal.reason;
        const waitMs = await takeOrWait(model, sizes, estimatedTokens);
        if (waitMs <= 0) return;
        await sleep(Math.min(waitMs, maxSleepMs), signal);
      }
    });
    // The next caller waits for this turn to finish, whether it acquired, was aborted or failed.
    line.tail = turn.catch(() => undefined);
    return signal ? Promise.race([turn, rejectOnAbort(signal)]) : turn;
  };
}
