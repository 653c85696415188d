/**
 * FROZEN: the first job workflow type, `jobWorkflow`, kept to finish and replay jobs started on it. New
 * jobs run on `factoryJobWorkflow` (workflows/factory-job.ts). Change nothing here that changes the
 * commands it issues; recorded histories in test/fixtures/histories replay against it in CI.
 *
 * The job workflow: plan, then execute each step on the cheapest model that is good enough,
 * escalating by tier and finally to a person, pausing sensitive actions for approval, and acting
 * once. Deterministic by construction: all I/O is in activities, all policy in domain/.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  condition,
  proxyActivities,
  patched,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { createActivities } from '../activities';
import type { LearningActivities } from '../learning/activities';
import type { ModelCallResult } from '../activities/types';
import { loadReviewerKeys, registerDecideHandlers, verifySignedDecision } from '../workflows/decide-handlers';
import { MAX_RECORD_CHARS, progressQuery, recordQuery } from '../workflows/messages';
import { proposalHashOf, refusalFor, type Decision, type PendingApproval, type RecordedDecision, type ApprovalKind } from '../domain/approvals';
import { JobBudget } from '../domain/budget';
import { InvalidJobInputError, type ActionRecord, type JobRecord, type JobRequest, type JobResult, type LedgerEntry, type RoutingDecisionRecord } from '../domain/job';
import { boundsProblem, effectivePolicy, jobTypeByName, validateBuiltinJobRequest, type JobPolicy, type JobType } from '../factories/support/legacy-job-types';
import { tiers, type ModelSpec, type Tier } from '../domain/models';
import { dependenciesOf, resolveWire, validatePlan, type Plan, type PlanStep } from '../domain/plan';
import { resolveStepInputs } from '../domain/recipe';
import { route, type EscalationCause } from '../domain/routing';
import {
  ConveyorBatchId,
  ConveyorCostUsd,
  ConveyorEscalations,
  ConveyorJobType,
  ConveyorStatus,
  ConveyorTopTier,
  type JobStatus,
} from '../domain/search-attributes';
import { labelOf } from './learnable';
import { screeningSensitivity, timeoutVerdict, type ScreeningResult } from '../domain/screening';
import { proposedActionSchema, type ProposedAction } from '../factories/support/schemas';
import { stakesSensitivity, stationByName, stationCatalogue, type ActionStation, type ModelStation } from '../factories/support/legacy-stations';

// The reviewers' contract (messages) lives in workflows/messages.ts, shared with the factory job workflow.

// ---- activities, one timeout/retry profile per kind of work ----------------------------------------

type Activities = ReturnType<typeof createActivities>;

const nonRetryableModelErrors = [
  'SchemaViolationError',
  'ContextLengthExceededError',
  'ModelBadRequestError',
  'ModelAuthError',
  'ModelNotFoundError',
  'UnsupportedSkillError',
  'UnknownStationError',
];

// The gateway heartbeats every 5 s while a model answers, so a dead worker is noticed within 20 s.
const models = proxyActivities<Activities>({
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '20 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 6, nonRetryableErrorTypes: nonRetryableModelErrors },
});

// A local activity: reading the registry needs no round trip through the server.
const catalog = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 5 },
});

// The learning loop's side steps: a store blip is retried for about 15 s, then the job records it and goes on.
const learning = proxyActivities<LearningActivities>({
  startToCloseTimeout: '20 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '8 seconds', maximumAttempts: 5, nonRetryableErrorTypes: ['InvalidExampleError'] },
});

const sinks = proxyActivities<Activities>({
  startToCloseTimeout: '20 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 10 },
});

/** Escalation causes recognised from the model layer's typed failures. */
const escalatingFailures: Record<string, EscalationCause> = {
  SchemaViolationError: 'schema-violation',
  ContextLengthExceededError: 'context-length',
};

class JobRejected extends Error {
  override readonly name = 'JobRejected';
}

export async function jobWorkflow(rawRequest: JobRequest): Promise<JobResult> {
  const job = new FactoryJob(rawRequest);
  return job.run();
}

