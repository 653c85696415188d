/**
 * The step runner: a station step is routed to the cheapest model that is good enough, called, scored by
 * the station's confidence rule and escalated by tier, finally to a person; an action step is assessed by
 * the factory (valid? nothing to do? who must approve?), waits for approval when sensitive, and runs once.
 * Every call leaves a ledger entry and every choice a decision, with its reason.
 */
import { ActivityFailure, ApplicationFailure, sleep, TimeoutFailure } from '@temporalio/workflow';
import { actionKey, actionRetryDelay, DEFAULT_ACTION_TIMEOUT_MS, resolveActionRetry } from '../domain/actions';
import type { ActionFailureEvidence, PendingApproval } from '../domain/approvals';
import type { LedgerEntry } from '../domain/job';
import { labelFrom, textFrom } from '../domain/learnable';
import type { ModelSpec } from '../domain/models';
import { executionOf, type Tier } from '../domain/model-kinds';
import { route, type EscalationCause } from '../domain/routing';
import { screeningSensitivity } from '../domain/screening';
import { stationRouter } from '../factory/job-policy';
import type { ActionFacts, ResolvedJobPolicy, StationFacts } from '../factory/snapshot';
import type { ActionFailureDetails, AssessAhead, AssessProposalRequest, CheaperAnswer, StationCallRequest, StationCallResult } from '../activities/factory';
import type { AnswersAhead } from './answers-ahead';
import { JobRejected, type ApprovalDesk } from './approval-desk';
import type { JobRecorder } from './job-record';
import { actionAttempts, actions, definitions, escalationCauseOf, failureSummary, learning, localLearning, localModels, models, roundUsd } from './proxies';
import { actionDeliveryOn, fewerPromisesOn, localStepsOn } from './patches';
import { schemaProblem } from './schemas';

export interface RunContext {
  jobId: string;
  jobType: string;
  input: unknown;
  recorder: JobRecorder;
  desk: ApprovalDesk;
  stations: Readonly<Record<string, StationFacts>>;
  actions: Readonly<Record<string, ActionFacts>>;
  policy: ResolvedJobPolicy;
  models: readonly ModelSpec[];
  /** Jobs on engine v3: the answers local activities gave ahead (workflows/answers-ahead.ts). */
  ahead?: AnswersAhead;
}

/** How this run executes a model call that may use `candidates`: local activities once the patch is in the run's history. */
export function executionFor(candidates: readonly ModelSpec[]): 'local' | 'remote' {
  return localStepsOn() ? executionOf(candidates) : 'remote';
}

interface ActionAttemptFailure {
  retryable: boolean;
  message: string;
  details: ActionFailureDetails;
}

/** How a failed attempt reads to the delivery loop; undefined when the failure is the job's (a bad proposal, a cancellation). */
function actionAttemptFailure(error: unknown): ActionAttemptFailure | undefined {
  if (!(error instanceof ActivityFailure)) return undefined;
  const cause = error.cause;
  if (cause instanceof TimeoutFailure) return { retryable: true, message: `the attempt timed out (${String(cause.timeoutType)})`, details: {} };
  if (!(cause instanceof ApplicationFailure)) return { retryable: true, message: failureSummary(error), details: {} };
  if (cause.type === 'InvalidProposalError' || cause.type === 'UnknownActionError') return undefined;
  const details = (cause.details?.[0] ?? {}) as ActionFailureDetails;
  return { retryable: cause.type !== 'ActionRefusedError' && !cause.nonRetryable, message: `${cause.type ?? 'Error'}: ${cause.message}`, details };
}

export interface StationAnswer {
  output: unknown;
  confidence: number | null;
}

export class StepRunner {
  private budgetRaise: Promise<void> | undefined;

  constructor(private readonly ctx: RunContext) {}

  station(name: string): StationFacts {
    const station = this.ctx.stations[name];
    if (!station) throw ApplicationFailure.create({ type: 'UnknownStationError', nonRetryable: true, message: `no station "${name}" in the job's definition (stations: ${Object.keys(this.ctx.stations).join(', ')})` });
    return station;
  }

