/**
 * Model-call failures, classified where they are born so Temporal knows what to do with them: each class
 * has a distinct `name` (the ApplicationFailure `type` workflows branch on) and says whether a retry can
 * help. `fromAiSdkError` maps the AI SDK's errors (HTTP status, Retry-After, network failures) onto these
 * classes; `toApplicationFailure` hands them to Temporal. Messages never carry API keys: every message
 * built here goes through `redactSecrets`.
 */
import { APICallError, RetryError } from 'ai';
import { ApplicationFailure } from '@temporalio/common';

export abstract class ModelCallError extends Error {
  abstract readonly retryable: boolean;
  constructor(
    message: string,
    readonly modelId?: string,
    readonly statusCode?: number,
  ) {
    super(message);
  }
}

/** 429: retryable after the provider's Retry-After (when it sent one). */
export class ModelRateLimitedError extends ModelCallError {
  override readonly name = 'ModelRateLimitedError';
  readonly retryable = true;
  constructor(
    message: string,
    modelId?: string,
    readonly retryAfterMs?: number,
  ) {
    super(message, modelId, 429);
  }
}

/** 5xx (and 408/409): the provider had a bad moment. */
export class ModelServerError extends ModelCallError {
  override readonly name = 'ModelServerError';
  readonly retryable = true;
}

/** The model did not answer within the model's `timeoutMs`. Retryable: slow answers are usually transient. */
export class ModelTimeoutError extends ModelCallError {
  override readonly name = 'ModelTimeoutError';
  readonly retryable = true;
}

/** Connection refused or reset before a complete answer arrived. */
export class ModelConnectionError extends ModelCallError {
  override readonly name = 'ModelConnectionError';
  readonly retryable = true;
}

/** 400: the same request will be refused again. */
export class ModelBadRequestError extends ModelCallError {
  override readonly name = 'ModelBadRequestError';
  readonly retryable = false;
}

/** 401/403: fix the key or the account, not the request. */
export class ModelAuthError extends ModelCallError {
  override readonly name = 'ModelAuthError';
  readonly retryable = false;
}

/** 404: the model (or the endpoint) does not exist at this provider. */
export class ModelNotFoundError extends ModelCallError {
  override readonly name = 'ModelNotFoundError';
  readonly retryable = false;
}

/** The prompt does not fit the model's context window: the router escalates to a longer-context model. */
export class ContextLengthExceededError extends ModelCallError {
  override readonly name = 'ContextLengthExceededError';
  readonly retryable = false;
}

/** The answer failed the station schema twice (first answer and one repair): the router escalates. */
export class SchemaViolationError extends ModelCallError {
  override readonly name = 'SchemaViolationError';
  readonly retryable = false;
  constructor(
    message: string,
    modelId: string,
    readonly issues: string[],
  ) {
    super(message, modelId);
  }
}

/**
 * The provider's HTTP answer itself was garbled (not the protocol's JSON), as opposed to a well-formed
 * answer whose content breaks the schema (that is repaired, then SchemaViolationError). A garbled body
 * is a transport or proxy glitch, so it is retryable; the activity's retry policy bounds the attempts.
 */
export class MalformedModelOutputError extends ModelCallError {
  override readonly name = 'MalformedModelOutputError';
  readonly retryable = true;
}

/** The call named a model id the registry does not know. */
export class UnknownModelError extends ModelCallError {
  override readonly name = 'UnknownModelError';
  readonly retryable = false;
}

/** A provider needed for the model is not configured in this worker (e.g. its API key is unset). */
export class ProviderNotConfiguredError extends ModelCallError {
  override readonly name = 'ProviderNotConfiguredError';
  readonly retryable = false;
}

/**
 * Every model a call could fail over to is cooling down after an outage: retryable, after the soonest
 * cooldown ends (the activity's retry policy waits), then the router escalates if it lasts.
 */
export class ModelsCoolingDownError extends ModelCallError {
  override readonly name = 'ModelsCoolingDownError';
  readonly retryable = true;
  constructor(
    message: string,
    modelId: string,
    readonly retryAfterMs: number,
  ) {
    super(message, modelId, 503);
  }
}

/**
 * The fleet's shared rate limit (PostgreSQL) could not be checked, so the model was not called: retryable
 * (the activity's retries wait the database out). Not a provider outage: the model is not cooled down.
 */
export class RateLimiterUnavailableError extends ModelCallError {
  override readonly name = 'RateLimiterUnavailableError';
  readonly retryable = true;
}

/** An outage of the model's provider (not a fault of the request): failover cools the model down and tries the next of its tier. */
export function isProviderOutage(error: unknown): error is ModelCallError {
  return (
    error instanceof ModelServerError ||
    error instanceof ModelRateLimitedError ||
    error instanceof ModelConnectionError ||
    error instanceof ModelTimeoutError ||
    error instanceof MalformedModelOutputError ||
    error instanceof ModelAuthError ||
    error instanceof ModelNotFoundError ||
    error instanceof ProviderNotConfiguredError
  );
}

