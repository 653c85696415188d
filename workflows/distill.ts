/**
 * The distill workflow: retrains a station's small model from its base data and the examples the
 * factory collected, and promotes it only when it has earned it — curate, train and evaluate run as
 * activities; the gate's verdict (no golden-set accuracy drop beyond the tolerance AND more coverage
 * at the target accuracy) ends a bad candidate's run without asking anyone; a candidate that passes
 * waits for reviewers through the same `decide` contract as a job (pendingApprovals query, decide
 * update and signal, the policy's reviewers, two different people when two are required), and only
 * an approval promotes it in the model registry. A timeout rejects: no model is promoted by default.
 */
import { condition, proxyActivities, setCurrentDetails, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { refusalFor, type Decision, type PendingApproval, type RecordedDecision } from '../domain/approvals';
import type { ApprovalPolicy } from '../domain/job-types';
import { ConveyorJobType, ConveyorStatus, type JobStatus } from '../domain/search-attributes';
import type { LearningActivities } from '../learning/activities';
import type { DistillRequest, DistillResult, DistillSettings, DistillReport, DistillStatus } from '../learning/types';
import { registerDecideHandlers } from './decide-handlers';

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
  private policy: ApprovalPolicy;
  private outcome: 'approve' | 'reject' | undefined;

  constructor(private readonly request: DistillRequest) {
    this.policy = {
      reviewers: [...(request.reviewers ?? [])],
      escalationReviewers: [],
      timeoutMs: request.approvalTimeoutMs ?? 24 * 60 * 60_000,
      onTimeout: 'reject',
      allowSelfApproval: false,
      twoPersonActions: [],
    };
    this.registerHandlers();
  }

  async run(): Promise<DistillResult> {
    this.publish('running', 'curating the collected examples');
    const { settings, curated } = await quick.curateDistillData({ request: this.request, runId: this.runId });
    this.policy = { ...this.policy, reviewers: [...settings.reviewers], timeoutMs: settings.approvalTimeoutMs };
    this.publish('running', `training a candidate on ${curated.trainExamples} texts (${curated.trainRows} rows)`);
    const candidate = await heavy.trainDistillCandidate({ settings, curated });
    this.publish('running', `evaluating ${candidate.version} against the current model`);
    const report = await heavy.evaluateDistillCandidate({ settings, curated, candidate });
    const previousVersion = report.current?.version ?? null;

    if (!report.gate.passed) {
      this.publish('rejected', report.gate.refusal ?? 'refused by the gate');
      return this.result(settings, 'refused-by-gate', report, previousVersion, previousVersion);
    }

    const approvalId = `${PROMOTE_STEP}-${candidate.version}`;
    this.pending.push({
      approvalId,
      kind: 'review',
      stepId: PROMOTE_STEP,
      station: settings.station,
      proposedAction: { promote: candidate.version, replaces: previousVersion, station: settings.station },
      evidence: {
        reason: `the candidate passed the gate: ${report.gate.checks.map((check) => check.detail).join('; ')}; report ${report.files.markdown}`,
        modelOutputs: {
          candidate: { version: report.candidate.version, accuracy: report.candidate.accuracy, coverageAtTarget: report.candidate.coverageAtTarget, costPerItemUsd: report.candidate.costPerItemUsdAtTarget },
          current: report.current
            ? { version: report.current.version, accuracy: report.current.accuracy, coverageAtTarget: report.current.coverageAtTarget, costPerItemUsd: report.current.costPerItemUsdAtTarget }
            : null,
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
    });
    this.publish('completed', `${candidate.version} promoted by ${approvedBy.join(', ')}`);
    return this.result(settings, 'promoted', report, previousVersion, state.current);
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
    };
  }

  // ---- the decide contract (shared with the job workflow) ----------------------------------------

  private registerHandlers(): void {
    registerDecideHandlers({
      refusal: (decision) => this.refusal(decision),
      apply: (decision, via) => this.apply(decision, via),
      isSettled: (approvalId) => this.decided.has(approvalId),
      record: (decision) => this.approvals.push(decision),
      pending: () => this.pending,
    });
  }

  private refusal(decision: unknown): string | undefined {
    return refusalFor(decision, {
      pending: this.pending,
      decided: this.decided,
      requestedBy: this.request.requestedBy,
      policy: this.policy,
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
