/**
 * The distill workflow: retrains a station's small model from its base data and the examples the
 * factory collected, and promotes it only when it has earned it — curate, train and evaluate run as
 * activities; the gate's verdict (no golden-set accuracy drop beyond the tolerance AND more coverage
 * at the target accuracy) ends a bad candidate's run without asking anyone; a candidate that passes
 * waits for reviewers through the same `decide` contract as a job (pendingApprovals query, decide
 * update and signal, the policy's reviewers, two different people when two are required), and only
 * an approval promotes it in the model registry. A timeout rejects: no model is promoted by default.
 */
import { condition, patched, proxyActivities, setCurrentDetails, sleep, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { refusalFor, type Decision, type PendingApproval, type RecordedDecision } from '../domain/approvals';
import type { ResolvedApprovalPolicy } from '../factory/snapshot';
import { ConveyorJobType, ConveyorStatus, type JobStatus } from '../domain/search-attributes';
import type { LearningActivities } from '../learning/activities';
import type { DistillRequest, DistillResult, DistillSettings, DistillReport, DistillStatus, ShadowOutcome } from '../learning/types';
import { loadReviewerKeys, registerDecideHandlers, verifySignedDecision } from './decide-handlers';

const PROMOTE_STEP = 'promote';

// Curate and promote are quick file work; training and evaluation take seconds to minutes.
const quick = proxyActivities<LearningActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 5, nonRetryableErrorTypes: ['InvalidDistillRequestError', 'InvalidTrainingDataError', 'ModelRegistryError'] },
});
const heavy = proxyActivities<LearningActivities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '2 minutes',
  retry: { initialInterval: '5 seconds', maximumInterval: '1 minute', maximumAttempts: 3, nonRetryableErrorTypes: ['InvalidDistillRequestError', 'InvalidTrainingDataError', 'ModelRegistryError'] },
});

export async function distillWorkflow(request: DistillRequest): Promise<DistillResult> {
  return new DistillRun(request).run();
}

class DistillRun {
  private readonly runId = workflowInfo().workflowId;
  private readonly pending: PendingApproval[] = [];
  private readonly approvals: RecordedDecision[] = [];
  private readonly decided = new Set<string>();
  private policy: ResolvedApprovalPolicy;
  private outcome: 'approve' | 'reject' | undefined;
  /** The desk's current rules (bounded decisions) and reviewers' keys: off only when replaying runs recorded before them. */
  private strict = false;
  private reviewerKeys: Record<string, string> = {};

  constructor(private readonly request: DistillRequest) {
    this.policy = {
      reviewers: [...(request.reviewers ?? [])],
      escalationReviewers: [],
      timeoutMs: request.approvalTimeoutMs ?? 24 * 60 * 60_000,
      onTimeout: 'reject',
      allowSelfApproval: false,
      twoPersonActions: [],
      editorApproves: false,
      reviewerKeys: {},
    };
    this.registerHandlers();
  }