export function redactSecrets(text: string, secrets: ReadonlyArray<string | undefined>): string {
  let redacted = text;
  for (const secret of secrets) {
    if (secret && secret.length >= 4) redacted = redacted.split(secret).join('[redacted]');
  }
  return redacted;
}

/** Retry-After is either delay-seconds or an HTTP-date; some providers also send retry-after-ms. */
export function parseRetryAfterMs(headers: Record<string, string> | undefined, now: number = Date.now()): number | undefined {
  if (!headers) return undefined;
  const lower = Object.fromEntries(Object.entries(headers).map(([key, value]) => [key.toLowerCase(), value]));
  const milliseconds = Number.parseFloat(lower['retry-after-ms'] ?? '');
  if (Number.isFinite(milliseconds) && milliseconds >= 0) return Math.round(milliseconds);
  const retryAfter = lower['retry-after']?.trim();
  if (!retryAfter) return undefined;
  if (/^\d+(\.\d+)?$/.test(retryAfter)) return Math.round(Number.parseFloat(retryAfter) * 1000);
  const date = Date.parse(retryAfter);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

const contextLengthPattern = /context[_ ]length|maximum context|prompt is too long|too many tokens|context window/i;

export interface ErrorContext {
  modelId: string;
  timeoutMs: number;
  /** True when our own timeout signal fired (as opposed to the caller aborting). */
  timedOut: boolean;
  secrets: ReadonlyArray<string | undefined>;
  now?: number;
}

/** Maps whatever the AI SDK threw onto a ModelCallError; returns other errors (e.g. aborts) unchanged. */
export function fromAiSdkError(error: unknown, context: ErrorContext): unknown {
  const { modelId } = context;
  const safe = (text: string) => redactSecrets(`${modelId}: ${text}`, context.secrets);
  if (error instanceof ModelCallError) return error;
  if (RetryError.isInstance(error)) return fromAiSdkError(error.lastError, context);
  if (context.timedOut) return new ModelTimeoutError(safe(`no answer within ${context.timeoutMs} ms`), modelId);
  if (!APICallError.isInstance(error)) return error;

  const status = error.statusCode;
  const detail = error.message || 'no message';
  if (status === undefined) {
    return new ModelConnectionError(safe(`connection failed (${detail})`), modelId);
  }
  if (status >= 200 && status < 300) {
    return new MalformedModelOutputError(safe(`HTTP ${status} with an unreadable body (${detail})`), modelId, status);
  }
  if (status === 429) {
    const retryAfterMs = parseRetryAfterMs(error.responseHeaders, context.now);
    const after = retryAfterMs === undefined ? '' : `, retry after ${retryAfterMs} ms`;
    return new ModelRateLimitedError(safe(`rate limited (HTTP 429${after}): ${detail}`), modelId, retryAfterMs);
  }
  if (contextLengthPattern.test(`${detail} ${error.responseBody ?? ''}`) && (status === 400 || status === 413)) {
    return new ContextLengthExceededError(safe(`prompt exceeds the context window (HTTP ${status}): ${detail}`), modelId, status);
  }
  if (status === 401 || status === 403) {
    return new ModelAuthError(safe(`not authorised (HTTP ${status}); check the API key variable: ${detail}`), modelId, status);
  }
  if (status === 404) return new ModelNotFoundError(safe(`model or endpoint not found (HTTP 404): ${detail}`), modelId, status);
  if (status >= 500 || status === 408 || status === 409) {
    return new ModelServerError(safe(`provider error (HTTP ${status}): ${detail}`), modelId, status);
  }
  return new ModelBadRequestError(safe(`request refused (HTTP ${status}): ${detail}`), modelId, status);
}

/**
 * The failure an activity throws: `type` is the error class name, `nonRetryable` follows the class, and a
 * 429 carries the provider's Retry-After as `nextRetryDelay` so Temporal's backoff honours it.
 */
export function toApplicationFailure(error: unknown): ApplicationFailure {
  if (error instanceof ApplicationFailure) return error;
  if (error instanceof ModelCallError) {
    const retryAfterMs = error instanceof ModelRateLimitedError || error instanceof ModelsCoolingDownError ? error.retryAfterMs : undefined;
    const details: Record<string, unknown> = { modelId: error.modelId, statusCode: error.statusCode };
    if (error instanceof SchemaViolationError) details.issues = error.issues;
    return ApplicationFailure.create({
      type: error.name,
      message: error.message,
      nonRetryable: !error.retryable,
      nextRetryDelay: retryAfterMs === undefined ? undefined : retryAfterMs,
      details: [details],
    });
  }
  if (error instanceof Error) {
    // Other providers' errors (e.g. the local provider's) may say themselves whether a retry can help.
    const retryable = (error as { retryable?: unknown }).retryable;
    return ApplicationFailure.create({ type: error.name, message: error.message, nonRetryable: retryable === false });
  }
  return ApplicationFailure.create({ type: 'Error', message: String(error) });
}
