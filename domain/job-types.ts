/**
 * Job types: named pipelines with their input schema, recipe plan and policies (budget, thresholds,
 * approval and sensitivity). Pure data; the workflow reads it, the client validates input with it.
 */
import { z } from 'zod';
import type { PlanBody } from './plan';
import type { SensitivityPolicy } from './stations';
import { actionKinds } from './station-schemas';

export const approvalPolicySchema = z.object({
  /** Who may decide. '*' allows anyone (demo only). */
  reviewers: z.array(z.string()).min(1),
  /** Who decides after the first timeout when onTimeout is 'escalate'. */
  escalationReviewers: z.array(z.string()).default([]),
  timeoutMs: z.number().int().positive(),
  /** What a timeout does. Approval by timeout happens only when a policy says so explicitly. */
  onTimeout: z.enum(['escalate', 'reject', 'approve']),
  /** May the person who requested the job approve it? */
  allowSelfApproval: z.boolean().default(false),
  /** Actions that need two different reviewers. */
  twoPersonActions: z.array(z.enum(actionKinds)).default([]),
  /** Does the reviewer who edits a proposal count as an approver of the revision their edit creates? */
  editorApproves: z.boolean().default(false),
  /** Signed decisions (opt-in): reviewer → Ed25519 public key (PEM or base64 SPKI); the worker's key file adds to these. */
  reviewerKeys: z.record(z.string(), z.string()).default({}),
});
export type ApprovalPolicy = z.infer<typeof approvalPolicySchema>;

export interface JobPolicy {
  planner: 'recipe' | 'model';
  budgetUsd: number;
  /** Over budget: wait for a "raise budget" decision, or fail. */
  overBudget: 'pause' | 'fail';
  /** Per-station overrides of the confidence threshold. */
  confidenceThresholds: Record<string, number>;
  /** Inputs longer than this start one tier up. */
  longInputChars: number;
  approval: ApprovalPolicy;
  sensitivity: SensitivityPolicy;
  bounds: ProposalBounds;
}

/**
 * The limits no proposal may cross, whoever proposes it (a model, or a reviewer's edit): checked with
 * the schema before a decision is accepted, so an edit cannot approve what the policy would never allow.
 */
export interface ProposalBounds {
  /** Largest amount (refund, cancellation value) an action may carry. */
  maxAmountUsd: number;
  /** Largest budget a "raise budget" approval may set. */
  maxBudgetUsd: number;
  /** Longest proposal (its JSON, in characters). */
  maxProposalChars: number;
}

/** Why a proposal crosses the bounds, or undefined. */
export function boundsProblem(proposal: Record<string, unknown>, bounds: ProposalBounds): string | undefined {
  const chars = JSON.stringify(proposal).length;
  if (chars > bounds.maxProposalChars) return `proposal is ${chars} characters, above the policy's ${bounds.maxProposalChars}`;
  const amount = proposal.amountUsd;
  if (amount !== undefined && (typeof amount !== 'number' || !Number.isFinite(amount) || amount > bounds.maxAmountUsd)) {
    return `amountUsd ${JSON.stringify(amount)} is above the policy's limit of $${bounds.maxAmountUsd}`;
  }
  const budget = proposal.budgetUsd;
  if (budget !== undefined && (typeof budget !== 'number' || !Number.isFinite(budget) || budget > bounds.maxBudgetUsd)) {
    return `budgetUsd ${JSON.stringify(budget)} is above the policy's limit of $${bounds.maxBudgetUsd}`;
  }
  return undefined;
}

/** What a job request may change about its type's policy; reviewers and timeout outcomes are not among them. */
export const policyOverridesSchema = z
  .object({
    planner: z.enum(['recipe', 'model']).optional(),
    budgetUsd: z.number().positive().optional(),
    overBudget: z.enum(['pause', 'fail']).optional(),
    approvalTimeoutMs: z.number().int().positive().optional(),
    confidenceThresholds: z.record(z.string(), z.number().min(0).max(1)).optional(),
  })
  .strict();
export type PolicyOverrides = z.infer<typeof policyOverridesSchema>;

export interface JobType {
  name: string;
  description: string;
  input: z.ZodType;
  recipe: PlanBody;
  policy: JobPolicy;
  /** One line for the Temporal UI's summary. */
  summarize(input: unknown): string;
}

const text = z.string().trim().min(1, 'must not be empty').max(100_000, 'longer than 100,000 characters');

export const supportTicketInputSchema = z.object({
  text,
  customer: z.object({ name: z.string().optional(), email: z.string().optional(), id: z.string().optional() }).strict().optional(),
  channel: z.enum(['email', 'chat', 'phone', 'web']).optional(),
});

export const callReviewInputSchema = z.object({ transcript: text, accountName: z.string().optional() });

export const triageInputSchema = z.object({ text });

const oneLine = (value: string, max = 80) => {
  const flat = value.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
};

