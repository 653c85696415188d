/**
 * Approvals: what waits for a person, the decision contract reviewers send (by update or signal),
 * and the pure checks that refuse unknown ids, second decisions, malformed edits and reviewers the
 * policy does not allow. The workflow keeps an ApprovalDesk; handlers stay thin.
 */
import { z } from 'zod';
import type { ApprovalPolicy } from './job-types';

export const decisionSchema = z
  .object({
    approvalId: z.string().min(1),
    decision: z.enum(['approve', 'reject']),
    reviewer: z.string().min(1),
    comment: z.string().max(4000).optional(),
    edits: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();
export type Decision = z.infer<typeof decisionSchema>;

export type ApprovalKind = 'action' | 'review' | 'budget';

export interface PendingApproval {
  approvalId: string;
  kind: ApprovalKind;
  stepId: string;
  station: string;
  /** What will happen on approval: the action, the answer under review, or the budget asked for. */
  proposedAction: unknown;
  evidence: {
    reason: string;
    modelOutputs: Record<string, unknown>;
    confidence: Record<string, number | null>;
    costSoFarUsd: number;
  };
  requestedAt: string;
  reviewers: string[];
  requiredApprovals: number;
  approvalsSoFar: string[];
}

export interface RecordedDecision extends Decision {
  at: string;
  via: 'update' | 'signal' | 'timeout';
  accepted: boolean;
  /** Why a refused decision was refused. */
  refusal?: string;
}

export class DecisionRefusedError extends Error {
  override readonly name = 'DecisionRefusedError';
}

export interface DecisionContext {
  pending: readonly PendingApproval[];
  decided: ReadonlySet<string>;
  requestedBy?: string;
  policy: ApprovalPolicy;
  /** Validates the proposal with an approval's edits merged onto it; returns a problem or undefined. */
  checkApproval(approval: PendingApproval, edits: Record<string, unknown>): string | undefined;
}

/** Returns why a decision must be refused, or undefined when it may be applied. */
export function refusalFor(raw: unknown, context: DecisionContext): string | undefined {
  const parsed = decisionSchema.safeParse(raw);
  if (!parsed.success) {
    return `malformed decision: ${parsed.error.issues.map((issue) => `${issue.path.join('.') || 'decision'}: ${issue.message}`).join('; ')}`;
  }
  const decision = parsed.data;
  const approval = context.pending.find((candidate) => candidate.approvalId === decision.approvalId);
  if (!approval) {
    return context.decided.has(decision.approvalId)
      ? `approval ${decision.approvalId} was already decided`
      : `unknown approval id ${decision.approvalId}`;
  }
  if (!approval.reviewers.includes('*') && !approval.reviewers.includes(decision.reviewer)) {
    return `reviewer ${decision.reviewer} may not decide ${decision.approvalId} (allowed: ${approval.reviewers.join(', ')})`;
  }
  if (!context.policy.allowSelfApproval && context.requestedBy && decision.reviewer === context.requestedBy) {
    return `reviewer ${decision.reviewer} requested this job and may not decide it`;
  }
  if (approval.approvalsSoFar.includes(decision.reviewer)) {
    return `reviewer ${decision.reviewer} already approved ${decision.approvalId}; a second, different reviewer is required`;
  }
  if (decision.edits && decision.decision !== 'approve') return 'edits are only allowed with an approval';
  if (decision.decision === 'approve') {
    const problem = context.checkApproval(approval, decision.edits ?? {});
    if (problem) return decision.edits ? `invalid edits: ${problem}` : `cannot approve as proposed: ${problem}; approve with edits`;
  }
  return undefined;
}
