/**
 * The activities factory jobs call, one timeout/retry profile per kind of work, and how their typed
 * failures read inside the workflow. Shared by the recipe interpreter and the primitives.
 */
import { ActivityFailure, ApplicationFailure, CancelledFailure, proxyActivities, proxyLocalActivities, TemporalFailure, type ActivityOptions, type LocalActivityOptions, type RetryPolicy } from '@temporalio/workflow';
import type { FactoryActivities, JobStartActivities } from '../activities/factory';
import type { createActivities } from '../activities';
import type { LearningActivities } from '../learning/activities';
import type { EscalationCause } from '../domain/routing';

type EngineActivities = ReturnType<typeof createActivities>;

const nonRetryableModelErrors = [
  'SchemaViolationError',
  'ContextLengthExceededError',
  'ModelBadRequestError',
  'ModelAuthError',
  'ModelNotFoundError',
  'UnsupportedSkillError',
  'UnknownStationError',
  'StationInputError',
  'ConfidenceRuleError',
];

// The gateway heartbeats every 5 s while a model answers, so a dead worker is noticed within 20 s.
const modelRetry: RetryPolicy = { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 6, nonRetryableErrorTypes: nonRetryableModelErrors };
export const models = proxyActivities<FactoryActivities>({
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '20 seconds',
  retry: modelRetry,
});

/**
 * A local activity that fails for good rejects with its own failure (an ApplicationFailure, a
 * TimeoutFailure), not with the ActivityFailure a regular activity's failure arrives in. These proxies
 * wrap it in one, so every caller reads a step's failure the same way whichever way the step ran
 * (escalationCauseOf, failureSummary, asJobFailure, the learning side steps). A cancellation stays what it is.
 */
function failingAsActivities<T extends object>(activities: T): T {
  const asActivityFailure = (activityType: string, error: unknown): unknown =>
    error instanceof TemporalFailure && !(error instanceof ActivityFailure) && !(error instanceof CancelledFailure)
      ? new ActivityFailure(error.message, activityType, undefined, 'MAXIMUM_ATTEMPTS_REACHED', undefined, error)
      : error;
  return new Proxy(activities, {
    get(target, name) {
      const activity = Reflect.get(target, name) as ((...args: unknown[]) => Promise<unknown>) & {
        executeWithOptions(options: ActivityOptions | LocalActivityOptions, args: unknown[]): Promise<unknown>;
      };
      const activityType = String(name);
      const rethrow = (error: unknown) => {
        throw asActivityFailure(activityType, error);
      };
      const call = (...args: unknown[]) => activity(...args).catch(rethrow);
      call.executeWithOptions = (options: LocalActivityOptions, args: unknown[]) => activity.executeWithOptions(options, args).catch(rethrow);
      return call;
    },
  });
}

/**
 * The same model calls when every model a call may use answers in the worker's process (domain/models.ts
 * executionOf): local activities, recorded as markers in the workflow task that scheduled them, so a job
 * of local steps completes in a few workflow tasks instead of a server round trip per call. Retried by
 * the worker with the same backoff; no heartbeat (the call is in process, the workflow task's own
 * timeout watches it).
 */
export const localModels = failingAsActivities(
  proxyLocalActivities<FactoryActivities>({
    startToCloseTimeout: '1 minute',
    retry: modelRetry,
  }),
);

// Local activities: the definition, the model registry, screening and verdicts need no round trip through the server.
const definitionOptions: LocalActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 5, nonRetryableErrorTypes: ['InvalidJobInputError', 'UnknownJobTypeError', 'UnknownActionError'] },
};
export const definitions = proxyLocalActivities<FactoryActivities>(definitionOptions);
export const jobStart = proxyLocalActivities<JobStartActivities>(definitionOptions);
export const engine = proxyLocalActivities<EngineActivities>({ startToCloseTimeout: '30 seconds', retry: { maximumAttempts: 5 } });

// The learning loop's side steps: a store blip is retried for about 15 s, then the job records it and goes on.
const learningOptions: ActivityOptions & LocalActivityOptions = {
  startToCloseTimeout: '20 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '8 seconds', maximumAttempts: 5, nonRetryableErrorTypes: ['InvalidExampleError'] },
};
export const learning = proxyActivities<LearningActivities>(learningOptions);

// The same side steps beside a job of local steps (they write the worker's learning stores, in process).
export const localLearning = failingAsActivities(
  proxyLocalActivities<LearningActivities>(learningOptions),
);

// A team's `execute` may call a remote system: retried with backoff, the same idempotency key every time.
export const actions = proxyActivities<FactoryActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 10, nonRetryableErrorTypes: ['InvalidProposalError', 'UnknownActionError'] },
});

// One attempt of an action (the workflow's delivery loop retries, so each attempt is in the ledger): its
// timeout is set per call from the action's `timeoutMs`; a worker that dies mid-attempt misses heartbeats.
export const actionAttempts = proxyActivities<FactoryActivities>({
  startToCloseTimeout: '70 seconds',
  heartbeatTimeout: '15 seconds',
  retry: { maximumAttempts: 1 },
});

const escalatingFailures: Record<string, EscalationCause> = {
  SchemaViolationError: 'schema-violation',
  ContextLengthExceededError: 'context-length',
  MalformedModelOutputError: 'schema-violation',
};

/** Which escalation a failed model call causes; undefined: the failure is the job's, not the model's. */
export function escalationCauseOf(error: unknown): EscalationCause | undefined {
  if (!(error instanceof ActivityFailure)) return undefined;
  if (!(error.cause instanceof ApplicationFailure)) return 'model-failure';
  const type = error.cause.type ?? '';
  if (type in escalatingFailures) return escalatingFailures[type];
  // Retries exhausted or a permanent provider error: another tier's model may still answer.
  return ['UnknownStationError', 'StationInputError', 'ConfidenceRuleError'].includes(type) ? undefined : 'model-failure';
}

export function failureSummary(error: unknown): string {
  if (error instanceof ActivityFailure && error.cause) return `${(error.cause as ApplicationFailure).type ?? error.cause.name}: ${error.cause.message}`;
  return error instanceof Error ? error.message : String(error);
}

/** An activity's typed failure, re-raised as the workflow's own (the job fails with the same type and message). */
export function asJobFailure(error: unknown): unknown {
  if (error instanceof ActivityFailure && error.cause instanceof ApplicationFailure) {
    const cause = error.cause;
    return ApplicationFailure.create({ type: cause.type ?? 'ActivityFailure', message: cause.message, nonRetryable: true, details: cause.details ? [...cause.details] : undefined });
  }
  return error;
}

export function roundUsd(value: number): number {
  return Math.round(value * 1e8) / 1e8;
}
