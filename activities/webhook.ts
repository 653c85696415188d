/**
 * The built-in webhook action: an approved proposal POSTed to the team's endpoint as a JSON envelope,
 * signed per the Standard Webhooks specification (https://www.standardwebhooks.com), so any Standard
 * Webhooks library verifies it. `webhook-id` is the action's idempotency key (the same on every retry,
 * after a crash and after a replay), so a receiver that dedupes on it processes the action once.
 *
 * 2xx: delivered (the response's `id`, if any, is the receipt). 408, 429, 5xx, timeouts and connection
 * errors: retried by the job's delivery loop, after the receiver's Retry-After when it sent one. Other
 * statuses: refused, and the job waits as a failed action for a reviewer. The secret is read from the
 * worker's environment at each attempt (two secrets, space-separated, sign twice during a rotation) and
 * never appears in the envelope, the receipt, an error or a log.
 */
import { createHmac } from 'node:crypto';
import { EVIDENCE_EXCERPT_CHARS } from '../domain/actions';
import { defineFactory } from '../factory';
import { defineAction, PermanentActionError, RetryableActionError, type ActionContext, type ActionDefinition, type ActionSpec, type AnyAction, type Factory } from '../factory/define';

/** What a webhook action adds to an action definition (it has no `execute`: the POST is its effect). */
export interface WebhookActionSpec<P, S> extends Omit<ActionSpec<P, S>, 'execute' | 'timeoutMs'> {
  /** The receiver's address (https in production). */
  url: string;
  /** The worker's environment variable holding the `whsec_…` secret; during a rotation, `"whsec_new whsec_old"`. */
  secretEnv: string;
  /** Extra request headers (not secrets: they are part of the definition). */
  headers?: Record<string, string>;
  /** How long one POST may take (default 10 s); a slower one is abandoned and retried. */
  timeoutMs?: number;
  /** The envelope's `type` (default `conveyor.action.<name>`). */
  type?: string;
}

/** The JSON body of every webhook Conveyor sends. */
export interface WebhookEnvelope<P = unknown> {
  type: string;
  /** When the job first asked for this action (ISO 8601): the same on every attempt, so retries send the same bytes. */
  timestamp: string;
  data: P;
  jobId: string;
  stepId: string;
  idempotencyKey: string;
  /** The reviewers who approved it (empty when the policy let it run on its own). */
  approvers: string[];
}

const DEFAULT_TIMEOUT_MS = 10_000;
const SECRET_PREFIX = 'whsec_';

/** Defines an action whose effect is a signed POST to `url`. */
export function webhookAction<P, S = Record<string, never>>(spec: WebhookActionSpec<P, S>): ActionDefinition<P, S> {
  const { url, secretEnv, headers = {}, timeoutMs = DEFAULT_TIMEOUT_MS, type, ...action } = spec;
  const target = new URL(url); // a bad address fails when the factory loads, not at the first delivery
  if (target.protocol !== 'https:' && target.protocol !== 'http:') throw new TypeError(`webhookAction ${spec.name}: url must be http(s), got ${target.protocol}`);
  for (const name of Object.keys(headers)) {
    if (/^webhook-/i.test(name) || /^content-type$/i.test(name)) throw new TypeError(`webhookAction ${spec.name}: header ${name} is set by Conveyor`);
  }
  return defineAction<P, S>({
    ...action,
    timeoutMs: timeoutMs + 5_000,
    execute: (proposal, context) => deliverWebhook({ url, secretEnv, headers, timeoutMs, type: type ?? `conveyor.action.${spec.name}` }, proposal, context),
  });
}

/** The `webhook-signature` header value: `v1,<base64 HMAC-SHA256 of id.timestamp.body>` per secret, space-separated. */
export function webhookSignature(secrets: readonly string[], id: string, timestampSeconds: number, body: string): string {
  return secrets
    .map((secret) => {
      const key = Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64');
      return `v1,${createHmac('sha256', key).update(`${id}.${timestampSeconds}.${body}`).digest('base64')}`;
    })
    .join(' ');
}

