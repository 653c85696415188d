/**
 * The support factory's job types: `support-ticket` (the full pipeline, acting once after approval when
 * sensitive), `call-review` (cheap relevance first, the large model only for calls that matter) and
 * `triage` (one cheap classification, for large batches and evaluation).
 */
import { z } from 'zod';
import { defineJobType, type ApprovalPolicySpec } from '../../factory/define';

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

const approval: ApprovalPolicySpec = {
  reviewers: ['alice', 'bob', 'carol', 'demo-reviewer', 'demo-reviewer-2'],
  escalationReviewers: ['support-lead'],
  timeoutMs: 24 * 60 * 60_000,
  onTimeout: 'escalate',
};

export const supportTicket = defineJobType({
  name: 'support-ticket',
  description: 'intent → entities → risk → draft reply → proposed action → approval when sensitive → act',
  input: supportTicketInputSchema,
  recipe: {
    steps: [
      { id: 'intent', station: 'classify-intent', inputs: { text: '$job.text' } },
      { id: 'entities', station: 'extract-entities', inputs: { text: '$job.text' } },
      { id: 'risk', station: 'assess-risk', inputs: { text: '$job.text', intent: '$steps.intent.intent', entities: '$steps.entities' } },
      {
        id: 'reply',
        station: 'draft-reply',
        inputs: { text: '$job.text', intent: '$steps.intent.intent', entities: '$steps.entities', customerName: '$job.customer.name' },
      },
      { id: 'action', station: 'propose-action', inputs: { intent: '$steps.intent.intent', entities: '$steps.entities', risk: '$steps.risk', reply: '$steps.reply' } },
      { id: 'act', action: 'act', proposal: '$steps.action' },
    ],
  },
  policy: {
    planner: 'recipe',
    budgetUsd: 0.05,
    overBudget: 'pause',
    longInputChars: 4000,
    approval,
    actions: { act: { refundThresholdUsd: 100, outboundMessagesNeedApproval: false, highRiskNeedsApproval: true, twoPersonKinds: ['close-account'] } },
    bounds: { maxNumbers: { amountUsd: 10_000 }, maxBudgetUsd: 1, maxProposalChars: 16_000 },
  },
  summarize: (input) => `support-ticket: ${oneLine(input.text)}`,
});

export const callReview = defineJobType({
  name: 'call-review',
  description: 'relevance (cheapest model) → information extraction (cheap) → action document (large)',
  input: callReviewInputSchema,
  recipe: {
    steps: [
      { id: 'relevance', station: 'check-relevance', inputs: { transcript: '$job.transcript' } },
      { id: 'info', station: 'extract-call-info', inputs: { transcript: '$job.transcript' }, when: '$steps.relevance.relevant' },
      { id: 'document', station: 'write-action-document', inputs: { transcript: '$job.transcript', info: '$steps.info' }, when: '$steps.relevance.relevant' },
    ],
  },
  policy: {
    planner: 'recipe',
    budgetUsd: 0.5,
    overBudget: 'fail',
    longInputChars: 20_000,
    approval,
    actions: { act: { refundThresholdUsd: 0, outboundMessagesNeedApproval: true, highRiskNeedsApproval: true } },
    bounds: { maxNumbers: { amountUsd: 10_000 }, maxBudgetUsd: 5, maxProposalChars: 16_000 },
  },
  summarize: (input) => `call-review${input.accountName ? ` (${input.accountName})` : ''}: ${oneLine(input.transcript, 60)}`,
});

export const triage = defineJobType({
  name: 'triage',
  description: 'one cheap classification step (for large batches and evaluation)',
  input: triageInputSchema,
  recipe: { steps: [{ id: 'intent', station: 'classify-intent', inputs: { text: '$job.text' } }] },
  policy: {
    planner: 'recipe',
    budgetUsd: 0.01,
    overBudget: 'fail',
    longInputChars: 4000,
    approval,
    actions: { act: { refundThresholdUsd: 100, outboundMessagesNeedApproval: false, highRiskNeedsApproval: true } },
    bounds: { maxNumbers: { amountUsd: 10_000 }, maxBudgetUsd: 0.1, maxProposalChars: 16_000 },
  },
  summarize: (input) => `triage: ${oneLine(input.text)}`,
});
