/**
 * The approval desk: what waits for people, and the rules a decision must pass. A decision is refused
 * (the update's validator throws; a signal's refusal is recorded) when it names an unknown or settled
 * approval, a reviewer the policy does not list, the job's requester, an unsigned decision under signed
 * decisions, a proposal hash that changed, or edits the definition's schema or bounds refuse. An edit that
 * changes an action or a budget is a new proposal: a new revision, assessed again by the factory (is it
 * still sensitive? how many approvals?), which the old revision's approvals do not settle.
 */
import { ApplicationFailure, condition } from '@temporalio/workflow';
import { proposalHashOf, refusalFor, type ActionFailureEvidence, type ApprovalKind, type Decision, type PendingApproval } from '../domain/approvals';
import { timeoutVerdict } from '../domain/screening';
import type { ResolvedApprovalPolicy, ResolvedJobPolicy } from '../factory/snapshot';
import { registerDecideHandlers, verifySignedDecision } from './decide-handlers';
import type { JobRecorder } from './job-record';
import { recordApprovalRequested, recordApprovalWait } from './metrics';
import { definitions, roundUsd } from './proxies';

/** A rejection ends the job as `rejected` (not failed): thrown by the step that asked, caught by the job. */
export class JobRejected extends Error {
  override readonly name = 'JobRejected';

  static of(outcome: Settlement & { approvalId: string }): JobRejected {
    return new JobRejected(`${outcome.approvalId} rejected by ${outcome.reviewers.join(', ')}`);
  }
}

/** What settles an approval: the verdict, the proposal it settled on (edits applied) and who decided. */
export interface Settlement {
  /** `retry` and `skip` settle failed actions only; an edit-and-retry settles as `approve` of its revision. */
  decision: 'approve' | 'reject' | 'retry' | 'skip';
  /** The deciding reviewer's comment (a skip's reason). */
  comment?: string;
  /** A review's edits, or the whole proposal a revision settled on. */
  edits: Record<string, unknown>;
  reviewers: string[];
}

/** The factory's verdict on an edited proposal (from the assessProposal activity). */
export interface RevisionVerdict {
  problem?: string;
  skip?: string;
  sensitivity?: { reason: string; approvals: 1 | 2 };
}

export interface ApprovalDeskOptions {
  recorder: JobRecorder;
  /** The policy in force (read when needed: a job knows it once its definition is loaded). */
  policy(): ResolvedApprovalPolicy;
  requestedBy?: string;
  /** The proposal with edits merged onto it: why it cannot be approved, or undefined (schema and bounds). */
  checkApproval(approval: PendingApproval, merged: Record<string, unknown>): string | undefined;
  /** Asks the factory about an edited action proposal (an activity). */
  assessRevision(approval: PendingApproval, proposal: Record<string, unknown>): Promise<RevisionVerdict>;
  /** Approvals an action needs beyond its own sensitivity rule (two-person actions of the policy). */
  minimumApprovals(approval: PendingApproval): 1 | 2;
}

/**
 * The desk of a job on a factory (a recipe job, or a team's own workflow using the primitives): the
 * policy's approval rules, an edited proposal assessed by the factory's definition in an activity (its
 * sensitivity seeing the job's input and earlier outputs), and the policy's two-person actions.
 */
export function factoryDesk(options: {
  recorder: JobRecorder;
  /** The policy in force (read when needed: a job knows it once its definition is loaded). */
  policy(): ResolvedJobPolicy;
  /** The job's input, as the action's sensitivity rule sees it. */
  input: unknown;
  requestedBy?: string | undefined;
  checkApproval: ApprovalDeskOptions['checkApproval'];
}): ApprovalDesk {
  const { recorder } = options;
  const policy = () => options.policy();
  return new ApprovalDesk({
    recorder,
    policy: () => policy().approval,
    ...(options.requestedBy !== undefined ? { requestedBy: options.requestedBy } : {}),
    checkApproval: options.checkApproval,
    assessRevision: async (approval, proposal) =>
      definitions.assessProposal.executeWithOptions({ summary: `assess edited ${approval.station} proposal` }, [
        {
          jobId: recorder.identity.jobId,
          jobType: recorder.identity.jobType,
          stepId: approval.stepId,
          action: approval.station,
          proposal,
          settings: policy().actions[approval.station],
          input: options.input,
          outputs: { ...recorder.outputs },
          confidences: { ...recorder.confidences },
        },
      ]),
    minimumApprovals: (approval) => (approval.kind === 'action' && policy().approval.twoPersonActions.includes(approval.station) ? 2 : 1),
  });
}

