/**
 * The factory job's patch ids, oldest first, and the checks the interpreter reads them
 * through. Each patch is one marker and — core adds it — one `TemporalChangeVersion` upsert (a history
 * event and a visibility write) in every run that takes its new branch, so a job started today records
 * only the newest, {@link ENGINE_V4_PATCH}, which stands for every branch before it. A history recorded
 * before it carries the older markers, and the same checks, asking the older patch when the newest is
 * absent, replay it as it ran.
 */
import { patched } from '@temporalio/workflow';

/** Action retries in the workflow: the delivery loop and the failed-action decision. */
export const ACTION_DELIVERY_PATCH = 'conveyor-action-delivery';

/**
 * In-process work as local activities: model calls whose models all answer in the worker (executionOf),
 * the job's start in one activity, and the learning side steps beside them.
 */
export const LOCAL_STEPS_PATCH = 'conveyor-local-steps';

/** Only the search attributes whose value changed are upserted (nothing when none did). */
export const QUIET_UPSERTS_PATCH = 'conveyor-quiet-upserts';

/**
 * Every branch above, and a factory job's search attributes and memo held until the job waits for
 * something outside its workflow task (a remote call, an action, a timer, a person) or ends, then sent
 * in one upsert of each (workflows/job-record.ts). Nothing reaches the server before its workflow task
 * completes anyway, so operators see the same values, with one event and one visibility write where a
 * job of local steps made six to eight.
 */
export const ENGINE_V2_PATCH = 'conveyor-engine-v2';

/**
 * Every branch above, and in-process work answered ahead inside the local activity before it
 * (workflows/answers-ahead.ts): the job's start answers the steps that read only the job's input, and a
 * station call answers the assessment of the action that reads its output. The workflow takes such an
 * answer only when its own request for it is the same, so a job of local steps makes fewer rounds
 * through the worker (a job of five local steps in waves of 2 + 2 + 1 and an action: three instead of five).
 */
export const ENGINE_V3_PATCH = 'conveyor-engine-v3';

/**
 * Every branch above, and an interpreter that makes fewer promises: the plan's steps start from one
 * scheduler instead of a `Promise.all(…).then(…)` chain per step, each step reports its own end, a recipe
 * job's plan is the recipe at once, and a station answer with no live observations to settle returns
 * without a call that does nothing. The SDK formats a stack trace for every promise a workflow makes
 * (workflows/stack-frames.ts): a job of five local steps in waves of 2 + 2 + 1 and an action made about 105,
 * and about 67 with the first two changes. The commands are the same.
 */
export const ENGINE_V4_PATCH = 'conveyor-engine-v4';

/** Whether this run makes only the promises it needs (a factory job that started on engine v4). */
export function fewerPromisesOn(): boolean {
  return patched(ENGINE_V4_PATCH);
}

/** Whether this run takes answers given ahead (a factory job that started on engine v3 or later). */
export function answersAheadOn(): boolean {
  return patched(ENGINE_V4_PATCH) || patched(ENGINE_V3_PATCH);
}

/** Whether this run holds its upserts to the next wait (a factory job that started on engine v2 or later). */
export function upsertsAtWaitsOn(): boolean {
  return patched(ENGINE_V4_PATCH) || patched(ENGINE_V3_PATCH) || patched(ENGINE_V2_PATCH);
}

/** Whether this run takes in-process work as local activities. */
export function localStepsOn(): boolean {
  return patched(ENGINE_V4_PATCH) || patched(ENGINE_V3_PATCH) || patched(ENGINE_V2_PATCH) || patched(LOCAL_STEPS_PATCH);
}

/** Whether this run upserts only the search attributes that changed. */
export function quietUpsertsOn(): boolean {
  return patched(ENGINE_V4_PATCH) || patched(ENGINE_V3_PATCH) || patched(ENGINE_V2_PATCH) || patched(QUIET_UPSERTS_PATCH);
}

/** Whether this run delivers actions in its own retry loop. */
export function actionDeliveryOn(): boolean {
  return patched(ENGINE_V4_PATCH) || patched(ENGINE_V3_PATCH) || patched(ENGINE_V2_PATCH) || patched(ACTION_DELIVERY_PATCH);
}