const defaultApproval: ApprovalPolicy = {
  reviewers: ['alice', 'bob', 'carol', 'demo-reviewer', 'demo-reviewer-2'],
  escalationReviewers: ['support-lead'],
  timeoutMs: 24 * 60 * 60_000,
  onTimeout: 'escalate',
  allowSelfApproval: false,
  twoPersonActions: [],
  editorApproves: false,
  reviewerKeys: {},
};

export const jobTypes: readonly JobType[] = [
  {
    name: 'support-ticket',
    description: 'intent → entities → risk → draft reply → proposed action → approval when sensitive → act',
    input: supportTicketInputSchema,
    recipe: {
      steps: [
        { id: 'intent', station: 'classify-intent', inputs: { text: '$job.text' } },
        { id: 'entities', station: 'extract-entities', inputs: { text: '$job.text' } },
        {
          id: 'risk',
          station: 'assess-risk',
          inputs: { text: '$job.text', intent: '$steps.intent.intent', entities: '$steps.entities' },
        },
        {
          id: 'reply',
          station: 'draft-reply',
          inputs: { text: '$job.text', intent: '$steps.intent.intent', entities: '$steps.entities', customerName: '$job.customer.name' },
        },
        {
          id: 'action',
          station: 'propose-action',
          inputs: { intent: '$steps.intent.intent', entities: '$steps.entities', risk: '$steps.risk', reply: '$steps.reply' },
        },
        { id: 'act', station: 'act', inputs: { action: '$steps.action' } },
      ],
    },
    policy: {
      planner: 'recipe',
      budgetUsd: 0.05,
      overBudget: 'pause',
      confidenceThresholds: {},
      longInputChars: 4000,
      approval: { ...defaultApproval, twoPersonActions: ['close-account'] },
      sensitivity: { refundThresholdUsd: 100, outboundMessagesNeedApproval: false, highRiskNeedsApproval: true },
      bounds: { maxAmountUsd: 10_000, maxBudgetUsd: 1, maxProposalChars: 16_000 },
    },
    summarize: (input) => `support-ticket: ${oneLine((input as { text: string }).text)}`,
  },
  {
    name: 'call-review',
    description: 'relevance (cheapest model) → information extraction (cheap) → action document (large)',
    input: callReviewInputSchema,
    recipe: {
      steps: [
        { id: 'relevance', station: 'check-relevance', inputs: { transcript: '$job.transcript' } },
        { id: 'info', station: 'extract-call-info', inputs: { transcript: '$job.transcript' }, when: '$steps.relevance.relevant' },
        {
          id: 'document',
          station: 'write-action-document',
          inputs: { transcript: '$job.transcript', info: '$steps.info' },
          when: '$steps.relevance.relevant',
        },
      ],
    },
    policy: {
      planner: 'recipe',
      budgetUsd: 0.5,
      overBudget: 'fail',
      confidenceThresholds: {},
      longInputChars: 20_000,
      approval: defaultApproval,
      sensitivity: { refundThresholdUsd: 0, outboundMessagesNeedApproval: true, highRiskNeedsApproval: true },
      bounds: { maxAmountUsd: 10_000, maxBudgetUsd: 5, maxProposalChars: 16_000 },
    },
    summarize: (input) => `call-review${(input as { accountName?: string }).accountName ? ` (${(input as { accountName: string }).accountName})` : ''}: ${oneLine((input as { transcript: string }).transcript, 60)}`,
  },
  {
    name: 'triage',
    description: 'one cheap classification step (for large batches and evaluation)',
    input: triageInputSchema,
    recipe: { steps: [{ id: 'intent', station: 'classify-intent', inputs: { text: '$job.text' } }] },
    policy: {
      planner: 'recipe',
      budgetUsd: 0.01,
      overBudget: 'fail',
      confidenceThresholds: {},
      longInputChars: 4000,
      approval: defaultApproval,
      sensitivity: { refundThresholdUsd: 100, outboundMessagesNeedApproval: false, highRiskNeedsApproval: true },
      bounds: { maxAmountUsd: 10_000, maxBudgetUsd: 0.1, maxProposalChars: 16_000 },
    },
    summarize: (input) => `triage: ${oneLine((input as { text: string }).text)}`,
  },
];

export class UnknownJobTypeError extends Error {
  override readonly name = 'UnknownJobTypeError';
}

export function jobTypeByName(name: string): JobType {
  const jobType = jobTypes.find((candidate) => candidate.name === name);
  if (!jobType) throw new UnknownJobTypeError(`Unknown job type "${name}"; known: ${jobTypes.map((t) => t.name).join(', ')}`);
  return jobType;
}

export function effectivePolicy(jobType: JobType, overrides: PolicyOverrides = {}): JobPolicy {
  const { policy } = jobType;
  return {
    ...policy,
    planner: overrides.planner ?? policy.planner,
    budgetUsd: overrides.budgetUsd ?? policy.budgetUsd,
    overBudget: overrides.overBudget ?? policy.overBudget,
    confidenceThresholds: { ...policy.confidenceThresholds, ...overrides.confidenceThresholds },
    approval: { ...policy.approval, timeoutMs: overrides.approvalTimeoutMs ?? policy.approval.timeoutMs },
  };
}
