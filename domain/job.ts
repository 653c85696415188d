/**
 * Jobs: the request a backend sends, the ledger and decisions the factory records, and the result
 * an operator reads. Plain serialisable data that crosses client, workflow and activity boundaries.
 */
import type { z } from 'zod';
import { InvalidJobInputError, invalidJobInput, jobIdSchemaOf, jobRequestSchemaOf, policyOverridesSchemaOf, UnknownJobTypeError } from './job-request';
import type { Tier } from './models';
import type { Plan } from './plan';
import type { BudgetSnapshot } from './budget';
import type { JobStatus } from './search-attributes';
import type { PendingApproval, RecordedDecision } from './approvals';
import type { ScreeningResult } from './screening';

export { InvalidJobInputError, UnknownJobTypeError } from './job-request';

export const jobIdSchema = jobIdSchemaOf();

/** What a job request may change about its type's policy; reviewers and timeout outcomes are not among them. */
export const policyOverridesSchema = policyOverridesSchemaOf();
export type PolicyOverrides = z.infer<typeof policyOverridesSchema>;

export const jobRequestSchema = jobRequestSchemaOf();
export type JobRequest = z.infer<typeof jobRequestSchema>;

/**
 * Validates a job request and its input against the job type's input schema (`inputSchemaOf` throws
 * UnknownJobTypeError for a type it does not know); throws InvalidJobInputError naming each bad field.
 */
export function validateJobRequest(request: unknown, inputSchemaOf: (type: string) => z.ZodType): JobRequest {
  const parsed = jobRequestSchema.safeParse(request);
  if (!parsed.success) throw invalidJobInput(parsed.error.issues);
  let inputSchema;
  try {
    inputSchema = inputSchemaOf(parsed.data.type);
  } catch (error) {
    if (error instanceof UnknownJobTypeError) {
      throw new InvalidJobInputError(`type: ${error.message}`, [{ field: 'type', problem: error.message }]);
    }
    throw error;
  }
  const input = inputSchema.safeParse(parsed.data.input);
  if (!input.success) throw invalidJobInput(input.error.issues, 'input');
  return { ...parsed.data, input: input.data };
}

export interface LedgerEntry {
  /** When the call's outcome was recorded (workflow time). */
  at: string;
  stepId: string;
  station: string;
  /** 1 for the first call of a step, 2 for its first escalation, … */
  call: number;
  modelId: string;
  tier: Tier;
  modelVersion?: string;
  /** Every input token, the cached ones among them. */
  inputTokens: number;
  /** Every output token, the reasoning ones among them. */
  outputTokens: number;
  /** Of the input tokens, those read from the provider's prompt cache (when the provider reported them). */
  cachedInputTokens?: number;
  /** Of the output tokens, the reasoning ones (when the provider reported them). */
  reasoningTokens?: number;
  /** At the model's four prices: uncached input, cached input, output, reasoning (domain/models.ts costUsd). */
  costUsd: number;
  latencyMs: number;
  confidence: number | null;
  /** Which scorer gave `confidence` (factory/confidence.ts ScoredConfidence.scorer); absent in records from before scorers were named. */
  scorer?: string | null;
  /** On a step's first call, when a learned router chose its starting tier: which router (`id@version`), what it read and compared, and the tier. */
  routedBy?: {
    router: string;
    probability: number;
    threshold: number;
    tier: Tier;
    /** What the threshold was compared with, when the router's rule is not `probability` (learning/router.ts RouterRule): the rule and its value. */
    rule?: string;
    value?: number;
  };
  /**
   * How the call ran: `local` (a Temporal local activity: an in-process model, recorded as a marker in
   * the workflow task) or `remote` (a regular activity with heartbeats and server-side retries). Absent in
   * records from before the choice was made per call (every call then was a regular activity).
   */
  execution?: 'local' | 'remote';
  /** Models of the tier passed over before this one answered (failover), and why. */
  failover?: { modelId: string; reason: string; coolingDownUntil: string }[];
  cacheHit: boolean;
  repaired: boolean;
  outcome: 'accepted' | 'escalated';
  escalationReason?: string;
  /** What a call that escalated answered, when it answered at all (an accepted call's answer is the step's output). */
  output?: unknown;
  /** During a canary: whether the canary or the stable version of the learning registry answered. */
  servedAs?: 'canary' | 'stable';
  /** What a shadow candidate answered for this call (recorded, never used). */
  shadow?: { version: string; label: string };
  /** The human decision that settled this step, when one did. */
  decision?: { approvalId: string; decision: 'approve' | 'reject'; reviewers: string[]; edited: boolean };
}

