/**
 * Approvals: what waits for a person, the decision contract reviewers send (by update or signal),
 * and the pure checks that refuse unknown ids, second decisions, malformed edits and reviewers the
 * policy does not allow. The workflow keeps an ApprovalDesk; handlers stay thin.
 */
import { z } from 'zod';
import { canonicalJson, sha256Hex } from './hash';
import { once } from './lazy';

/** Largest decision accepted (its JSON, in characters): edits and comments are small by nature. */
export const MAX_DECISION_CHARS = 32_000;
/** How many refused decisions a job records one by one; beyond that it only counts them. */
export const MAX_RECORDED_REFUSALS = 40;
/** Longest text field kept in a refusal record. */
const REFUSAL_FIELD_CHARS = 200;

/** The decision contract (built on first use: most waiting jobs never parse one). */
export const decisionSchema = once(() =>
  z
    .object({
      approvalId: z.string().min(1).max(200),
      /** `retry` and `skip` decide a failed action (kind `action-failed`) only; `approve` decides every other kind. */
      decision: z.enum(['approve', 'reject', 'retry', 'skip']),
      reviewer: z.string().min(1).max(200),
      comment: z.string().max(4000).optional(),
      edits: z.record(z.string(), z.unknown()).optional(),
      /** The hash of the proposal the reviewer saw (pendingApprovals' proposalHash): refused when it changed since. */
      proposalHash: z.string().max(128).optional(),
      /** With signed decisions on: Ed25519 signature (base64) of signedDecisionText(decision) by the reviewer's key. */
      signature: z.string().max(200).optional(),
    })
    .strict(),
);
export type Decision = z.infer<ReturnType<typeof decisionSchema>>;

export type ApprovalKind = 'action' | 'review' | 'budget' | 'action-failed';

/** Why an action failed for good: shown to the reviewer of an `action-failed` approval. */
export interface ActionFailureEvidence {
  /** The error's type and message (no secret: the engine's messages never carry one). */
  error: string;
  /** The receiver's HTTP status and the start of its body, for a webhook. */
  status?: number;
  bodyExcerpt?: string;
  attempts: number;
  /** The idempotency key every attempt carried (a retry keeps it; an edit gets a new one). */
  idempotencyKey: string;
}

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
    /** Kind `action-failed`: how the action failed. */
    failure?: ActionFailureEvidence;
  };
  requestedAt: string;
  reviewers: string[];
  requiredApprovals: number;
  approvalsSoFar: string[];
  /** 1 for the first proposal; each edit that changes the proposal makes a new revision with a new approval id. */
  revision?: number;
  /** sha256 of the proposal's canonical JSON: what a decision may name to be sure it approves what it saw. */
  proposalHash?: string;
  /** The approval id this revision replaced, and who edited it. */
  supersedes?: string;
  editedBy?: string;
}

/** Where a recorded decision came from: the update, the signal, a timeout, or our client's (unverified) report. */
export type DecisionChannel = 'update' | 'signal' | 'timeout' | 'client-report';

export interface RecordedDecision extends Decision {
  at: string;
  via: DecisionChannel;
  accepted: boolean;
  /** Why a refused decision was refused. */
  refusal?: string;
  /** Refused decisions: sha256 and size of the raw payload, which is not stored. */
  payloadHash?: string;
  payloadChars?: number;
  /** A client report names a reviewer it cannot prove: kept here, never as `reviewer`. */
  claimedReviewer?: string;
  /** A summary of refusals beyond the recorded cap: how many were only counted. */
  count?: number;
}

export function proposalHashOf(proposal: unknown): string {
  return sha256Hex(canonicalJson(proposal));
}

/** The text a reviewer signs: the decision's fields that change its meaning, in canonical JSON. */
export function signedDecisionText(decision: Decision): string {
  const { approvalId, decision: verdict, reviewer, edits, proposalHash, comment } = decision;
  return `conveyor-decision:v1\n${canonicalJson({ approvalId, decision: verdict, reviewer, edits: edits ?? null, proposalHash: proposalHash ?? null, comment: comment ?? null })}`;
}

function clip(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  return value.length > REFUSAL_FIELD_CHARS ? `${value.slice(0, REFUSAL_FIELD_CHARS)}… (${value.length} chars)` : value;
}

function jsonOf(raw: unknown): string {
  try {
    return JSON.stringify(raw) ?? String(raw);
  } catch {
    return String(raw);
  }
}

/**
 * The bounded record of a refused payload, whatever it was (null, a string, an array, 900 KB): text fields
 * truncated, the raw payload hashed and measured, never stored. A client report's reviewer is only claimed.
 */
export function refusalRecord(raw: unknown, refusal: string, via: DecisionChannel, at: string): RecordedDecision {
  const fields = raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Record<string, unknown>) : {};
  const json = jsonOf(raw);
  const named = clip(fields.reviewer);
  return {
    approvalId: clip(fields.approvalId) ?? '(none)',
    decision: fields.decision === 'reject' || fields.decision === 'retry' || fields.decision === 'skip' ? fields.decision : 'approve',
    reviewer: via === 'client-report' ? 'client-report' : (named ?? '(unnamed)'),
    ...(via === 'client-report' && named ? { claimedReviewer: named } : {}),
    ...(clip(fields.comment) !== undefined ? { comment: clip(fields.comment) } : {}),
    at,
    via,
    accepted: false,
    refusal: refusal.length > 600 ? `${refusal.slice(0, 600)}…` : refusal,
    payloadHash: sha256Hex(json),
    payloadChars: json.length,
  };
}

