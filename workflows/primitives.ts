/**
 * Conveyor's primitives, for teams that own their workflows: call them from your own workflow code, with
 * Conveyor's activities registered in your worker (`conveyorActivities(...)`). They are the very pieces the
 * recipe interpreter (`factoryJobWorkflow`) is built on, so both paths share one implementation:
 *
 * - `runStation(name, input)`: route → call → score → escalate (tier by tier, then a person), with the ledger;
 * - `requestApproval(proposal, { reason })`: the approval desk, with its `decide` update and signal;
 * - `runAction(name, proposal)`: the factory's verdict, approval when sensitive, execution once per key.
 *
 * Call `useConveyor(options)` first, at the top of the workflow function, so the desk's handlers and the
 * `record`/`progress` queries are registered before any decision can arrive.
 */
import { workflowInfo } from '@temporalio/workflow';
import { JobBudget } from '../domain/budget';
import type { JobRecord } from '../domain/job';
import type { ApprovalPolicySpec } from '../factory/define';
import { resolvePolicySpec, type ResolvedJobPolicy } from '../factory/snapshot';
import { factoryDesk, JobRejected, type ApprovalDesk } from './approval-desk';
import { loadReviewerKeys } from './decide-handlers';
import { JobRecorder } from './job-record';
import { definitions, engine } from './proxies';
import { StepRunner, type StationAnswer } from './step-runner';

export { JobRejected } from './approval-desk';

export interface ConveyorOptions {
  /** The id the ledger, approval ids and idempotency keys use (default: the workflow id). */
  jobId?: string;
  /** A label for the record (default: the workflow type). */
  jobType?: string;
  /** The most this workflow may spend on model calls (default $1). */
  budgetUsd?: number;
  /** Over budget: wait for a "raise budget" decision, or fail (default fail). */
  overBudget?: 'pause' | 'fail';
  /** Who decides, and what a timeout does: used by every approval this workflow asks for. */
  approval: ApprovalPolicySpec;
  confidenceThresholds?: Record<string, number>;
  longInputChars?: number;
  /** Each action's settings (what its sensitivity rule reads). */
  actions?: Record<string, unknown>;
  bounds?: { maxBudgetUsd?: number; maxProposalChars?: number; maxNumbers?: Record<string, number> };
  /** Upsert Conveyor's search attributes (ConveyorStatus, ConveyorCostUsd, …); they must be registered in the namespace. Default false. */
  searchAttributes?: boolean;
}

interface ConveyorRun {
  recorder: JobRecorder;
  desk: ApprovalDesk;
  policy: ResolvedJobPolicy;
  ready?: Promise<StepRunner>;
  steps: number;
}

// Kept on the workflow's global object, which Temporal isolates per workflow execution.
const RUN = Symbol.for('conveyor.primitives.run');
type WithRun = { [RUN]?: ConveyorRun };

function policyOf(options: ConveyorOptions): ResolvedJobPolicy {
  return resolvePolicySpec({ ...options, planner: 'recipe', budgetUsd: options.budgetUsd ?? 1 }, { ...options.actions });
}

/** Sets Conveyor up in this workflow: the record, the approval desk and its handlers. Call it once, first. */
export function useConveyor(options: ConveyorOptions): void {
  const holder = globalThis as WithRun;
  if (holder[RUN]) throw new Error('useConveyor() was already called in this workflow');
  const info = workflowInfo();
  const policy = policyOf(options);
  const recorder = new JobRecorder({ jobId: options.jobId ?? info.workflowId, jobType: options.jobType ?? info.workflowType, searchAttributes: options.searchAttributes ?? false }, new JobBudget(policy.budgetUsd));
  let runner: StepRunner | undefined;
  const desk = factoryDesk({ recorder, policy: () => policy, input: {}, checkApproval: (approval, merged) => (runner ? runner.checkApproval(approval, merged) : undefined) });
  recorder.registerQueries();
  desk.registerHandlers();
  const run: ConveyorRun = { recorder, desk, policy, steps: 0 };
  // The factory's facts, the model registry and reviewers' keys: loaded once, on the first primitive call.
  run.ready = (async () => {
    const [factory, models, keys] = await Promise.all([definitions.describeFactory(), engine.loadModelCatalog(), loadReviewerKeys()]);
    desk.reviewerKeys = { ...policy.approval.reviewerKeys, ...keys };
    recorder.definition = { factory: factory.name, version: factory.version, hash: '' };
    runner = new StepRunner({ jobId: recorder.identity.jobId, jobType: recorder.identity.jobType, input: {}, recorder, desk, stations: factory.stations, actions: factory.actions, policy, models: models });
    return runner;
  })();
  holder[RUN] = run;
}