export class ApprovalDesk {
  private readonly settled = new Map<string, Settlement>();
  /** Approval ids an edit replaced → the revision that replaced them. */
  private readonly superseded = new Map<string, string>();
  private counter = 0;
  /** Approvals whose edit the factory is assessing: decisions on them wait for the revision. */
  private readonly revising = new Set<string>();
  /** Reviewers' Ed25519 public keys: with any, every decision must be signed by its reviewer. */
  reviewerKeys: Record<string, string> = {};

  constructor(private readonly options: ApprovalDeskOptions) {}

  private get recorder(): JobRecorder {
    return this.options.recorder;
  }

  private get pending(): PendingApproval[] {
    return this.options.recorder.pending;
  }

  /** Registers the `decide` update and signal, the client's refusal report and the `pendingApprovals` query. */
  registerHandlers(): void {
    registerDecideHandlers({
      refusal: (decision) => this.refusal(decision),
      apply: (decision, via) => this.apply(decision, via),
      isSettled: (approvalId) => this.settled.has(approvalId),
      revisedTo: (approvalId) => this.superseded.get(approvalId),
      records: () => this.recorder.approvals,
      pending: () => this.pending,
      verify: (decision) => verifySignedDecision(this.reviewerKeys, decision),
    });
  }

  refusal(decision: unknown): string | undefined {
    const named = decision !== null && typeof decision === 'object' ? (decision as { approvalId?: unknown }).approvalId : undefined;
    if (typeof named === 'string' && this.revising.has(named)) return `approval ${named} is being revised by an edit: decide its revision once pendingApprovals shows it`;
    return refusalFor(decision, {
      pending: this.pending,
      decided: new Set(this.settled.keys()),
      requestedBy: this.options.requestedBy,
      policy: this.options.policy(),
      superseded: this.superseded,
      strict: true,
      reviewerKeys: this.reviewerKeys,
      checkApproval: (approval, edits) => this.options.checkApproval(approval, { ...(approval.proposedAction as Record<string, unknown>), ...edits }),
    });
  }

  private apply(decision: Decision, via: 'update' | 'signal'): void | Promise<void> {
    const approval = this.pending.find((candidate) => candidate.approvalId === decision.approvalId)!;
    this.recorder.approvals.push({ ...decision, at: new Date().toISOString(), via, accepted: true });
    if (decision.decision === 'reject') return this.settle(approval, 'reject', {}, [decision.reviewer], decision.comment);
    const edits = decision.edits ?? {};
    if (approval.kind === 'action-failed') {
      if (decision.decision === 'skip') return this.settle(approval, 'skip', {}, [decision.reviewer], decision.comment);
      const edited = { ...(approval.proposedAction as Record<string, unknown>), ...edits };
      // An edit after a failure is a new proposal: assessed and approved like the first one was.
      if (proposalHashOf(edited) !== proposalHashOf(approval.proposedAction)) return this.revise(approval, edited, decision.reviewer);
      return this.settle(approval, 'retry', {}, [decision.reviewer], decision.comment);
    }
    if (approval.kind === 'review') return this.settle(approval, 'approve', edits, [decision.reviewer]);
    const proposal = { ...(approval.proposedAction as Record<string, unknown>), ...edits };
    if (Object.keys(edits).length > 0 && proposalHashOf(proposal) !== (approval.proposalHash ?? proposalHashOf(approval.proposedAction))) {
      return this.revise(approval, proposal, decision.reviewer);
    }
    approval.approvalsSoFar.push(decision.reviewer);
    // A revision's proposal replaces the original one whole.
    const approved = approval.supersedes ? (approval.proposedAction as Record<string, unknown>) : {};
    if (approval.approvalsSoFar.length >= approval.requiredApprovals) this.settle(approval, 'approve', approved, approval.approvalsSoFar);
  }