/**
 * Appends a refusal record, keeping at most MAX_RECORDED_REFUSALS of them; beyond the cap one summary
 * record counts the rest, so what attackers send cannot grow a job's result.
 */
export function recordRefusal(records: RecordedDecision[], refusal: RecordedDecision): void {
  const refused = records.filter((record) => !record.accepted);
  if (refused.length < MAX_RECORDED_REFUSALS) {
    records.push(refusal);
    return;
  }
  const summary = refused.find((record) => record.count !== undefined);
  if (summary) {
    summary.count = (summary.count ?? 0) + 1;
    summary.at = refusal.at;
    summary.payloadHash = refusal.payloadHash;
  } else {
    records.push({ approvalId: '(many)', decision: 'approve', reviewer: '(many)', at: refusal.at, via: refusal.via, accepted: false, refusal: `more than ${MAX_RECORDED_REFUSALS} refused decisions: only counted from here on (last payload hash kept)`, payloadHash: refusal.payloadHash, count: 1 });
  }
}

export class DecisionRefusedError extends Error {
  override readonly name = 'DecisionRefusedError';
}

export interface DecisionContext {
  pending: readonly PendingApproval[];
  decided: ReadonlySet<string>;
  requestedBy?: string;
  policy: { allowSelfApproval: boolean };
  /** Validates the proposal with an approval's edits merged onto it; returns a problem or undefined. */
  checkApproval(approval: PendingApproval, edits: Record<string, unknown>): string | undefined;
  /** Approval ids an edit replaced, with the id of the revision that replaced them. */
  superseded?: ReadonlyMap<string, string>;
  /** The desk's current rules (bounded decisions, revisions): off only when replaying histories recorded before them. */
  strict?: boolean;
  /** Signed decisions are on when any reviewer has a public key: then every decision must carry a signature. */
  reviewerKeys?: Readonly<Record<string, string>>;
}

/** Returns why a decision must be refused, or undefined when it may be applied. */
export function refusalFor(raw: unknown, context: DecisionContext): string | undefined {
  const parsed = decisionSchema().safeParse(raw);
  if (!parsed.success) {
    return `malformed decision: ${parsed.error.issues.map((issue) => `${issue.path.join('.') || 'decision'}: ${issue.message}`).join('; ')}`;
  }
  const decision = parsed.data;
  if (context.strict && jsonOf(raw).length > MAX_DECISION_CHARS) return `decision larger than ${MAX_DECISION_CHARS} characters`;
  const approval = context.pending.find((candidate) => candidate.approvalId === decision.approvalId);
  const replacedBy = context.superseded?.get(decision.approvalId);
  if (!approval && replacedBy) {
    return `approval ${decision.approvalId} was superseded by ${replacedBy}: an edit changed the proposal; review ${replacedBy} in pendingApprovals and decide that`;
  }
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
  if (context.reviewerKeys && Object.keys(context.reviewerKeys).length > 0) {
    if (!context.reviewerKeys[decision.reviewer]) return `signed decisions are on: reviewer ${decision.reviewer} has no public key in the approval policy`;
    if (!decision.signature) return `signed decisions are on: the decision by ${decision.reviewer} carries no signature (sign it with the reviewer's key: --key or CONVEYOR_REVIEWER_KEY_FILE)`;
  }
  if (decision.proposalHash !== undefined && approval.proposalHash !== undefined && decision.proposalHash !== approval.proposalHash) {
    return `proposal hash ${decision.proposalHash.slice(0, 12)}… does not match ${decision.approvalId}'s proposal (${approval.proposalHash.slice(0, 12)}…): it changed since you saw it`;
  }
  if (approval.approvalsSoFar.includes(decision.reviewer)) {
    return `reviewer ${decision.reviewer} already approved ${decision.approvalId}; a second, different reviewer is required`;
  }
  if (approval.kind === 'action-failed') {
    if (decision.decision === 'approve') return `${decision.approvalId} is a failed action: decide it with retry (edits allowed), skip (with a comment saying why) or reject`;
    if (decision.edits && decision.decision !== 'retry') return 'edits are only allowed with a retry';
    if (decision.decision === 'skip' && !decision.comment?.trim()) return 'a skip needs a comment saying why the action is not needed';
    if (decision.decision === 'retry' && decision.edits) {
      const problem = context.checkApproval(approval, decision.edits);
      if (problem) return `invalid edits: ${problem}`;
    }
    return undefined;
  }
  if (decision.decision === 'retry' || decision.decision === 'skip') return `${decision.decision} decides failed actions only; ${decision.approvalId} is a ${approval.kind} approval: approve or reject it`;
  if (decision.edits && decision.decision !== 'approve') return 'edits are only allowed with an approval';
  if (decision.decision === 'approve') {
    const problem = context.checkApproval(approval, decision.edits ?? {});
    if (problem) return decision.edits ? `invalid edits: ${problem}` : `cannot approve as proposed: ${problem}; approve with edits`;
  }
  return undefined;
}