function current(): ConveyorRun {
  const run = (globalThis as WithRun)[RUN];
  if (!run) throw new Error('call useConveyor({ approval: … }) at the start of the workflow before using Conveyor primitives');
  return run;
}

const nextStepId = (run: ConveyorRun, prefix: string) => `${prefix}-${++run.steps}`;

/**
 * One answer of a station of the worker's factory: routed to the cheapest model that is good enough,
 * escalated on low confidence or failure, and finally reviewed by a person (who may edit it). Throws
 * JobRejected when the reviewer rejects it.
 */
export async function runStation<O = unknown>(name: string, input: unknown, options: { stepId?: string; upstreamConfidence?: number } = {}): Promise<{ output: O; confidence: number | null; stepId: string }> {
  const run = current();
  const runner = await run.ready!;
  const stepId = options.stepId ?? nextStepId(run, name);
  const answer: StationAnswer = await runner.runStation(stepId, name, input, options.upstreamConfidence);
  run.recorder.outputs[stepId] = answer.output;
  run.recorder.confidences[stepId] = answer.confidence;
  run.recorder.stepsDone++;
  return { output: answer.output as O, confidence: answer.confidence, stepId };
}

/**
 * Waits for people to approve a proposal under the policy given to useConveyor: reviewers decide with the
 * `decide` update or signal (Conveyor's CLI and client, or the Temporal CLI and UI). Returns the approved
 * proposal (edits applied) and who approved it; a rejection returns `approved: false`.
 */
export async function requestApproval<P extends Record<string, unknown>>(
  proposal: P,
  options: { reason: string; stepId?: string; action?: string; approvals?: 1 | 2 },
): Promise<{ approved: boolean; proposal: P; reviewers: string[]; approvalId: string }> {
  const run = current();
  await run.ready;
  const stepId = options.stepId ?? nextStepId(run, 'approval');
  const outcome = await run.desk.request('action', stepId, options.action ?? 'approval', proposal, options.reason, options.approvals ?? 1);
  return { approved: outcome.decision === 'approve', proposal: { ...proposal, ...outcome.edits }, reviewers: outcome.reviewers, approvalId: outcome.approvalId };
}

/**
 * Runs an action of the worker's factory on a proposal: the factory's sensitivity rule (seeing this
 * workflow's earlier station outputs) decides whether people must approve it first; it executes once per
 * `<jobId>:<stepId>`, whatever retries, crashes or replays happen. Returns the approved proposal with its
 * execution time, or undefined when the action's skip rule said there is nothing to do. Throws JobRejected
 * when a reviewer rejects it.
 */
export async function runAction(name: string, proposal: unknown, options: { stepId?: string; settings?: unknown } = {}): Promise<Record<string, unknown> | undefined> {
  const run = current();
  const runner = await run.ready!;
  const stepId = options.stepId ?? nextStepId(run, name);
  const output = await runner.runAction(stepId, name, proposal, options.settings ?? run.policy.actions[name]);
  if (output) run.recorder.outputs[stepId] = output;
  run.recorder.stepsDone++;
  return output;
}

/** This workflow's Conveyor record so far: ledger, decisions, approvals, actions, cost. */
export function conveyorRecord(): JobRecord {
  const run = current();
  return run.recorder.snapshot(run.recorder.status);
}

/** Rethrows anything but a rejection; a helper for workflows that end on a reviewer's "no". */
export function isRejection(error: unknown): error is JobRejected {
  return error instanceof JobRejected;
}
