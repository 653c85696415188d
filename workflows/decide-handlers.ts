/**
 * The reviewers' contract wired into a workflow: the `decide` update (refused by its validator), the
 * `decide` signal (refusals recorded, never thrown), the `decisionRefused` report from our client and
 * the `pendingApprovals` query. Shared by every workflow that waits for people.
 *
 * Every handler is total: any payload (null, a string, an array, a number, 900 KB of JSON) is refused
 * with a reason or applied, never thrown inside the workflow, and a refused payload is recorded in a
 * bounded form (fields truncated, the raw payload hashed, never stored; at most MAX_RECORDED_REFUSALS).
 * A `decisionRefused` report is a client's unverifiable claim: it is recorded with channel
 * `client-report` and the workflow's own verdict on the reported decision, never as a refusal by the
 * reviewer it names.
 */
import { ApplicationFailure, proxyLocalActivities, setHandler } from '@temporalio/workflow';
import type { ReviewerKeyActivities } from '../activities/reviewer-keys';
import { decisionSchema, recordRefusal, refusalRecord, signedDecisionText, type Decision, type PendingApproval, type RecordedDecision } from '../domain/approvals';
import { decideSignal, decideUpdate, decisionRefusedSignal, pendingApprovalsQuery } from './messages';

export interface ApprovalDeskHandlers {
  /** Why a decision must be refused, or undefined. */
  refusal(decision: unknown): string | undefined;
  /** Applies an accepted decision; a desk that must ask an activity first (an edit's new revision) returns a promise. */
  apply(decision: Decision, via: 'update' | 'signal'): void | Promise<void>;
  isSettled(approvalId: string): boolean;
  /** The revision that replaced an approval id, if an edit replaced it. */
  revisedTo?(approvalId: string): string | undefined;
  /** Where refused decisions are kept (bounded by recordRefusal). */
  records(): RecordedDecision[];
  pending(): PendingApproval[];
  /**
   * Signed decisions: verifies the signature (in a local activity, after the validator accepted the
   * decision) and returns why it must be refused; the decision counts only once this returns undefined.
   */
  verify?(decision: Decision): Promise<string | undefined> | undefined;
}

// Signed decisions: the reviewers' public keys and the signature check (node:crypto) run beside the workflow.
const reviewerKeyActivities = proxyLocalActivities<ReviewerKeyActivities>({ startToCloseTimeout: '10 seconds', retry: { maximumAttempts: 3 } });

/** The reviewers' public keys the worker holds (reviewer-keys.json); none means signed decisions are off. */
export function loadReviewerKeys(): Promise<Record<string, string>> {
  return reviewerKeyActivities.loadReviewerKeys();
}

/**
 * With signed decisions on (any reviewer has a key), a decision counts only once its reviewer's
 * signature verifies: returns why it must be refused, or undefined. Off: undefined, synchronously.
 */
export function verifySignedDecision(keys: Readonly<Record<string, string>>, decision: Decision): Promise<string | undefined> | undefined {
  if (Object.keys(keys).length === 0) return undefined;
  const publicKey = keys[decision.reviewer];
  if (!publicKey || !decision.signature) return Promise.resolve(`signed decisions are on: the decision by ${decision.reviewer} is not signed with a key of theirs`);
  return reviewerKeyActivities
    .verifyDecisionSignature({ publicKey, text: signedDecisionText(decision), signature: decision.signature })
    .then((valid) => (valid ? undefined : `signed decisions are on: the signature does not verify against ${decision.reviewer}'s public key`));
}

/** The refusal of any payload: a check that throws refuses it too, so the validator cannot crash. */
function safeRefusal(desk: ApprovalDeskHandlers, raw: unknown): string | undefined {
  try {
    return desk.refusal(raw);
  } catch (error) {
    return `malformed decision: ${error instanceof Error ? error.message : String(error)}`;
  }
}

export function registerDecideHandlers(desk: ApprovalDeskHandlers): void {
  const now = () => new Date().toISOString();
  setHandler(
    decideUpdate,
    (raw: unknown) => {
      const decision = decisionSchema().parse(raw);
      const result = () => {
        const revisedTo = desk.revisedTo?.(decision.approvalId);
        return { approvalId: decision.approvalId, accepted: true as const, settled: desk.isSettled(decision.approvalId), ...(revisedTo ? { revisedTo } : {}) };
      };
      const apply = () => {
        const applying = desk.apply(decision, 'update');
        if (!applying) return result();
        return applying.then(result, (error: unknown) => {
          recordRefusal(desk.records(), refusalRecord(decision, error instanceof Error ? error.message : String(error), 'update', now()));
          throw error;
        });
      };
      // Without signed decisions the handler stays synchronous, exactly as recorded histories expect.
      const verifying = desk.verify?.(decision);
      if (!verifying) return apply();
      return verifying.then((problem = safeRefusal(desk, decision)) => {
        if (!problem) return apply();
        recordRefusal(desk.records(), refusalRecord(decision, problem, 'update', now()));
        throw ApplicationFailure.create({ type: 'DecisionRefusedError', message: problem, nonRetryable: true });
      });
    },
    {
      validator: (raw: unknown) => {
        const refusal = safeRefusal(desk, raw);
        if (refusal) throw new Error(refusal);
      },
    },
  );
  setHandler(decideSignal, (raw: unknown): void | Promise<void> => {
    const refusal = safeRefusal(desk, raw);
    const parsed = refusal ? undefined : decisionSchema().safeParse(raw);
    if (!parsed?.success) {
      recordRefusal(desk.records(), refusalRecord(raw, refusal ?? 'malformed decision', 'signal', now()));
      return;
    }
    const decision = parsed.data;
    // A desk that assesses an edit first may refuse it then: the signal's refusal is recorded, never thrown.
    const applyRecorded = (): void | Promise<void> => {
      const applying = desk.apply(decision, 'signal');
      return applying?.catch((error: unknown) => recordRefusal(desk.records(), refusalRecord(decision, error instanceof Error ? error.message : String(error), 'signal', now())));
    };
    const verifying = desk.verify?.(decision);
    if (!verifying) return applyRecorded();
    return verifying.then((problem = safeRefusal(desk, decision)) => {
      if (problem) recordRefusal(desk.records(), refusalRecord(decision, problem, 'signal', now()));
      else return applyRecorded();
    });
  });
  setHandler(decisionRefusedSignal, (raw: unknown) => {
    const reported = raw !== null && typeof raw === 'object' ? (raw as { decision?: unknown }).decision : undefined;
    const verdict = safeRefusal(desk, reported);
    const refusal = verdict
      ? `client report (unverified) of a refused update; the workflow's own check: ${verdict}`
      : 'client report (unverified) of a refused update that the workflow would accept: not confirmed';
    recordRefusal(desk.records(), refusalRecord(reported ?? raw, refusal, 'client-report', now()));
  });
  setHandler(pendingApprovalsQuery, () => desk.pending());
}
