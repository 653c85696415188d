/**
 * Per-model token buckets for requests/min and tokens/min, shared by every concurrent call in one worker
 * process (one limiter per gateway). A call waits for capacity rather than failing, in arrival order, so
 * a burst of activities queues locally instead of turning into a 429 storm at the provider. Each worker
 * process has its own buckets: with N workers configure limits divided by N (see providers/README.md).
 */
import type { ModelSpec } from '../domain/models';

export interface RateLimiter {
  /** Resolves when the model has room for one request of about `estimatedTokens`; rejects if `signal` aborts. */
  acquire(model: ModelSpec, estimatedTokens: number, signal?: AbortSignal): Promise<void>;
  /** Corrects the token bucket once the real usage is known (the difference may be negative). */
  settle(model: ModelSpec, tokenDifference: number): void;
}

export interface RateLimiterOptions {
  now?: () => number;
}

class TokenBucket {
  private available: number;
  private updatedAt: number;
  constructor(
    readonly capacity: number,
    private readonly now: () => number,
  ) {
    this.available = capacity;
    this.updatedAt = now();
  }

  private refill() {
    const at = this.now();
    this.available = Math.min(this.capacity, this.available + ((at - this.updatedAt) * this.capacity) / 60_000);
    this.updatedAt = at;
  }

  /** Milliseconds until `amount` is available (0 when it is now). */
  waitFor(amount: number): number {
    this.refill();
    const missing = Math.min(amount, this.capacity) - this.available;
    return missing <= 0 ? 0 : Math.ceil((missing * 60_000) / this.capacity);
  }

  take(amount: number) {
    this.refill();
    this.available -= Math.min(amount, this.capacity);
  }

  /** Usage above the estimate becomes debt that later calls wait out. */
  adjust(amount: number) {
    this.refill();
    this.available = Math.min(this.capacity, this.available - amount);
  }
}

interface ModelBuckets {
  requests?: TokenBucket;
  tokens?: TokenBucket;
  /** The tail of the FIFO queue of waiting calls. */
  queue: Promise<void>;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
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

export function createRateLimiter(options: RateLimiterOptions = {}): RateLimiter {
  const now = options.now ?? Date.now;
  const buckets = new Map<string, ModelBuckets>();

  function bucketsFor(model: ModelSpec): ModelBuckets {
    let entry = buckets.get(model.id);
    if (!entry) {
      const { requestsPerMinute, tokensPerMinute } = model.rateLimit;
      entry = {
        requests: requestsPerMinute ? new TokenBucket(requestsPerMinute, now) : undefined,
        tokens: tokensPerMinute ? new TokenBucket(tokensPerMinute, now) : undefined,
        queue: Promise.resolve(),
      };
      buckets.set(model.id, entry);
    }
    return entry;
  }

  return {
    acquire(model, estimatedTokens, signal) {
      const entry = bucketsFor(model);
      if (!entry.requests && !entry.tokens) return Promise.resolve();
      const { requests, tokens } = entry;
      const turn = entry.queue.then(async () => {
        for (;;) {
          if (signal?.aborted) throw signal.reason;
          const waitMs = Math.max(requests?.waitFor(1) ?? 0, tokens?.waitFor(estimatedTokens) ?? 0);
          if (waitMs === 0) break;
          await sleep(waitMs, signal);
        }
        requests?.take(1);
        tokens?.take(estimatedTokens);
      });
      // The next caller waits for this turn to finish, whether it acquired or was aborted.
      entry.queue = turn.catch(() => undefined);
      return signal ? Promise.race([turn, rejectOnAbort(signal)]) : turn;
    },
    settle(model, tokenDifference) {
      bucketsFor(model).tokens?.adjust(tokenDifference);
    },
  };
}