/** Retry-After as milliseconds: delay-seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** The address without credentials, for messages. */
function shown(url: string): string {
  const parsed = new URL(url);
  parsed.username = '';
  parsed.password = '';
  parsed.search = parsed.search ? '?…' : '';
  return parsed.toString();
}

async function deliverWebhook(
  target: { url: string; secretEnv: string; headers: Record<string, string>; timeoutMs: number; type: string },
  proposal: unknown,
  context: ActionContext,
): Promise<Record<string, string | number | boolean | null>> {
  const secrets = context.secret(target.secretEnv).split(/\s+/).filter(Boolean);
  if (secrets.length === 0 || secrets.some((secret) => !secret.startsWith(SECRET_PREFIX) || secret.length <= SECRET_PREFIX.length)) {
    throw new PermanentActionError(`${target.secretEnv} must hold one or two Standard Webhooks secrets ("whsec_<base64>", space-separated during a rotation)`);
  }
  const envelope: WebhookEnvelope = {
    type: target.type,
    timestamp: context.requestedAt,
    data: proposal,
    jobId: context.jobId,
    stepId: context.stepId,
    idempotencyKey: context.idempotencyKey,
    approvers: context.approvedBy,
  };
  const body = JSON.stringify(envelope);
  const timestamp = Math.floor(Date.now() / 1000);
  const where = shown(target.url);
  let response: Response;
  try {
    response = await fetch(target.url, {
      method: 'POST',
      redirect: 'manual',
      headers: {
        ...target.headers,
        'content-type': 'application/json',
        'webhook-id': context.idempotencyKey,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': webhookSignature(secrets, context.idempotencyKey, timestamp, body),
      },
      body,
      signal: AbortSignal.any([context.signal, AbortSignal.timeout(target.timeoutMs)]),
    });
  } catch (error) {
    const cause = error instanceof Error && error.cause instanceof Error ? `: ${(error.cause as NodeJS.ErrnoException).code ?? error.cause.message}` : '';
    const reason = error instanceof Error && error.name === 'TimeoutError' ? `no answer within ${target.timeoutMs} ms` : `${error instanceof Error ? error.message : String(error)}${cause}`;
    throw new RetryableActionError(`POST ${where}: ${reason}`);
  }
  const text = await response.text().catch(() => '');
  const bodyExcerpt = text.length > EVIDENCE_EXCERPT_CHARS ? `${text.slice(0, EVIDENCE_EXCERPT_CHARS)}…` : text;
  const status = response.status;
  if (status >= 200 && status < 300) {
    let id: unknown;
    try {
      id = (JSON.parse(text) as { id?: unknown }).id;
    } catch {
      id = undefined;
    }
    return { status, ...(typeof id === 'string' || typeof id === 'number' ? { id } : {}) };
  }
  if (status === 408 || status === 429 || status >= 500) {
    const after = retryAfterMs(response.headers.get('retry-after'));
    throw new RetryableActionError(`POST ${where} answered ${status}`, { status, bodyExcerpt, ...(after !== undefined ? { retryAfterMs: after } : {}) });
  }
  const hint = status >= 300 && status < 400 ? ' (a redirect: set the url to the final address)' : '';
  throw new PermanentActionError(`POST ${where} answered ${status}${hint}`, { status, bodyExcerpt });
}

/**
 * The factory with every action delivered as a signed webhook to one receiver (its proposal schema,
 * settings, sensitivity and skip rules kept): how a worker of the built-in factory reaches a real system
 * (`CONVEYOR_ACTIONS_WEBHOOK_URL`). Each envelope's `type` is `conveyor.action.<name>`.
 */
export function withWebhookActions(factory: Factory, target: { url: string; secretEnv: string }): Factory {
  const actions = [...factory.actions.values()].map((action: AnyAction) => {
    const { kind: _kind, execute: _execute, timeoutMs: _timeout, ...rest } = action;
    return webhookAction({ ...(rest as Omit<ActionSpec<unknown, unknown>, 'execute'>), url: target.url, secretEnv: target.secretEnv });
  });
  return defineFactory({ name: factory.name, version: factory.version, stations: [...factory.stations.values()], actions, jobTypes: [...factory.jobTypes.values()] });
}