class FactoryJob {
  private readonly request: JobRequest;
  private readonly jobType: JobType;
  private readonly policy: JobPolicy;
  private readonly startedAt = new Date().toISOString();
  private status: JobStatus = 'planning';
  private plan: Plan = { strategy: 'recipe', steps: [] };
  private budget: JobBudget;
  private models: ModelSpec[] = [];
  private readonly outputs: Record<string, unknown> = {};
  private readonly confidences: Record<string, number | null> = {};
  private readonly ledger: LedgerEntry[] = [];
  private readonly decisions: RoutingDecisionRecord[] = [];
  private readonly approvals: RecordedDecision[] = [];
  private readonly actions: ActionRecord[] = [];
  private readonly pending: PendingApproval[] = [];
  private readonly settled = new Map<string, { decision: 'approve' | 'reject'; edits: Record<string, unknown>; reviewers: string[] }>();
  private approvalCounter = 0;
  private escalations = 0;
  private topTier: Tier | 'human' | 'none' = 'none';
  private stepsDone = 0;
  private screening: ScreeningResult | undefined;
  /** Approval ids an edit replaced → the revision that replaced them. */
  private readonly superseded = new Map<string, string>();
  /**
   * The approval desk's rules of issue 13 (revisions, bounds, stakes, the record's size limit): on for
   * every new job; histories recorded before them replay on the old rules.
   */
  private readonly rules: boolean;
  /** Reviewers' Ed25519 public keys: with any, every decision must be signed by its reviewer. */
  private reviewerKeys: Record<string, string> = {};

  constructor(rawRequest: JobRequest) {
    try {
      this.request = validateBuiltinJobRequest(rawRequest);
    } catch (error) {
      if (error instanceof InvalidJobInputError) {
        throw ApplicationFailure.create({ type: error.name, message: error.message, nonRetryable: true, details: [error.issues] });
      }
      throw error;
    }
    this.jobType = jobTypeByName(this.request.type);
    this.policy = effectivePolicy(this.jobType, this.request.policy);
    this.budget = new JobBudget(this.policy.budgetUsd);
    this.rules = patched('approval-desk-revisions');
    this.registerHandlers();
  }

  async run(): Promise<JobResult> {
    this.publish('planning');
    if (patched('signed-decisions')) this.reviewerKeys = { ...this.policy.approval.reviewerKeys, ...(await loadReviewerKeys()) };
    this.models = await catalog.loadModelCatalog();
    this.screening = await catalog.screenInput({ jobId: this.request.id, text: textOf(this.request.input) });
    if (this.screening.flagged) {
      this.decide({ stepId: 'screening', kind: 'screening', reason: `input flagged: ${this.screening.reasons.join(', ')}; every action needs a reviewer` });
    }
    this.plan = await this.makePlan();
    upsertMemo({ plan: this.plan });
    this.publish('running');
    try {
      await this.executePlan();
    } catch (error) {
      if (error instanceof JobRejected) return this.finish('rejected', error.message);
      this.publish('failed');
      throw error;
    }
    return this.finish('completed');
  }

  // ---- planning ----------------------------------------------------------------------------------

  private async makePlan(): Promise<Plan> {
    const recipe: Plan = { strategy: 'recipe', steps: this.jobType.recipe.steps };
    if (this.policy.planner === 'recipe') {
      this.decide({ stepId: 'plan', kind: 'plan', reason: `recipe of ${this.jobType.name}` });
      return recipe;
    }
    const planner = [...this.models].filter((model) => model.tier === 'large').sort((a, b) => a.id.localeCompare(b.id))[0];
    if (!planner) return this.fallBack(recipe, 'no large model in the registry to plan with');
    let repairHint: string | undefined;
    for (let attempt = 1; attempt <= 2; attempt++) {
      let proposal;
      try {
        proposal = await models.planWithModel.executeWithOptions(
          { summary: `plan ${this.jobType.name} with ${planner.id}${repairHint ? ' (repair)' : ''}` },
          [{ jobId: this.request.id, jobType: this.jobType.name, input: this.request.input, modelId: planner.id, repairHint }],
        );
      } catch (error) {
        return this.fallBack(recipe, `model planner failed: ${failureSummary(error)}`);
      }
      this.budget.reserve(`plan#${attempt}`, proposal.costUsd);
      this.budget.settle(`plan#${attempt}`, proposal.costUsd);
      const problems = validatePlan(proposal.plan, stationCatalogue);
      if (problems.length === 0) {
        this.decide({ stepId: 'plan', kind: 'plan', reason: `model plan by ${planner.id}${attempt > 1 ? ' after one repair' : ''}`, modelId: planner.id, tier: 'large' });
        return { strategy: 'model', steps: (proposal.plan as Plan).steps };
      }
      repairHint = problems.join('; ');
      this.decide({ stepId: 'plan', kind: 'plan', reason: `model plan invalid (attempt ${attempt}): ${repairHint}`, modelId: planner.id, tier: 'large' });
    }
    return this.fallBack(recipe, `model plan still invalid after one repair: ${repairHint}`);
  }

  private fallBack(recipe: Plan, reason: string): Plan {
    this.decide({ stepId: 'plan', kind: 'plan', reason: `fell back to the recipe: ${reason}` });
    return { ...recipe, fallbackReason: reason };
  }

