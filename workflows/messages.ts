/**
 * The reviewers' contract and the job's read side, as messages: the client, the CLI, tests and any
 * Temporal client (CLI, UI) use these names. Shared by every job workflow type.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { Decision, PendingApproval } from '../domain/approvals';
import type { JobProgress, JobRecord } from '../domain/job';

/** Update `decide`: validated before it is accepted, so a bad decision is refused to the caller. */
export const decideUpdate = defineUpdate<DecideResult, [Decision]>('decide');
/** Signal `decide`: the same payload, for clients that can only signal (Temporal CLI, UI). */
export const decideSignal = defineSignal<[Decision]>('decide');
export const pendingApprovalsQuery = defineQuery<PendingApproval[]>('pendingApprovals');
export const progressQuery = defineQuery<JobProgress>('progress');
/** The job's record so far (plan, ledger, decisions, approvals, actions): what the audit export reads. */
export const recordQuery = defineQuery<JobRecord>('record');
/**
 * Signal `decisionRefused`: our client reports an update that the validator refused, so the refusal is
 * part of the job's recorded data (a refused update leaves no trace in the history by itself).
 */
export const decisionRefusedSignal = defineSignal<[{ decision: Decision; refusal: string }]>('decisionRefused');

export interface DecideResult {
  approvalId: string;
  accepted: true;
  /** True once the approval is settled (a two-person approval needs a second reviewer first). */
  settled: boolean;
  /** The edit changed the proposal: the new revision's approval id, which waits for its own approvals. */
  revisedTo?: string;
}

/**
 * Largest job record (its JSON, in characters) a job will act with or return: well under Temporal's
 * 2 MB payload limit, so a job that would cross it fails visibly before acting instead of being
 * terminated by the server after.
 */
export const MAX_RECORD_CHARS = 1_000_000;