export interface RoutingDecisionRecord {
  at: string;
  stepId: string;
  kind: 'plan' | 'screening' | 'route' | 'router' | 'failover' | 'escalate' | 'human-review' | 'skip' | 'budget' | 'approval' | 'action' | 'canary' | 'learning';
  reason: string;
  modelId?: string;
  tier?: Tier;
}

export interface ActionRecord {
  stepId: string;
  idempotencyKey: string;
  /** The factory action that ran (factory jobs). */
  actionName?: string;
  /** What the action's `execute` returned (e.g. the remote system's id). */
  receipt?: Record<string, unknown>;
  action: unknown;
  executedAt: string;
  /** False when the local action log already held this key (a retry after a crash): it did not happen twice. */
  firstExecution: boolean;
  /** `skipped`: it failed for good and a reviewer skipped it (`skipReason`, `skippedBy`); absent means executed. */
  outcome?: 'executed' | 'skipped';
  skipReason?: string;
  skippedBy?: string;
  /** How many attempts it took (every attempt is in the job's `actionLedger`). */
  attempts?: number;
}

/** One attempt to run an action: the action half of the job's ledger (model calls are in `ledger`). */
export interface ActionAttempt {
  /** When the attempt's outcome was recorded (workflow time). */
  at: string;
  stepId: string;
  actionName: string;
  /** `<jobId>:<stepId>`, with `:r<N>` for revision N of a proposal a reviewer edited after a failure. */
  idempotencyKey: string;
  /** 1, 2, … over the step's life (a reviewer's retry goes on counting). */
  attempt: number;
  outcome: 'executed' | 'retrying' | 'failed';
  error?: string;
  /** The receiver's HTTP status (webhooks). */
  status?: number;
  /** The wait before the next attempt, and whether the receiver asked for it (Retry-After). */
  retryInMs?: number;
  retryAfterHonoured?: boolean;
  durationMs?: number;
}

export interface JobResult {
  id: string;
  type: string;
  status: JobStatus;
  plan: Plan;
  outputs: Record<string, unknown>;
  ledger: LedgerEntry[];
  decisions: RoutingDecisionRecord[];
  approvals: RecordedDecision[];
  actions: ActionRecord[];
  /** Every attempt to run an action, in order (factory jobs since action delivery; absent in older records). */
  actionLedger?: ActionAttempt[];
  costUsd: number;
  budget: BudgetSnapshot;
  escalations: number;
  topTier: Tier | 'human' | 'none';
  /** The prompt-injection screening of the job's input. */
  screening?: ScreeningResult;
  /** Why the job ended as rejected or failed. */
  reason?: string;
  /** The definition the job ran on (factory jobs): its factory and version (declared version + snapshot hash). */
  definition?: { factory: string; version: string; hash: string };
  startedAt: string;
  finishedAt: string;
}

/** A job's record while it may still run (the `record` query): the result without its finish time. */
export type JobRecord = Omit<JobResult, 'finishedAt'> & { finishedAt?: string };

export interface JobProgress {
  id: string;
  type: string;
  status: JobStatus;
  stepsDone: number;
  stepsTotal: number;
  costUsd: number;
  escalations: number;
  pendingApprovals: PendingApproval[];
}