  /** Why a merged proposal cannot be approved (schema, bounds), for the approval desk's validator. */
  checkApproval(approval: PendingApproval, merged: Record<string, unknown>): string | undefined {
    const { bounds } = this.ctx.policy;
    const chars = JSON.stringify(merged).length;
    if (chars > bounds.maxProposalChars) return `proposal is ${chars} characters, above the policy's ${bounds.maxProposalChars}`;
    if (approval.kind === 'budget') {
      const budget = merged.budgetUsd;
      const spent = this.ctx.recorder.budget.spentUsd;
      if (!(typeof budget === 'number' && budget > spent)) return `budgetUsd must be a number above $${spent}`;
      if (budget > bounds.maxBudgetUsd) return `budgetUsd ${JSON.stringify(budget)} is above the policy's limit of $${bounds.maxBudgetUsd}`;
      return undefined;
    }
    const schema = approval.kind === 'action' ? this.ctx.actions[approval.station]?.proposalSchema : this.ctx.stations[approval.station]?.outputSchema;
    const problem = schema ? schemaProblem(schema, merged, 'output') : undefined;
    if (problem) return problem;
    if (approval.kind !== 'action') return undefined;
    for (const [field, max] of Object.entries(bounds.maxNumbers)) {
      const value = merged[field];
      // Fields named …Usd are dollars (budgetUsd, amountUsd): their limit reads as one.
      if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value) || value > max)) return `${field} ${JSON.stringify(value)} is above the policy's limit of ${field.endsWith('Usd') ? '$' : ''}${max}`;
    }
    return undefined;
  }

  // ---- station steps -------------------------------------------------------------------------------

  /** Whether local activities may answer this job's next requests ahead (a job on engine v3). */
  get answersAhead(): boolean {
    return this.ctx.ahead !== undefined;
  }

  /**
   * One station answer for a step (or one item of a fan-out): route → call → score → escalate → person.
   * `assessAhead`: the action step that reads this answer, for a local call to assess ahead.
   */
  async runStation(stepId: string, stationName: string, input: unknown, upstreamConfidence?: number, assessAhead?: AssessAhead): Promise<StationAnswer> {
    const { recorder, policy } = this.ctx;
    const station = this.station(stationName);
    const problem = schemaProblem(station.inputSchema, input, 'input');
    if (problem) throw ApplicationFailure.create({ type: 'StationInputError', nonRetryable: true, message: `step "${stepId}" (${station.name}): ${problem}` });
    const inputChars = JSON.stringify(input).length;
    const threshold = policy.confidenceThresholds[station.name] ?? station.confidenceThreshold;
    let escalation: { fromTier: Tier; cause: EscalationCause } | undefined;
    // The latest answer that escalated on low confidence: what a reviewer sees, and the cheaper tier's answer for `cheaper-tier`.
    let lastAnswer: CheaperAnswer | undefined;
    // No router, no await: every promise a workflow makes costs the SDK a stack trace (workflows/stack-frames.ts).
    const routed = stationRouter(this.ctx.policy, station.name) ? await this.askRouter(stepId, station, input) : undefined;
    for (let call = 1; ; call++) {
      const decision = route({
        station,
        models: this.ctx.models,
        inputChars,
        longInputChars: policy.longInputChars,
        upstreamConfidence,
        ...(routed && !escalation ? { startTier: { tier: routed.tier, reason: routed.reason } } : {}),
        escalation,
        budgetRemainingUsd: recorder.budget.remainingUsd,
      });
      if (decision.kind === 'human') {
        recorder.decide({ stepId, kind: 'human-review', reason: decision.reason });
        recorder.noteTier('human');
        const reviewed = await this.ctx.desk.request('review', stepId, station.name, lastAnswer?.output ?? {}, decision.reason, 1);
        const last = [...recorder.ledger].reverse().find((entry) => entry.stepId === stepId);
        if (last) last.decision = { approvalId: reviewed.approvalId, decision: reviewed.decision === 'reject' ? 'reject' : 'approve', reviewers: reviewed.reviewers, edited: Object.keys(reviewed.edits).length > 0 };
        if (reviewed.decision === 'reject') throw JobRejected.of(reviewed);
        const output = { ...(lastAnswer?.output as object), ...reviewed.edits };
        if (Object.keys(reviewed.edits).length > 0) await this.collectExample(stepId, station, input, output, 'reviewer-edit', `reviewer:${reviewed.reviewers.join(',')}`);
        const settling = this.settleObservations(stepId, station, output, 'reviewer');
        if (settling) await settling;
        return { output, confidence: 1 };
      }
      if (decision.kind === 'over-budget') {
        await this.overBudget(stepId, decision.estimatedCostUsd, decision.reason);
        call--;
        continue;
      }
      recorder.decide({ stepId, kind: escalation ? 'escalate' : 'route', reason: decision.reason, modelId: decision.model.id, tier: decision.tier });
      const callKey = `${stepId}#${call}`;
      recorder.budget.reserve(callKey, decision.estimatedCostUsd);
      const execution = executionFor([decision.model, ...decision.fallbacks]);
      let result: StationCallResult;
      if (execution !== 'local') recorder.flush();
      const request: StationCallRequest = {
        jobId: this.ctx.jobId,
        stepId,
        call,
        station: station.name,
        modelId: decision.model.id,
        input,
        ...(decision.fallbacks.length > 0 ? { fallbacks: decision.fallbacks.map((model) => model.id) } : {}),
        ...(lastAnswer && station.checksCheaperTier ? { cheaper: lastAnswer } : {}),
      };
      try {
        const answeredAhead = execution === 'local' ? this.ctx.ahead?.take('callStation', request) : undefined;
        result =
          answeredAhead ??
          (await (execution === 'local' ? localModels : models).callStation.executeWithOptions(
            { summary: `${station.name} · ${decision.model.id} (${decision.tier})${escalation ? ` · escalated: ${escalation.cause}` : ''}` },
            [execution === 'local' && assessAhead && this.ctx.ahead ? { ...request, assessAhead } : request],
          ));
        this.ctx.ahead?.offer(result.ahead);
      } catch (error) {
        recorder.budget.release(callKey);
        const cause = escalationCauseOf(error);
        if (!cause) throw error;
        recorder.escalations++;
        recorder.noteTier(decision.tier);
        recorder.recordCall({ ...ledgerEntry(stepId, station.name, call, decision.model, decision.tier, undefined, 'escalated', `${cause}: ${failureSummary(error)}`), execution }, decision.model, cause);
        escalation = { fromTier: decision.tier, cause };
        continue;
      }
      recorder.budget.settle(callKey, result.costUsd);
      recorder.noteTier(decision.tier);
      // After failover another model of the tier answered: the ledger and the metrics name the one that did.
      const answeredBy = this.ctx.models.find((model) => model.id === result.modelId) ?? decision.model;
      if (result.failover) {
        recorder.decide({
          stepId,
          kind: 'failover',
          reason: `${result.failover.map((step) => `${step.modelId} passed over (${step.reason}; cooling down until ${step.coolingDownUntil})`).join('; ')} → ${answeredBy.id} answered`,
          modelId: answeredBy.id,
          tier: decision.tier,
        });
      }
      const entryOf = (outcome: LedgerEntry['outcome'], reason?: string, confidence?: number | null): LedgerEntry => ({
        ...ledgerEntry(stepId, station.name, call, answeredBy, decision.tier, result, outcome, reason, confidence),
        execution,
        ...(call === 1 && routed ? { routedBy: routed.entry } : {}),
      });
      const confidence = result.stationConfidence;
      if (confidence !== null && confidence < threshold) {
        recorder.escalations++;
        recorder.recordCall(entryOf('escalated', `confidence ${confidence.toFixed(2)} below ${threshold}`, confidence), answeredBy, 'low-confidence');
        lastAnswer = { modelId: answeredBy.id, tier: decision.tier, output: result.output };
        escalation = { fromTier: decision.tier, cause: 'low-confidence' };
        recorder.publish();
        continue;
      }
      recorder.recordCall(entryOf('accepted', undefined, confidence), answeredBy);
      recorder.publish();
      if (escalation) await this.collectExample(stepId, station, input, result.output, 'escalation', `model:${result.modelId}${result.modelVersion ? `@${result.modelVersion}` : ''}`);
      const settling = this.settleObservations(stepId, station, result.output, escalation ? 'escalation' : 'serving');
      if (settling) await settling;
      return { output: result.output, confidence };
    }
  }

  /**
   * The job type's learned router, when it has one for this station: the tier the step starts at, the
   * reason, and what the ledger keeps of it. A router that cannot answer is recorded and the step starts
   * at the station's default tier.
   */
  private async askRouter(stepId: string, station: StationFacts, input: unknown): Promise<{ tier: Tier; reason: string; entry: NonNullable<LedgerEntry['routedBy']> } | undefined> {
    const router = stationRouter(this.ctx.policy, station.name);
    if (!router) return undefined;
    const answer = await definitions.routeStep.executeWithOptions({ summary: `router ${router.id}: ${station.name} (${stepId})` }, [
      { jobId: this.ctx.jobId, stepId, station: station.name, input, router: { id: router.id, ...(router.version !== undefined ? { version: router.version } : {}) } },
    ]);
    if (!answer.decision) {
      this.ctx.recorder.decide({ stepId, kind: 'router', reason: `${answer.problem}; the step starts at the station's default tier ${station.defaultTier}` });
      return undefined;
    }
    const decision = answer.decision;
    const tier = decision.escalate ? router.escalateTo : station.defaultTier;
    this.ctx.recorder.decide({ stepId, kind: 'router', reason: decision.reason, tier });
    // A router of the `probability` rule, or one answered before rules were recorded: its value is the probability.
    const compared = decision.rule !== undefined && decision.rule !== 'probability' ? { rule: decision.rule, value: decision.value } : {};
    return { tier, reason: decision.reason, entry: { router: `${decision.id}@${decision.version}`, probability: decision.probability, threshold: decision.threshold, tier, ...compared } };
  }

  /**
   * A better answer than the small model's exists (a larger tier's, or a reviewer's edit): keep it as a
   * training example for the next distill round. Learnable stations only (their definition names the label).
   */
  private async collectExample(stepId: string, station: StationFacts, input: unknown, output: unknown, source: 'escalation' | 'reviewer-edit', answeredBy: string): Promise<void> {
    const label = labelFrom(station.learnable, output);
    const text = textFrom(station.learnable, input);
    if (label === undefined || text === undefined || !text.trim()) return;
    const smallModel = this.ctx.recorder.ledger.find((entry) => entry.stepId === stepId && entry.call === 1);
    await this.learningSideStep(stepId, 'training example not collected', () =>
      this.learningActivities().collectExample.executeWithOptions({ summary: `collect example: ${station.name} → ${label} (${source})` }, [
        { station: station.name, jobType: this.ctx.jobType, jobId: this.ctx.jobId, stepId, text, label, source, modelVersion: smallModel?.modelVersion, answeredBy },
      ]),
    );
  }

  /**
   * When a shadow or canary answered this step, tell the learning loop the accepted answer and who gave it.
   * Undefined when there is nothing to tell, on engine v4: the caller then makes no promise at all.
   */
  private settleObservations(stepId: string, station: StationFacts, accepted: unknown, acceptedBy: 'serving' | 'escalation' | 'reviewer'): Promise<void> | undefined {
    const acceptedLabel = this.observationsToSettle(stepId, station, accepted);
    if (acceptedLabel === undefined && fewerPromisesOn()) return undefined;
    return this.settle(stepId, station, acceptedLabel, acceptedBy);
  }

  /** The accepted answer's label when a shadow or canary answered this step; undefined when none did, or the answer has no label. */
  private observationsToSettle(stepId: string, station: StationFacts, accepted: unknown): string | undefined {
    const observed = this.ctx.recorder.ledger.some((entry) => entry.stepId === stepId && (entry.servedAs !== undefined || entry.shadow !== undefined));
    return observed ? labelFrom(station.learnable, accepted) : undefined;
  }

  private async settle(stepId: string, station: StationFacts, acceptedLabel: string | undefined, acceptedBy: 'serving' | 'escalation' | 'reviewer'): Promise<void> {
    if (acceptedLabel === undefined) return;
    const outcome = await this.learningSideStep(stepId, 'live observations not recorded', () =>
      this.learningActivities().settleObservations.executeWithOptions({ summary: `settle live observations: ${station.name} → ${acceptedLabel} (${acceptedBy})` }, [
        { station: station.name, jobId: this.ctx.jobId, stepId, acceptedLabel, acceptedBy },
      ]),
    );
    if (outcome && (outcome.decision.kind === 'rollback' || outcome.decision.kind === 'keep')) {
      this.ctx.recorder.decide({ stepId, kind: 'canary', reason: `canary ${outcome.version} ${outcome.decision.kind === 'rollback' ? 'rolled back' : 'kept'}: ${outcome.decision.reason}` });
    }
  }

  /** The learning side steps write the worker's own stores: local activities once the local-steps patch is in the history. */
  private learningActivities(): typeof learning {
    if (localStepsOn()) return localLearning;
    this.ctx.recorder.flush();
    return learning;
  }

  /** The learning loop feeds on the job but never decides it: a store down after the retries is recorded, and the job goes on. */
  private async learningSideStep<T>(stepId: string, what: string, run: () => Promise<T>): Promise<T | undefined> {
    try {
      return await run();
    } catch (error) {
      if (!(error instanceof ActivityFailure)) throw error;
      this.ctx.recorder.decide({ stepId, kind: 'learning', reason: `${what}: ${failureSummary(error)}` });
      return undefined;
    }
  }

  private async overBudget(stepId: string, estimateUsd: number, reason: string): Promise<void> {
    const { recorder, policy } = this.ctx;
    recorder.decide({ stepId, kind: 'budget', reason });
    if (policy.overBudget === 'fail') {
      recorder.publish('failed');
      throw ApplicationFailure.create({
        type: 'BudgetExhaustedError',
        nonRetryable: true,
        message: `step "${stepId}": ${reason} (budget $${recorder.budget.limitUsd}, spent $${recorder.budget.spentUsd.toFixed(6)})`,
      });
    }
    // Parallel steps that hit the limit together share one "raise budget" decision.
    this.budgetRaise ??= this.askForMoreBudget(stepId, estimateUsd, reason).finally(() => {
      this.budgetRaise = undefined;
    });
    await this.budgetRaise;
  }

  private async askForMoreBudget(stepId: string, estimateUsd: number, reason: string): Promise<void> {
    const { budget } = this.ctx.recorder;
    const asked = roundUsd(Math.max(budget.limitUsd, budget.spentUsd + budget.reservedUsd + estimateUsd * 4));
    const raised = await this.ctx.desk.request('budget', stepId, 'budget', { budgetUsd: asked }, reason, 1);
    if (raised.decision === 'reject') throw JobRejected.of(raised);
    const budgetUsd = Number((raised.edits.budgetUsd as number | undefined) ?? asked);
    budget.raise(budgetUsd);
    this.ctx.recorder.decide({ stepId, kind: 'budget', reason: `budget raised to $${budgetUsd} by ${raised.reviewers.join(', ')}` });
  }

  // ---- action steps --------------------------------------------------------------------------------

  /**
   * Runs an action on a proposal: the factory says whether it is valid, a no-op, or sensitive (its own rule,
   * seeing the job's earlier outputs); a flagged input makes it sensitive whatever the rule says. Sensitive:
   * it waits for the approvals the policy and the rule ask for. It runs once per `<jobId>:<stepId>`.
   */
  async runAction(stepId: string, actionName: string, proposal: unknown, settings: unknown): Promise<Record<string, unknown> | undefined> {
    const { recorder, policy } = this.ctx;
    const action = this.ctx.actions[actionName];
    if (!action) throw ApplicationFailure.create({ type: 'UnknownActionError', nonRetryable: true, message: `no action "${actionName}" in the job's definition` });
    const assessment: AssessProposalRequest = { jobId: this.ctx.jobId, jobType: this.ctx.jobType, stepId, action: actionName, proposal, settings, input: this.ctx.input, outputs: { ...recorder.outputs }, confidences: { ...recorder.confidences } };
    const verdict = this.ctx.ahead?.take('assessProposal', assessment) ?? (await definitions.assessProposal.executeWithOptions({ summary: `assess ${actionName} proposal` }, [assessment]));
    if (verdict.problem) throw ApplicationFailure.create({ type: 'InvalidProposalError', nonRetryable: true, message: `step "${stepId}" (${actionName}): ${verdict.problem}` });
    if (verdict.skip) {
      recorder.decide({ stepId, kind: 'action', reason: verdict.skip });
      return undefined;
    }
    const sensitivity = verdict.sensitivity?.reason ?? screeningSensitivity(recorder.screening);
    let approved = proposal as Record<string, unknown>;
    let approvedBy: string[] = [];
    if (sensitivity) {
      const required = Math.max(verdict.sensitivity?.approvals ?? 1, policy.approval.twoPersonActions.includes(actionName) ? 2 : 1);
      const outcome = await this.ctx.desk.request('action', stepId, actionName, proposal, sensitivity, required);
      if (outcome.decision === 'reject') throw JobRejected.of(outcome);
      approved = { ...approved, ...outcome.edits };
      approvedBy = outcome.reviewers;
    } else {
      recorder.decide({ stepId, kind: 'action', reason: `${actionName} is not sensitive under the policy: runs without approval` });
    }
    recorder.checkSize(`before ${actionName}`);
    if (!actionDeliveryOn()) {
      // Histories from before the delivery loop: one activity, retried by the server.
      recorder.flush();
      const receipt = await actions.runAction.executeWithOptions({ summary: `act: ${actionName} (${stepId})` }, [{ jobId: this.ctx.jobId, stepId, action: actionName, proposal: approved, approvedBy }]);
      recorder.actions.push({ stepId, actionName, idempotencyKey: receipt.idempotencyKey, action: approved, executedAt: receipt.executedAt, firstExecution: receipt.firstExecution, ...(receipt.receipt ? { receipt: receipt.receipt } : {}) });
      recorder.decide({ stepId, kind: 'action', reason: `${actionName} executed (key ${receipt.idempotencyKey})` });
      return { ...approved, executedAt: receipt.executedAt };
    }
    return this.deliver(stepId, action, approved, approvedBy);
  }

  /**
   * Runs an approved action until it is done or a person has decided about it. Each attempt is an activity
   * with the same idempotency key, recorded in the action ledger; a failed attempt is retried with the
   * action's backoff (or after the receiver's Retry-After) unless it cannot help. An action that fails for
   * good waits as `action_failed` for one of the job type's reviewers: retry (same key), retry with edits
   * (a new revision with its own key, approved under the desk's rules), skip with a reason, or reject.
   */
  private async deliver(stepId: string, action: ActionFacts, firstProposal: Record<string, unknown>, firstApprovers: string[]): Promise<Record<string, unknown> | undefined> {
    const { recorder, jobId } = this.ctx;
    const actionName = action.name;
    const retry = resolveActionRetry(action.retry);
    const timeoutMs = action.timeoutMs ?? DEFAULT_ACTION_TIMEOUT_MS;
    const requestedAt = new Date().toISOString();
    let proposal = firstProposal;
    let approvedBy = firstApprovers;
    let revision = 1;
    let attempt = 0;
    for (;;) {
      const idempotencyKey = actionKey(jobId, stepId, revision);
      let failure: ActionAttemptFailure | undefined;
      for (let tries = 1; ; tries++) {
        attempt++;
        const startedAt = Date.now();
        recorder.flush();
        try {
          const receipt = await actionAttempts.runAction.executeWithOptions({ summary: `act: ${actionName} (${stepId}) attempt ${attempt}`, startToCloseTimeout: timeoutMs + 10_000 }, [
            { jobId, stepId, action: actionName, proposal, approvedBy, idempotencyKey, attempt, requestedAt },
          ]);
          recorder.recordAttempt({ at: new Date().toISOString(), stepId, actionName, idempotencyKey, attempt, outcome: 'executed', durationMs: Date.now() - startedAt });
          recorder.actions.push({ stepId, actionName, idempotencyKey, action: proposal, executedAt: receipt.executedAt, firstExecution: receipt.firstExecution, attempts: attempt, ...(receipt.receipt ? { receipt: receipt.receipt } : {}) });
          recorder.decide({ stepId, kind: 'action', reason: `${actionName} executed (key ${idempotencyKey}, attempt ${attempt})` });
          recorder.refreshDetails();
          return { ...proposal, executedAt: receipt.executedAt };
        } catch (error) {
          failure = actionAttemptFailure(error);
          if (!failure) throw error;
          const last = !failure.retryable || tries >= retry.maximumAttempts;
          const wait = last ? undefined : actionRetryDelay(tries, retry, failure.details.retryAfterMs);
          recorder.recordAttempt({
            at: new Date().toISOString(),
            stepId,
            actionName,
            idempotencyKey,
            attempt,
            outcome: last ? 'failed' : 'retrying',
            error: failure.message,
            ...(failure.details.status !== undefined ? { status: failure.details.status } : {}),
            ...(wait ? { retryInMs: wait.delayMs, retryAfterHonoured: wait.honoured } : {}),
            durationMs: Date.now() - startedAt,
          });
          recorder.refreshDetails();
          if (last) break;
          recorder.flush();
          await sleep(wait!.delayMs);
        }
      }
      const evidence: ActionFailureEvidence = {
        error: failure.message,
        attempts: attempt,
        idempotencyKey,
        ...(failure.details.status !== undefined ? { status: failure.details.status } : {}),
        ...(failure.details.bodyExcerpt !== undefined ? { bodyExcerpt: failure.details.bodyExcerpt } : {}),
      };
      const why = failure.retryable ? `failed ${retry.maximumAttempts} attempt(s) in a row` : 'was refused (retrying cannot help)';
      recorder.decide({ stepId, kind: 'action', reason: `${actionName} ${why}: ${failure.message}; a reviewer decides: retry, edit and retry, skip or reject` });
      const outcome = await this.ctx.desk.request('action-failed', stepId, actionName, proposal, `${actionName} ${why}: ${failure.message}`, 1, evidence);
      if (outcome.decision === 'reject') throw JobRejected.of(outcome);
      if (outcome.decision === 'skip') {
        const skipReason = outcome.comment ?? 'skipped';
        recorder.actions.push({ stepId, actionName, idempotencyKey, action: proposal, executedAt: new Date().toISOString(), firstExecution: false, outcome: 'skipped', skipReason, skippedBy: outcome.reviewers.join(', '), attempts: attempt });
        recorder.decide({ stepId, kind: 'action', reason: `${actionName} skipped by ${outcome.reviewers.join(', ')}: ${skipReason}` });
        return undefined;
      }
      if (outcome.decision === 'approve') {
        // An edit after the failure, approved under the desk's rules: a new revision with its own key.
        proposal = outcome.edits;
        approvedBy = outcome.reviewers;
        revision++;
        recorder.decide({ stepId, kind: 'action', reason: `${actionName} retried with revision ${revision} (key ${actionKey(jobId, stepId, revision)}), approved by ${outcome.reviewers.join(', ')}` });
      } else {
        recorder.decide({ stepId, kind: 'action', reason: `${actionName} retried by ${outcome.reviewers.join(', ')} (key ${idempotencyKey})` });
      }
    }
  }
}