  async run(): Promise<DistillResult> {
    // The same desk rules as a job's approvals: bounded decisions, and signed decisions when reviewers have keys.
    if (patched('signed-decisions')) {
      this.strict = true;
      this.reviewerKeys = await loadReviewerKeys();
    }
    this.publish('running', 'curating the collected examples');
    const { settings, curated } = await quick.curateDistillData({ request: this.request, runId: this.runId });
    this.policy = { ...this.policy, reviewers: [...settings.reviewers], timeoutMs: settings.approvalTimeoutMs };
    this.publish('running', `training a candidate on ${curated.trainExamples} texts (${curated.trainRows} rows)`);
    const candidate = await heavy.trainDistillCandidate({ settings, curated });
    this.publish('running', `evaluating ${candidate.version} against the current model`);
    let report = await heavy.evaluateDistillCandidate({ settings, curated, candidate });
    const previousVersion = report.current?.version ?? null;

    if (!report.gate.passed) {
      this.publish('rejected', report.gate.refusal ?? 'refused by the gate');
      return this.result(settings, 'refused-by-gate', report, previousVersion, previousVersion);
    }

    if (settings.shadow) {
      const shadow = await this.runShadow(settings, settings.shadow, candidate.version);
      report = { ...report, shadow };
      await quick.writeDistillReport({ report });
      if (!shadow.passed) {
        this.publish('rejected', `refused in shadow: ${shadow.detail}`);
        return this.result(settings, 'refused-by-shadow', report, previousVersion, previousVersion);
      }
    }

    const approvalId = `${PROMOTE_STEP}-${candidate.version}`;
    this.pending.push({
      approvalId,
      kind: 'review',
      stepId: PROMOTE_STEP,
      station: settings.station,
      proposedAction: { promote: candidate.version, replaces: previousVersion, station: settings.station },
      evidence: {
        reason: `the candidate passed the gate: ${report.gate.checks.map((check) => check.detail).join('; ')}${report.shadow ? `; in shadow: ${report.shadow.detail}` : ''}; report ${report.files.markdown}${settings.canary ? `; promotion starts as a canary on ${Math.round(settings.canary.share * 100)}% of items` : ''}`,
        modelOutputs: {
          candidate: { version: report.candidate.version, accuracy: report.candidate.accuracy, coverageAtTarget: report.candidate.coverageAtTarget, costPerItemUsd: report.candidate.costPerItemUsdAtTarget },
          current: report.current
            ? { version: report.current.version, accuracy: report.current.accuracy, coverageAtTarget: report.current.coverageAtTarget, costPerItemUsd: report.current.costPerItemUsdAtTarget }
            : null,
          ...(report.shadow ? { shadow: { observations: report.shadow.agreement.all.n, agreement: report.shadow.agreement.all.agreement, checked: report.shadow.agreement.checked } } : {}),
        },
        confidence: { candidateCoverageAtTarget: report.candidate.coverageAtTarget, currentCoverageAtTarget: report.current?.coverageAtTarget ?? null },
        costSoFarUsd: 0,
      },
      requestedAt: new Date().toISOString(),
      reviewers: [...settings.reviewers],
      requiredApprovals: settings.requiredApprovals,
      approvalsSoFar: [],
    });
    this.publish('awaiting_approval', `waiting for ${settings.requiredApprovals} approval(s) to promote ${candidate.version}`);

    const decidedInTime = await condition(() => this.outcome !== undefined, settings.approvalTimeoutMs);
    if (!decidedInTime) {
      this.approvals.push({ approvalId, decision: 'reject', reviewer: 'system', comment: 'timed out; rejected (a model is never promoted by timeout)', at: new Date().toISOString(), via: 'timeout', accepted: true });
      this.settle(approvalId);
      this.publish('rejected', `approval ${approvalId} timed out`);
      return this.result(settings, 'timed-out', report, previousVersion, previousVersion);
    }
    if (this.outcome === 'reject') {
      this.publish('rejected', `promotion of ${candidate.version} rejected`);
      return this.result(settings, 'rejected', report, previousVersion, previousVersion);
    }

    const approvedBy = this.approvals.filter((decision) => decision.accepted && decision.approvalId === approvalId && decision.decision === 'approve').map((decision) => decision.reviewer);
    const state = await quick.promoteModelVersion({
      station: settings.station,
      version: candidate.version,
      by: approvedBy.join(', '),
      reason: `distill run ${this.runId}: ${report.gate.checks.map((check) => check.detail).join('; ')}`,
      ...(settings.canary ? { canary: settings.canary } : {}),
    });
    this.publish('completed', `${candidate.version} promoted by ${approvedBy.join(', ')}${settings.canary ? ` as a canary on ${Math.round(settings.canary.share * 100)}% of items` : ''}`);
    return this.result(settings, 'promoted', report, previousVersion, state.current);
  }

