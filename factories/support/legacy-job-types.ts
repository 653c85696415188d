/**
 * The job types as the first job workflow (`jobWorkflow`) reads them: derived from the built-in support
 * factory's definitions (one home for recipes and policies), in the shape that workflow was written for.
 * Kept only to finish and replay jobs started on that workflow type, and for the tools that still read it.
 */
import { z } from 'zod';
import { UnknownJobTypeError, validateJobRequest, type JobRequest, type PolicyOverrides } from '../../domain/job';
import type { PlanBody } from '../../domain/plan';
import type { AnyJobType, RecipeStep } from '../../factory/define';
import { effectiveJobPolicy } from '../../factory/job-policy';
import { supportFactory } from './index';
import { actSettingsSchema } from './actions';
import { actionKinds } from './schemas';
import type { SensitivityPolicy } from './legacy-stations';

export { callReviewInputSchema, supportTicketInputSchema, triageInputSchema } from './job-types';
export { policyOverridesSchema, UnknownJobTypeError, type PolicyOverrides } from '../../domain/job';

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

export interface JobType {
  name: string;
  description: string;
  input: z.ZodType;
  recipe: PlanBody;
  policy: JobPolicy;
  /** One line for the Temporal UI's summary. */
  summarize(input: unknown): string;
}

/** A recipe step in the first workflow's plan format: an action step is the `act` station reading `action`. */
function planStepOf(step: RecipeStep): PlanBody['steps'][number] {
  if ('action' in step) return { id: step.id, station: step.action, inputs: { action: step.proposal as string }, ...(step.when ? { when: step.when } : {}) };
  return { id: step.id, station: step.station, inputs: { ...step.inputs }, ...(step.when ? { when: step.when } : {}) };
}

function jobTypeOf(definition: AnyJobType): JobType {
  const { policy } = definition;
  const act = actSettingsSchema.parse(policy.actions?.act);
  return {
    name: definition.name,
    description: definition.description,
    input: definition.input,
    recipe: { steps: definition.recipe.steps.map(planStepOf) },
    policy: {
      planner: policy.planner ?? 'recipe',
      budgetUsd: policy.budgetUsd,
      overBudget: policy.overBudget ?? 'fail',
      confidenceThresholds: { ...policy.confidenceThresholds },
      longInputChars: policy.longInputChars ?? 4000,
      approval: approvalPolicySchema.parse({ ...policy.approval, twoPersonActions: act.twoPersonKinds }),
      sensitivity: { refundThresholdUsd: act.refundThresholdUsd, outboundMessagesNeedApproval: act.outboundMessagesNeedApproval, highRiskNeedsApproval: act.highRiskNeedsApproval },
      bounds: { maxAmountUsd: policy.bounds!.maxNumbers!.amountUsd!, maxBudgetUsd: policy.bounds!.maxBudgetUsd!, maxProposalChars: policy.bounds!.maxProposalChars! },
    },
    summarize: (input) => definition.summarize!(input),
  };
}

export const jobTypes: readonly JobType[] = [...supportFactory.jobTypes.values()].map(jobTypeOf);

export function jobTypeByName(name: string): JobType {
  const jobType = jobTypes.find((candidate) => candidate.name === name);
  if (!jobType) throw new UnknownJobTypeError(`Unknown job type "${name}"; known: ${jobTypes.map((t) => t.name).join(', ')}`);
  return jobType;
}

/** Validates a request for one of the built-in job types. */
export function validateBuiltinJobRequest(request: unknown): JobRequest {
  return validateJobRequest(request, (type) => jobTypeByName(type).input);
}

export function effectivePolicy(jobType: JobType, overrides: PolicyOverrides = {}): JobPolicy {
  return effectiveJobPolicy(jobType.policy, { policy: overrides });
}