  /**
   * An edit that changed the proposal: the old revision is superseded at once (its approvals no longer
   * count), the factory assesses the edited proposal, and the new revision waits for the approvals it
   * needs — or settles when the edit made it a proposal the policy lets run on its own.
   */
  private async revise(approval: PendingApproval, proposal: Record<string, unknown>, editor: string): Promise<void> {
    // While the factory assesses the edit, no other decision on this approval counts.
    this.revising.add(approval.approvalId);
    let verdict: RevisionVerdict;
    try {
      verdict = approval.kind === 'action' || approval.kind === 'action-failed' ? await this.options.assessRevision(approval, proposal) : { sensitivity: { reason: `a ${approval.kind} change needs a reviewer`, approvals: 1 } };
    } finally {
      this.revising.delete(approval.approvalId);
    }
    // A rule the snapshot's schema cannot express refused the edit: the proposal waits as it was.
    if (verdict.problem) throw ApplicationFailure.create({ type: 'DecisionRefusedError', nonRetryable: true, message: `invalid edits: ${verdict.problem}` });
    const sensitivity = verdict.skip ? undefined : verdict.sensitivity?.reason;
    if (!sensitivity) {
      // The edited proposal would run without a reviewer: the editor's approval is more than it needs.
      this.recorder.decide({ stepId: approval.stepId, kind: 'approval', reason: `${approval.approvalId} edited by ${editor} into a proposal that needs no approval under the policy` });
      this.settle(approval, 'approve', proposal, [editor]);
      return;
    }
    // A failed action's edit is approved as an action: the failure's approval is done with once it is edited.
    const kind = approval.kind === 'action-failed' ? 'action' : approval.kind;
    const approvalId = `${approval.stepId}-${kind}-${++this.counter}`;
    const revision = (approval.revision ?? 1) + 1;
    const next: PendingApproval = {
      ...approval,
      kind,
      approvalId,
      proposedAction: proposal,
      evidence: { ...approval.evidence, reason: `revision ${revision} by ${editor} of ${approval.approvalId}: ${sensitivity}` },
      requestedAt: new Date().toISOString(),
      reviewers: [...approval.reviewers],
      requiredApprovals: Math.max(verdict.sensitivity?.approvals ?? 1, this.options.minimumApprovals({ ...approval, kind })),
      approvalsSoFar: this.options.policy().editorApproves ? [editor] : [],
      revision,
      proposalHash: proposalHashOf(proposal),
      supersedes: approval.approvalId,
      editedBy: editor,
    };
    this.superseded.set(approval.approvalId, approvalId);
    this.pending.splice(this.pending.indexOf(approval), 1, next);
    this.recorder.decide({ stepId: approval.stepId, kind: 'approval', reason: `${approval.approvalId} superseded by ${approvalId} (revision ${revision}, edited by ${editor}): waiting for ${next.requiredApprovals} approval(s): ${sensitivity}` });
    this.recorder.refreshDetails();
    if (next.approvalsSoFar.length >= next.requiredApprovals) this.settle(next, 'approve', proposal, next.approvalsSoFar);
  }

  private settle(approval: PendingApproval, decision: Settlement['decision'], edits: Record<string, unknown>, reviewers: string[], comment?: string): void {
    this.settled.set(approval.approvalId, { decision, edits, reviewers: [...reviewers], ...(comment !== undefined ? { comment } : {}) });
    const index = this.pending.indexOf(approval);
    if (index >= 0) this.pending.splice(index, 1);
  }