  // ---- execution ---------------------------------------------------------------------------------

  /** Each step starts when the steps it reads from are done; independent steps run in parallel. */
  private async executePlan(): Promise<void> {
    const done = new Map<string, Promise<void>>();
    for (const step of this.orderedSteps()) {
      const dependencies = dependenciesOf(step).map((id) => done.get(id)!);
      done.set(step.id, Promise.all(dependencies).then(() => this.runStep(step)));
    }
    await Promise.all(done.values());
  }

  private orderedSteps(): PlanStep[] {
    const ordered: PlanStep[] = [];
    const placed = new Set<string>();
    while (ordered.length < this.plan.steps.length) {
      for (const step of this.plan.steps) {
        if (!placed.has(step.id) && dependenciesOf(step).every((id) => placed.has(id))) {
          ordered.push(step);
          placed.add(step.id);
        }
      }
    }
    return ordered;
  }

  private async runStep(step: PlanStep): Promise<void> {
    if (step.when !== undefined && !resolveWire(step.when, this.request.input, this.outputs)) {
      this.decide({ stepId: step.id, kind: 'skip', reason: `skipped: ${step.when} is false` });
      this.stepsDone++;
      return;
    }
    const station = stationByName(step.station);
    const rawInput = resolveStepInputs(step.inputs, this.request.input, this.outputs);
    const input = station.input.safeParse(rawInput);
    if (!input.success) {
      throw ApplicationFailure.create({
        type: 'StationInputError',
        nonRetryable: true,
        message: `step "${step.id}" (${station.name}): ${input.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      });
    }
    if (station.kind === 'model') await this.runModelStep(step, station, input.data);
    else await this.runActionStep(step, station, input.data as { action: ProposedAction });
    this.stepsDone++;
    this.refreshDetails();
  }

  private async runModelStep(step: PlanStep, station: ModelStation, input: unknown): Promise<void> {
    const inputChars = JSON.stringify(input).length;
    const upstream = dependenciesOf(step)
      .map((id) => this.confidences[id])
      .filter((value): value is number => typeof value === 'number');
    const threshold = this.policy.confidenceThresholds[station.name] ?? station.confidenceThreshold;
    let escalation: { fromTier: Tier; cause: EscalationCause } | undefined;
    let lastOutput: unknown;
    for (let call = 1; ; call++) {
      const decision = route({
        station,
        models: this.models,
        inputChars,
        longInputChars: this.policy.longInputChars,
        upstreamConfidence: upstream.length ? Math.min(...upstream) : undefined,
        escalation,
        budgetRemainingUsd: this.budget.remainingUsd,
      });
      if (decision.kind === 'human') {
        this.decide({ stepId: step.id, kind: 'human-review', reason: decision.reason });
        this.noteTier('human');
        const reviewed = await this.requestApproval('review', step.id, station.name, lastOutput ?? {}, decision.reason);
        this.outputs[step.id] = { ...(lastOutput as object), ...reviewed.edits };
        this.confidences[step.id] = 1;
        if (Object.keys(reviewed.edits).length > 0) await this.collectExample(step, station, input, this.outputs[step.id], 'reviewer-edit', `reviewer:${reviewed.reviewers.join(',')}`);
        await this.settleObservations(step, station, 'reviewer');
        return;
      }
      if (decision.kind === 'over-budget') {
        await this.handleOverBudget(step, decision.estimatedCostUsd, decision.reason);
        call--;
        continue;
      }
      this.decide({ stepId: step.id, kind: escalation ? 'escalate' : 'route', reason: decision.reason, modelId: decision.model.id, tier: decision.tier });
      const callKey = `${step.id}#${call}`;
      this.budget.reserve(callKey, decision.estimatedCostUsd);
      let result: ModelCallResult;
      try {
        result = await models.callModel.executeWithOptions(
          { summary: `${station.name} · ${decision.model.id} (${decision.tier})${escalation ? ` · escalated: ${escalation.cause}` : ''}` },
          [{ jobId: this.request.id, stepId: step.id, call, station: station.name, modelId: decision.model.id, input }],
        );
      } catch (error) {
        this.budget.release(callKey);
        const cause = escalationCauseOf(error);
        if (!cause) throw error;
        this.escalations++;
        this.noteTier(decision.tier);
        this.ledger.push(this.ledgerEntry(step, station, call, decision.model, decision.tier, undefined, 'escalated', `${cause}: ${failureSummary(error)}`));
        escalation = { fromTier: decision.tier, cause };
        continue;
      }
      this.budget.settle(callKey, result.costUsd);
      this.noteTier(decision.tier);
      const confidence = station.confidenceOf(result.output, result.confidence);
      if (confidence < threshold) {
        this.escalations++;
        const reason = `confidence ${confidence.toFixed(2)} below ${threshold}`;
        this.ledger.push(this.ledgerEntry(step, station, call, decision.model, decision.tier, result, 'escalated', reason, confidence));
        lastOutput = result.output;
        escalation = { fromTier: decision.tier, cause: 'low-confidence' };
        this.publish(this.status);
        continue;
      }
      this.ledger.push(this.ledgerEntry(step, station, call, decision.model, decision.tier, result, 'accepted', undefined, confidence));
      this.outputs[step.id] = result.output;
      this.confidences[step.id] = confidence;
      this.publish(this.status);
      if (escalation) await this.collectExample(step, station, input, result.output, 'escalation', `model:${result.modelId}${result.modelVersion ? `@${result.modelVersion}` : ''}`);
      await this.settleObservations(step, station, escalation ? 'escalation' : 'serving');
      return;
    }
  }

  /**
   * A better answer than the small model's exists (a larger tier's, or a reviewer's edit): keep it as a
   * training example for the next distill round. Classification stations only, whose label is one field.
   */
  private async collectExample(step: PlanStep, station: ModelStation, input: unknown, output: unknown, source: 'escalation' | 'reviewer-edit', answeredBy: string): Promise<void> {
    if (!patched('collect-examples')) return;
    const label = labelOf(station.name, output);
    const text = (input as { text?: unknown; transcript?: unknown }).text ?? (input as { transcript?: unknown }).transcript;
    if (label === undefined || typeof text !== 'string' || !text.trim()) return;
    const smallModel = this.ledger.find((entry) => entry.stepId === step.id && entry.call === 1);
    await this.learningSideStep(step.id, 'training example not collected', () =>
      learning.collectExample.executeWithOptions({ summary: `collect example: ${station.name} → ${label} (${source})` }, [
        { station: station.name, jobType: this.request.type, jobId: this.request.id, stepId: step.id, text, label, source, modelVersion: smallModel?.modelVersion, answeredBy },
      ]),
    );
  }

  /**
   * The learning loop feeds on the job but never decides it: when its store stays unavailable after the
   * activity's retries, the job records that and goes on with its answer.
   */
  private async learningSideStep<T>(stepId: string, what: string, run: () => Promise<T>): Promise<T | undefined> {
    try {
      return await run();
    } catch (error) {
      if (!(error instanceof ActivityFailure)) throw error;
      this.decide({ stepId, kind: 'learning', reason: `${what}: ${failureSummary(error)}` });
      return undefined;
    }
  }

  /**
   * When a shadow or canary answered this step, tell the learning loop the accepted answer and who gave
   * it; the canary monitor's verdict (rollback or keep) becomes one of the job's decisions. Runs only
   * for steps whose model call reported one, so jobs without shadow or canary record no extra command.
   */
  private async settleObservations(step: PlanStep, station: ModelStation, acceptedBy: 'serving' | 'escalation' | 'reviewer'): Promise<void> {
    const observed = this.ledger.some((entry) => entry.stepId === step.id && (entry.servedAs !== undefined || entry.shadow !== undefined));
    const acceptedLabel = labelOf(station.name, this.outputs[step.id]);
    if (!observed || acceptedLabel === undefined) return;
    const outcome = await this.learningSideStep(step.id, 'live observations not recorded', () =>
      learning.settleObservations.executeWithOptions({ summary: `settle live observations: ${station.name} → ${acceptedLabel} (${acceptedBy})` }, [
        { station: station.name, jobId: this.request.id, stepId: step.id, acceptedLabel, acceptedBy },
      ]),
    );
    if (outcome && (outcome.decision.kind === 'rollback' || outcome.decision.kind === 'keep')) {
      this.decide({ stepId: step.id, kind: 'canary', reason: `canary ${outcome.version} ${outcome.decision.kind === 'rollback' ? 'rolled back' : 'kept'}: ${outcome.decision.reason}` });
    }
  }

  private async handleOverBudget(step: PlanStep, estimateUsd: number, reason: string): Promise<void> {
    this.decide({ stepId: step.id, kind: 'budget', reason });
    if (this.policy.overBudget === 'fail') {
      this.publish('failed');
      throw ApplicationFailure.create({
        type: 'BudgetExhaustedError',
        nonRetryable: true,
        message: `step "${step.id}": ${reason} (budget $${this.budget.limitUsd}, spent $${this.budget.spentUsd.toFixed(6)})`,
      });
    }
    // Parallel steps that hit the limit together share one "raise budget" decision.
    this.budgetRaise ??= this.askForMoreBudget(step, estimateUsd, reason).finally(() => {
      this.budgetRaise = undefined;
    });
    await this.budgetRaise;
  }

  private budgetRaise: Promise<void> | undefined;

  private async askForMoreBudget(step: PlanStep, estimateUsd: number, reason: string): Promise<void> {
    const asked = roundUsd(Math.max(this.budget.limitUsd, this.budget.spentUsd + this.budget.reservedUsd + estimateUsd * 4));
    const raised = await this.requestApproval('budget', step.id, 'budget', { budgetUsd: asked }, reason);
    const budgetUsd = Number((raised.edits.budgetUsd as number | undefined) ?? asked);
    this.budget.raise(budgetUsd);
    this.decide({ stepId: step.id, kind: 'budget', reason: `budget raised to $${budgetUsd} by ${raised.reviewers.join(', ')}` });
  }

  private async runActionStep(step: PlanStep, station: ActionStation, input: { action: ProposedAction }): Promise<void> {
    let action = input.action;
    if (action.action === 'none') {
      this.decide({ stepId: step.id, kind: 'action', reason: 'no action proposed' });
      return;
    }
    // A flagged input makes every action sensitive, whatever the job type's policy says.
    const sensitivity = this.sensitivityOf(station, action);
    let approvedBy: string[] = [];
    if (sensitivity) {
      const approved = await this.requestApproval('action', step.id, station.name, action, sensitivity);
      action = proposedActionSchema.parse({ ...action, ...approved.edits });
      approvedBy = approved.reviewers;
    } else {
      this.decide({ stepId: step.id, kind: 'action', reason: `${action.action} is not sensitive under the policy: runs without approval` });
    }
    if (this.rules) this.checkRecordSize(`before ${action.action}`);
    const receipt = await sinks.executeAction.executeWithOptions({ summary: `act: ${action.action}${action.orderId ? ` ${action.orderId}` : ''}` }, [
      { jobId: this.request.id, stepId: step.id, action, approvedBy },
    ]);
    this.actions.push({ stepId: step.id, action, ...receipt });
    this.outputs[step.id] = { ...action, executedAt: receipt.executedAt };
    this.decide({ stepId: step.id, kind: 'action', reason: `${action.action} executed (key ${receipt.idempotencyKey})` });
  }

  /** Why an action needs a reviewer: the action itself, the stakes earlier steps saw, a flagged input. */
  private sensitivityOf(station: ActionStation, action: ProposedAction): string | undefined {
    return (
      station.sensitivity(action, this.policy.sensitivity) ??
      (this.rules ? stakesSensitivity(this.outputs, this.policy.sensitivity) : undefined) ??
      screeningSensitivity(this.screening)
    );
  }

  /** Fails the job visibly (before it acts, or instead of a result the server would refuse) when its record is too large. */
  private checkRecordSize(when: string): void {
    const chars = JSON.stringify(this.snapshot(this.status)).length;
    if (chars <= MAX_RECORD_CHARS) return;
    this.publish('failed');
    throw ApplicationFailure.create({
      type: 'RecordTooLargeError',
      nonRetryable: true,
      message: `the job's record is ${chars} characters, above the ${MAX_RECORD_CHARS} limit (${when}); nothing more was done`,
    });
  }

  // ---- approvals ---------------------------------------------------------------------------------

  private registerHandlers(): void {
    registerDecideHandlers({
      refusal: (decision) => this.refusal(decision),
      apply: (decision, via) => this.applyDecision(decision, via),
      isSettled: (approvalId) => this.settled.has(approvalId),
      revisedTo: (approvalId) => this.superseded.get(approvalId),
      records: () => this.approvals,
      pending: () => this.pending,
      verify: (decision) => verifySignedDecision(this.reviewerKeys, decision),
    });
    setHandler(recordQuery, () => this.snapshot(this.status));
    setHandler(progressQuery, () => ({
      id: this.request.id,
      type: this.request.type,
      status: this.status,
      stepsDone: this.stepsDone,
      stepsTotal: this.plan.steps.length,
      costUsd: roundUsd(this.budget.spentUsd),
      escalations: this.escalations,
      pendingApprovals: this.pending,
    }));
  }

  private refusal(decision: unknown): string | undefined {
    return refusalFor(decision, {
      pending: this.pending,
      decided: new Set(this.settled.keys()),
      requestedBy: this.request.requestedBy,
      policy: this.policy.approval,
      superseded: this.superseded,
      strict: this.rules,
      reviewerKeys: this.reviewerKeys,
      checkApproval: (approval, edits) => {
        const merged = { ...(approval.proposedAction as object), ...edits };
        if (approval.kind === 'budget') {
          const budget = (merged as { budgetUsd?: unknown }).budgetUsd;
          if (!(typeof budget === 'number' && budget > this.budget.spentUsd)) return `budgetUsd must be a number above $${this.budget.spentUsd}`;
          return this.rules ? boundsProblem(merged, this.policy.bounds) : undefined;
        }
        const schema = approval.kind === 'action' ? proposedActionSchema : stationByName(approval.station).kind === 'model' ? (stationByName(approval.station) as ModelStation).output : proposedActionSchema;
        const parsed = schema.safeParse(merged);
        if (!parsed.success) return parsed.error.issues.map((i) => `${i.path.join('.') || 'output'}: ${i.message}`).join('; ');
        return this.rules && approval.kind === 'action' ? boundsProblem(merged, this.policy.bounds) : undefined;
      },
    });
  }

  private applyDecision(decision: Decision, via: 'update' | 'signal'): void {
    const approval = this.pending.find((candidate) => candidate.approvalId === decision.approvalId)!;
    this.approvals.push({ ...decision, at: new Date().toISOString(), via, accepted: true });
    if (decision.decision === 'reject') {
      this.settle(approval, 'reject', {}, [decision.reviewer]);
      return;
    }
    if (this.rules) {
      this.applyApproval(approval, decision);
      return;
    }
    approval.approvalsSoFar.push(decision.reviewer);
    const edits = { ...(this.pendingEdits.get(approval.approvalId) ?? {}), ...decision.edits };
    this.pendingEdits.set(approval.approvalId, edits);
    if (approval.approvalsSoFar.length >= approval.requiredApprovals) this.settle(approval, 'approve', edits, approval.approvalsSoFar);
  }

  private readonly pendingEdits = new Map<string, Record<string, unknown>>();

  /**
   * An approval under the current rules. A review's edit is the reviewer's answer. An edit that changes
   * an action or a budget is a new proposal: it becomes a new revision (new approval id, visible in
   * pendingApprovals) whose sensitivity and required approvals are computed again from the edited
   * proposal; approvals of the old revision do not count, nor (unless the policy says so) the editor's.
   */
  private applyApproval(approval: PendingApproval, decision: Decision): void {
    const edits = decision.edits ?? {};
    if (approval.kind === 'review') {
      this.settle(approval, 'approve', edits, [decision.reviewer]);
      return;
    }
    const proposal = { ...(approval.proposedAction as Record<string, unknown>), ...edits };
    if (Object.keys(edits).length > 0 && proposalHashOf(proposal) !== (approval.proposalHash ?? proposalHashOf(approval.proposedAction))) {
      this.revise(approval, proposal, decision.reviewer);
      return;
    }
    approval.approvalsSoFar.push(decision.reviewer);
    // A revision's proposal replaces the original one whole.
    const approved = approval.supersedes ? (approval.proposedAction as Record<string, unknown>) : {};
    if (approval.approvalsSoFar.length >= approval.requiredApprovals) this.settle(approval, 'approve', approved, approval.approvalsSoFar);
  }

  private revise(approval: PendingApproval, proposal: Record<string, unknown>, editor: string): void {
    const station = approval.kind === 'action' ? stationByName(approval.station) : undefined;
    const sensitivity =
      station?.kind === 'action' ? this.sensitivityOf(station, proposedActionSchema.parse(proposal)) : `a ${approval.kind} change needs a reviewer`;
    const revision = (approval.revision ?? 1) + 1;
    if (!sensitivity) {
      // The edited proposal would run without a reviewer: the editor's approval is more than it needs.
      this.decide({ stepId: approval.stepId, kind: 'approval', reason: `${approval.approvalId} edited by ${editor} into a proposal that needs no approval under the policy` });
      this.settle(approval, 'approve', proposal, [editor]);
      return;
    }
    const approvalId = `${approval.stepId}-${approval.kind}-${++this.approvalCounter}`;
    const required = this.requiredApprovalsFor(approval.kind, proposal);
    const next: PendingApproval = {
      ...approval,
      approvalId,
      proposedAction: proposal,
      evidence: { ...approval.evidence, reason: `revision ${revision} by ${editor} of ${approval.approvalId}: ${sensitivity}` },
      requestedAt: new Date().toISOString(),
      reviewers: [...approval.reviewers],
      requiredApprovals: required,
      approvalsSoFar: this.policy.approval.editorApproves ? [editor] : [],
      revision,
      proposalHash: proposalHashOf(proposal),
      supersedes: approval.approvalId,
      editedBy: editor,
    };
    this.superseded.set(approval.approvalId, approvalId);
    this.pending.splice(this.pending.indexOf(approval), 1, next);
    this.decide({ stepId: approval.stepId, kind: 'approval', reason: `${approval.approvalId} superseded by ${approvalId} (revision ${revision}, edited by ${editor}): waiting for ${required} approval(s): ${sensitivity}` });
    if (next.approvalsSoFar.length >= required) this.settle(next, 'approve', proposal, next.approvalsSoFar);
  }

  private requiredApprovalsFor(kind: ApprovalKind, proposal: unknown): number {
    return kind === 'action' && this.policy.approval.twoPersonActions.includes((proposal as ProposedAction).action) ? 2 : 1;
  }

  /** The revision that now stands for an approval id (itself when no edit replaced it). */
  private currentRevision(approvalId: string): string {
    let current = approvalId;
    while (this.superseded.has(current)) current = this.superseded.get(current)!;
    return current;
  }

  private settle(approval: PendingApproval, decision: 'approve' | 'reject', edits: Record<string, unknown>, reviewers: string[]): void {
    this.settled.set(approval.approvalId, { decision, edits, reviewers: [...reviewers] });
    this.pending.splice(this.pending.indexOf(approval), 1);
  }

  /** Pauses until reviewers settle the approval; a rejection ends the job as rejected. */
  private async requestApproval(
    kind: ApprovalKind,
    stepId: string,
    station: string,
    proposal: unknown,
    reason: string,
  ): Promise<{ edits: Record<string, unknown>; reviewers: string[] }> {
    const policy = this.policy.approval;
    const firstId = `${stepId}-${kind}-${++this.approvalCounter}`;
    const requiredApprovals = this.requiredApprovalsFor(kind, proposal);
    const approval: PendingApproval = {
      approvalId: firstId,
      kind,
      stepId,
      station,
      proposedAction: proposal,
      evidence: {
        reason,
        modelOutputs: { ...this.outputs },
        confidence: { ...this.confidences },
        costSoFarUsd: roundUsd(this.budget.spentUsd),
      },
      requestedAt: new Date().toISOString(),
      reviewers: [...policy.reviewers],
      requiredApprovals,
      approvalsSoFar: [],
      revision: 1,
      proposalHash: proposalHashOf(proposal),
    };
    this.pending.push(approval);
    this.decide({ stepId, kind: 'approval', reason: `waiting for ${requiredApprovals} approval(s) (${firstId}): ${reason}` });
    this.publish('awaiting_approval');

    // An edit may replace the approval by a new revision: the wait follows it.
    let approvalId = firstId;
    const settledNow = () => this.settled.has((approvalId = this.currentRevision(firstId)));
    let escalated = false;
    while (!settledNow()) {
      const decided = await condition(settledNow, policy.timeoutMs);
      if (decided) break;
      const current = this.pending.find((candidate) => candidate.approvalId === approvalId) ?? approval;
      if (policy.onTimeout === 'escalate' && !escalated && policy.escalationReviewers.length > 0) {
        escalated = true;
        current.reviewers = [...policy.escalationReviewers];
        this.recordTimeout(approvalId, `timed out; escalated to ${policy.escalationReviewers.join(', ')}`);
        continue;
      }
      // No built-in job type approves by timeout, so no recorded history takes this branch with a flagged input.
      const verdict = timeoutVerdict(policy.onTimeout, this.screening);
      this.recordTimeout(approvalId, `timed out; ${verdict === 'approve' ? 'approved by policy' : 'rejected'}`, verdict);
      this.settle(current, verdict, {}, ['timeout']);
    }
    const outcome = this.settled.get(approvalId)!;
    this.publish(this.pending.length > 0 ? 'awaiting_approval' : 'running');
    const last = [...this.ledger].reverse().find((entry) => entry.stepId === stepId);
    if (last && kind === 'review') {
      last.decision = { approvalId, decision: outcome.decision, reviewers: outcome.reviewers, edited: Object.keys(outcome.edits).length > 0 };
    }
    if (outcome.decision === 'reject') {
      throw new JobRejected(`${approvalId} rejected by ${outcome.reviewers.join(', ')}`);
    }
    return outcome;
  }

  private recordTimeout(approvalId: string, comment: string, decision: 'approve' | 'reject' = 'reject'): void {
    this.approvals.push({ approvalId, decision, reviewer: 'system', comment, at: new Date().toISOString(), via: 'timeout', accepted: true });
    this.decide({ stepId: approvalId, kind: 'approval', reason: comment });
  }

  // ---- records and visibility --------------------------------------------------------------------

  private decide(record: Omit<RoutingDecisionRecord, 'at'>): void {
    this.decisions.push({ at: new Date().toISOString(), ...record });
  }

  private noteTier(tier: Tier | 'human'): void {
    const rank = (value: Tier | 'human' | 'none') => (value === 'none' ? -1 : value === 'human' ? tiers.length : tiers.indexOf(value));
    if (rank(tier) > rank(this.topTier)) this.topTier = tier;
  }

  private ledgerEntry(
    step: PlanStep,
    station: ModelStation,
    call: number,
    model: ModelSpec,
    tier: Tier,
    result: ModelCallResult | undefined,
    outcome: LedgerEntry['outcome'],
    escalationReason?: string,
    confidence?: number,
  ): LedgerEntry {
    return {
      at: new Date().toISOString(),
      stepId: step.id,
      station: station.name,
      call,
      modelId: model.id,
      tier,
      modelVersion: result?.modelVersion,
      inputTokens: result?.usage.inputTokens ?? 0,
      outputTokens: result?.usage.outputTokens ?? 0,
      costUsd: result?.costUsd ?? 0,
      latencyMs: result?.latencyMs ?? 0,
      confidence: confidence ?? result?.confidence ?? null,
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

  private publish(status: JobStatus): void {
    this.status = status;
    upsertSearchAttributes([
      { key: ConveyorStatus, value: status },
      { key: ConveyorJobType, value: this.request.type },
      { key: ConveyorTopTier, value: this.topTier },
      { key: ConveyorCostUsd, value: roundUsd(this.budget.spentUsd) },
      { key: ConveyorEscalations, value: this.escalations },
      ...(this.request.batchId ? [{ key: ConveyorBatchId, value: this.request.batchId }] : []),
    ]);
    this.refreshDetails();
  }

  private refreshDetails(): void {
    const lines = [
      `**${this.status}** · ${this.stepsDone}/${this.plan.steps.length} steps · $${roundUsd(this.budget.spentUsd)} · ${this.escalations} escalation(s) · top tier ${this.topTier}`,
      ...this.ledger.map(
        (entry) =>
          `- ${entry.stepId}: ${entry.station} → ${entry.modelId} (${entry.tier}) ${entry.outcome}${entry.confidence !== null ? ` @ ${entry.confidence.toFixed(2)}` : ''}${entry.escalationReason ? ` — ${entry.escalationReason}` : ''}`,
      ),
      ...this.pending.map((approval) => `- ⏸ ${approval.approvalId} waits for ${approval.reviewers.join(' / ')}: ${approval.evidence.reason}`),
    ];
    setCurrentDetails(lines.join('\n'));
  }

  private finish(status: JobStatus, reason?: string): JobResult {
    if (this.rules) this.checkRecordSize('at the end');
    this.publish(status);
    return { ...this.snapshot(status, reason), finishedAt: new Date().toISOString() };
  }

  /** The job's record so far: the result once it finishes, or what the audit reads while it runs. */
  private snapshot(status: JobStatus, reason?: string): JobRecord {
    return {
      id: this.request.id,
      type: this.request.type,
      status,
      plan: this.plan,
      outputs: this.outputs,
      ledger: this.ledger,
      decisions: this.decisions,
      approvals: this.approvals,
      actions: this.actions,
      costUsd: roundUsd(this.budget.spentUsd),
      budget: this.budget.snapshot(),
      escalations: this.escalations,
      topTier: this.topTier,
      screening: this.screening,
      reason,
      startedAt: this.startedAt,
    };
  }
}

function escalationCauseOf(error: unknown): EscalationCause | undefined {
  if (!(error instanceof ActivityFailure)) return undefined;
  if (!(error.cause instanceof ApplicationFailure)) return 'model-failure';
  const type = error.cause.type ?? '';
  if (type in escalatingFailures) return escalatingFailures[type];
  if (type === 'MalformedModelOutputError') return 'schema-violation';
  // Retries exhausted or a permanent provider error: another tier's model may still answer.
  return type === 'UnknownStationError' ? undefined : 'model-failure';
}

function failureSummary(error: unknown): string {
  if (error instanceof ActivityFailure && error.cause) return `${(error.cause as ApplicationFailure).type ?? error.cause.name}: ${error.cause.message}`;
  return error instanceof Error ? error.message : String(error);
}

/** Every string in the job input, for screening. */
function textOf(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(textOf).join('\n');
  if (value !== null && typeof value === 'object') return Object.values(value).map(textOf).join('\n');
  return '';
}

function roundUsd(value: number): number {
  return Math.round(value * 1e8) / 1e8;
}