  /**
   * Runs the candidate in shadow on live steps (workers answer with it too, record its answer and never
   * use it) until enough steps settled or the wait is over; it passes only with enough observations
   * and agreement at or above the gate. The shadow is stopped either way.
   */
  private async runShadow(settings: DistillSettings, shadow: NonNullable<DistillSettings['shadow']>, version: string): Promise<ShadowOutcome> {
    const state = await quick.startShadow({ station: settings.station, version, by: `distill ${this.runId}`, reason: `shadow before promotion (${shadow.minObservations} observations, gate ${shadow.agreementGate})` });
    const since = state.shadow?.since ?? new Date().toISOString();
    const deadline = Date.now() + shadow.maxWaitMs;
    let agreement = await quick.liveAgreement({ station: settings.station, version, role: 'shadow', since });
    while (agreement.all.n < shadow.minObservations && Date.now() < deadline) {
      this.publish('running', `${version} in shadow: ${agreement.all.n}/${shadow.minObservations} live steps settled, agreement ${percent(agreement.all.agreement)}`);
      await sleep(Math.min(shadow.pollIntervalMs, deadline - Date.now()));
      agreement = await quick.liveAgreement({ station: settings.station, version, role: 'shadow', since });
    }
    await quick.stopShadow({ station: settings.station, by: `distill ${this.runId}`, reason: `shadow ended with ${agreement.all.n} observations` });
    const enough = agreement.all.n >= shadow.minObservations;
    const passed = enough && agreement.all.agreement >= shadow.agreementGate;
    const detail = !enough
      ? `only ${agreement.all.n} of ${shadow.minObservations} live steps settled within ${Math.round(shadow.maxWaitMs / 1000)} s: not enough evidence`
      : `agreement ${percent(agreement.all.agreement)} with the accepted answers over ${agreement.all.n} live steps (${percent(agreement.checked.agreement)} over ${agreement.checked.n} escalated or reviewed) ${passed ? 'meets' : 'is below'} the gate ${percent(shadow.agreementGate)}`;
    return { version, agreement, gate: shadow.agreementGate, minObservations: shadow.minObservations, passed, detail };
  }

  private result(settings: DistillSettings, status: DistillStatus, report: DistillReport, previousVersion: string | null, currentVersion: string | null): DistillResult {
    return {
      runId: this.runId,
      station: settings.station,
      status,
      candidateVersion: report.candidate.version,
      previousVersion,
      currentVersion,
      report,
      approvals: this.approvals,
      pending: this.pending,
      ...(status === 'promoted' && settings.canary ? { canary: settings.canary } : {}),
    };
  }

  // ---- the decide contract (shared with the job workflow) ----------------------------------------

  private registerHandlers(): void {
    registerDecideHandlers({
      refusal: (decision) => this.refusal(decision),
      apply: (decision, via) => this.apply(decision, via),
      isSettled: (approvalId) => this.decided.has(approvalId),
      records: () => this.approvals,
      pending: () => this.pending,
      verify: (decision) => verifySignedDecision(this.reviewerKeys, decision),
    });
  }

  private refusal(decision: unknown): string | undefined {
    return refusalFor(decision, {
      pending: this.pending,
      decided: this.decided,
      requestedBy: this.request.requestedBy,
      policy: this.policy,
      strict: this.strict,
      reviewerKeys: this.reviewerKeys,
      checkApproval: (_approval, edits) => (Object.keys(edits).length > 0 ? 'a model promotion takes no edits; approve or reject it as it is' : undefined),
    });
  }

  private apply(decision: Decision, via: 'update' | 'signal'): void {
    const approval = this.pending.find((candidate) => candidate.approvalId === decision.approvalId);
    if (!approval) return;
    this.approvals.push({ ...decision, at: new Date().toISOString(), via, accepted: true });
    if (decision.decision === 'reject') {
      this.outcome = 'reject';
      this.settle(approval.approvalId);
      return;
    }
    approval.approvalsSoFar.push(decision.reviewer);
    if (approval.approvalsSoFar.length >= approval.requiredApprovals) {
      this.outcome = 'approve';
      this.settle(approval.approvalId);
    }
  }

  private settle(approvalId: string): void {
    this.decided.add(approvalId);
    const index = this.pending.findIndex((candidate) => candidate.approvalId === approvalId);
    if (index >= 0) this.pending.splice(index, 1);
  }

  private publish(status: JobStatus, detail: string): void {
    upsertSearchAttributes([
      { key: ConveyorStatus, value: status },
      { key: ConveyorJobType, value: 'distill' },
    ]);
    setCurrentDetails(`**distill ${this.request.station}** — ${status}: ${detail}`);
  }
}

function percent(value: number): string {
  return `${(value * 100).toFixed(1)}%`;
}