  /** The revision that now stands for an approval id (itself when no edit replaced it). */
  private currentRevision(approvalId: string): string {
    let current = approvalId;
    while (this.superseded.has(current)) current = this.superseded.get(current)!;
    return current;
  }

  /**
   * Pauses until reviewers settle the approval (following edits to their revisions), applying the
   * policy's timeout. Returns the settlement; the caller ends the job on a rejection (JobRejected.of).
   */
  async request(kind: ApprovalKind, stepId: string, station: string, proposal: unknown, reason: string, requiredApprovals: number, failure?: ActionFailureEvidence): Promise<Settlement & { approvalId: string }> {
    const policy = this.options.policy();
    const recorder = this.recorder;
    const firstId = `${stepId}-${kind}-${++this.counter}`;
    const approval: PendingApproval = {
      approvalId: firstId,
      kind,
      stepId,
      station,
      proposedAction: proposal,
      evidence: { reason, modelOutputs: { ...recorder.outputs }, confidence: { ...recorder.confidences }, costSoFarUsd: roundUsd(recorder.budget.spentUsd), ...(failure ? { failure } : {}) },
      requestedAt: new Date().toISOString(),
      reviewers: [...policy.reviewers],
      requiredApprovals,
      approvalsSoFar: [],
      revision: 1,
      proposalHash: proposalHashOf(proposal),
    };
    this.pending.push(approval);
    recordApprovalRequested(recorder.identity.jobType, firstId, kind);
    recorder.decide({ stepId, kind: 'approval', reason: `waiting for ${requiredApprovals} approval(s) (${firstId}): ${reason}` });
    recorder.publish(kind === 'action-failed' ? 'action_failed' : 'awaiting_approval');

    let approvalId = firstId;
    const settledNow = () => this.settled.has((approvalId = this.currentRevision(firstId)));
    let escalated = false;
    let waitsForever = false;
    while (!settledNow()) {
      recorder.flush();
      if (await condition(settledNow, waitsForever ? undefined : policy.timeoutMs)) break;
      const current = this.pending.find((candidate) => candidate.approvalId === approvalId)!;
      if (policy.onTimeout === 'escalate' && !escalated && policy.escalationReviewers.length > 0) {
        escalated = true;
        current.reviewers = [...policy.escalationReviewers];
        this.recordTimeout(approvalId, `timed out; escalated to ${policy.escalationReviewers.join(', ')}`);
        recorder.refreshDetails();
        continue;
      }
      if (kind === 'action-failed') {
        // A failed action is never skipped or rejected by a clock: it waits for a person, however long.
        waitsForever = true;
        this.recorder.decide({ stepId: approvalId, kind: 'approval', reason: 'timed out; a failed action waits for a reviewer (a timeout never skips or rejects it)' });
        continue;
      }
      // A flagged input is never approved by a timeout, whatever the policy says.
      const verdict = timeoutVerdict(policy.onTimeout, recorder.screening);
      this.recordTimeout(approvalId, `timed out; ${verdict === 'approve' ? 'approved by policy' : 'rejected'}`, verdict);
      this.settle(current, verdict, {}, ['timeout']);
    }
    const outcome = this.settled.get(approvalId)!;
    recordApprovalWait(recorder.identity.jobType, firstId, kind, (Date.now() - Date.parse(approval.requestedAt)) / 1000, outcome.decision);
    recorder.publish(this.pending.length > 0 ? 'awaiting_approval' : 'running');
    return { ...outcome, approvalId };
  }

  private recordTimeout(approvalId: string, comment: string, decision: 'approve' | 'reject' = 'reject'): void {
    this.recorder.approvals.push({ approvalId, decision, reviewer: 'system', comment, at: new Date().toISOString(), via: 'timeout', accepted: true });
    this.recorder.decide({ stepId: approvalId, kind: 'approval', reason: comment });
  }
}
