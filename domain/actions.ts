/**
 * How actions are retried: the engine's defaults, and the wait before the next attempt (the action's
 * backoff, or what the receiver asked for with Retry-After, bounded). Pure: the workflow runs the loop.
 */

/** How an action's failed attempts are retried before it waits as a failed action for a person. */
export interface ActionRetryPolicy {
  /** Attempts before a person decides (default 8). */
  maximumAttempts?: number;
  /** First wait (default 1000 ms), doubled per attempt up to `maximumIntervalMs` (default 30 s). */
  initialIntervalMs?: number;
  maximumIntervalMs?: number;
  /** The longest Retry-After honoured (default 5 minutes); a longer one is cut to this. */
  maximumRetryAfterMs?: number;
}

export const DEFAULT_ACTION_RETRY: Required<ActionRetryPolicy> = { maximumAttempts: 8, initialIntervalMs: 1000, maximumIntervalMs: 30_000, maximumRetryAfterMs: 5 * 60_000 };
/** How long one attempt may take unless the action says (`timeoutMs`). */
export const DEFAULT_ACTION_TIMEOUT_MS = 60_000;

/** Longest excerpt of a receiver's answer kept as a failed attempt's evidence (shown to the reviewer). */
export const EVIDENCE_EXCERPT_CHARS = 500;

export function resolveActionRetry(retry: ActionRetryPolicy | undefined): Required<ActionRetryPolicy> {
  return { ...DEFAULT_ACTION_RETRY, ...retry };
}

/**
 * The wait after failed attempt `attempt` (1-based): Retry-After when the receiver sent one (at most
 * `maximumRetryAfterMs`), else `initialIntervalMs` doubled per attempt up to `maximumIntervalMs`.
 */
export function actionRetryDelay(attempt: number, retry: Required<ActionRetryPolicy>, retryAfterMs?: number): { delayMs: number; honoured: boolean } {
  if (retryAfterMs !== undefined && Number.isFinite(retryAfterMs) && retryAfterMs >= 0) return { delayMs: Math.min(retryAfterMs, retry.maximumRetryAfterMs), honoured: true };
  return { delayMs: Math.min(retry.initialIntervalMs * 2 ** (attempt - 1), retry.maximumIntervalMs), honoured: false };
}

/** The idempotency key of revision `revision` of a step's action: `<jobId>:<stepId>`, then `:r2`, `:r3`, … */
export function actionKey(jobId: string, stepId: string, revision = 1): string {
  return revision <= 1 ? `${jobId}:${stepId}` : `${jobId}:${stepId}:r${revision}`;
}
