/**
 * The reviewers' contract wired into a workflow: the `decide` update (refused by its validator), the
 * `decide` signal (refusals recorded, never thrown), the `decisionRefused` report from our client and
 * the `pendingApprovals` query. Shared by every workflow that waits for people.
 */
import { setHandler } from '@temporalio/workflow';
import type { Decision, PendingApproval, RecordedDecision } from '../domain/approvals';
import { decideSignal, decideUpdate, decisionRefusedSignal, pendingApprovalsQuery } from './job';

export interface ApprovalDeskHandlers {
  /** Why a decision must be refused, or undefined. */
  refusal(decision: unknown): string | undefined;
  apply(decision: Decision, via: 'update' | 'signal'): void;
  isSettled(approvalId: string): boolean;
  record(decision: RecordedDecision): void;
  pending(): PendingApproval[];
}

export function registerDecideHandlers(desk: ApprovalDeskHandlers): void {
  setHandler(
    decideUpdate,
    (decision) => {
      desk.apply(decision, 'update');
      return { approvalId: decision.approvalId, accepted: true, settled: desk.isSettled(decision.approvalId) };
    },
    {
      validator: (decision) => {
        const refusal = desk.refusal(decision);
        if (refusal) throw new Error(refusal);
      },
    },
  );
  setHandler(decideSignal, (decision) => {
    const refusal = desk.refusal(decision);
    if (refusal) desk.record({ ...decision, at: new Date().toISOString(), via: 'signal', accepted: false, refusal });
    else desk.apply(decision, 'signal');
  });
  setHandler(decisionRefusedSignal, ({ decision, refusal }) => {
    desk.record({ ...decision, at: new Date().toISOString(), via: 'update', accepted: false, refusal });
  });
  setHandler(pendingApprovalsQuery, () => desk.pending());
}