function ledgerEntry(
  stepId: string,
  station: string,
  call: number,
  model: ModelSpec,
  tier: Tier,
  result: StationCallResult | undefined,
  outcome: LedgerEntry['outcome'],
  escalationReason?: string,
  confidence?: number | null,
): LedgerEntry {
  return {
    at: new Date().toISOString(),
    stepId,
    station,
    call,
    modelId: model.id,
    tier,
    modelVersion: result?.modelVersion,
    inputTokens: result?.usage.inputTokens ?? 0,
    outputTokens: result?.usage.outputTokens ?? 0,
    ...(result?.usage.cachedInputTokens !== undefined ? { cachedInputTokens: result.usage.cachedInputTokens } : {}),
    ...(result?.usage.reasoningTokens !== undefined ? { reasoningTokens: result.usage.reasoningTokens } : {}),
    costUsd: result?.costUsd ?? 0,
    latencyMs: result?.latencyMs ?? 0,
    confidence: confidence ?? null,
    ...(result?.scorer !== undefined ? { scorer: result.scorer } : {}),
    ...(result?.failover ? { failover: result.failover } : {}),
    cacheHit: result?.cacheHit ?? false,
    repaired: result?.repaired ?? false,
    outcome,
    escalationReason,
    // What an escalated call answered (the accepted answer is the step's output): policy replay compares them.
    ...(outcome === 'escalated' && result ? { output: result.output } : {}),
    ...(result?.live?.servedAs ? { servedAs: result.live.servedAs } : {}),
    ...(result?.live?.shadow ? { shadow: result.live.shadow } : {}),
  };
}
