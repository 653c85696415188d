/**
 * The station catalogue: every typed operation a plan can use, with its schemas, prompt, default
 * tier, confidence rule and sensitivity rule. Pure data and functions, shared by workflows
 * (routing, validation) and activities (prompts, schemas for the model layer).
 */
import { z } from 'zod';
import type { LocalSkill, Tier } from './models';
import {
  actionDocumentSchema,
  assessRiskInputSchema,
  assessRiskOutputSchema,
  checkRelevanceOutputSchema,
  classifyIntentOutputSchema,
  draftReplyInputSchema,
  draftReplyOutputSchema,
  extractCallInfoOutputSchema,
  extractEntitiesOutputSchema,
  proposeActionInputSchema,
  proposedActionSchema,
  supportIntents,
  ticketTextInputSchema,
  transcriptInputSchema,
  writeActionDocumentInputSchema,
  type ProposedAction,
} from './station-schemas';

export interface SensitivityPolicy {
  /** Refunds above this amount need a reviewer. */
  refundThresholdUsd: number;
  /** Outbound messages to customers need a reviewer. */
  outboundMessagesNeedApproval: boolean;
  /** Any action waits for a reviewer when an earlier step (a risk assessment) rated the job high risk. */
  highRiskNeedsApproval?: boolean;
}

/**
 * Stakes seen in earlier steps' outputs: a risk assessment that says `high` makes any action kind
 * sensitive, so what the action is cannot hide what the job is about.
 */
export function stakesSensitivity(outputs: Record<string, unknown>, policy: SensitivityPolicy): string | undefined {
  if (!policy.highRiskNeedsApproval) return undefined;
  for (const [stepId, output] of Object.entries(outputs)) {
    const risk = assessRiskOutputSchema.safeParse(output);
    if (risk.success && risk.data.level === 'high') return `step "${stepId}" rated the job high risk${risk.data.reasons.length ? ` (${risk.data.reasons.slice(0, 3).join('; ')})` : ''}`;
  }
  return undefined;
}

export interface ModelStation {
  kind: 'model';
  name: string;
  description: string;
  skill: LocalSkill;
  input: z.ZodType;
  output: z.ZodType;
  defaultTier: Tier;
  /** Answers whose confidence is below this escalate to the next tier. */
  confidenceThreshold: number;
  /** Upper bound on output tokens, used to estimate cost before the call. */
  maxOutputTokens: number;
  /** The station's confidence in an answer: the model's own where it has one, else a rule. */
  confidenceOf(output: unknown, modelConfidence: number | null): number;
  prompt(input: unknown): { system: string; user: string };
}

export interface ActionStation {
  kind: 'action';
  name: string;
  description: string;
  input: z.ZodType<{ action: ProposedAction }>;
  /** Why this action needs a person, or undefined when it may run on its own. */
  sensitivity(action: ProposedAction, policy: SensitivityPolicy): string | undefined;
}

export type Station = ModelStation | ActionStation;

const json = (value: unknown) => JSON.stringify(value, null, 2);
const modelConfidenceOr = (fallback: number) => (_output: unknown, modelConfidence: number | null) => modelConfidence ?? fallback;

export const stations: readonly Station[] = [
  {
    kind: 'model',
    name: 'classify-intent',
    description: 'Classifies a support ticket into one of the known intents.',
    skill: 'classify-intent',
    input: ticketTextInputSchema,
    output: classifyIntentOutputSchema,
    defaultTier: 'small',
    confidenceThreshold: 0.7,
    maxOutputTokens: 120,
    confidenceOf: (output) => (output as z.infer<typeof classifyIntentOutputSchema>).confidence,
    prompt: (input) => ({
      system: `You classify customer-support tickets. Answer with JSON: the intent (one of ${supportIntents.join(', ')}), your confidence in [0,1] and up to 5 alternatives with probabilities.`,
      user: `Ticket:\n${(input as { text: string }).text}`,
    }),
  },
  {
    kind: 'model',
    name: 'extract-entities',
    description: 'Extracts order ids, amounts, dates, emails and phone numbers.',
    skill: 'extract-entities',
    input: ticketTextInputSchema,
    output: extractEntitiesOutputSchema,
    defaultTier: 'small',
    confidenceThreshold: 0.5,
    maxOutputTokens: 300,
    confidenceOf: modelConfidenceOr(0.9),
    prompt: (input) => ({
      system:
        'Extract entities from the customer-support ticket as JSON: orderIds, amounts ({value, currency as ISO 4217}), dates (YYYY-MM-DD), emails, phones. Empty arrays when absent.',
      user: `Ticket:\n${(input as { text: string }).text}`,
    }),
  },
  {
    kind: 'model',
    name: 'assess-risk',
    description: 'Rates the risk of a ticket (low, medium, high) with reasons.',
    skill: 'assess-risk',
    input: assessRiskInputSchema,
    output: assessRiskOutputSchema,
    defaultTier: 'small',
    confidenceThreshold: 0.5,
    maxOutputTokens: 200,
    confidenceOf: modelConfidenceOr(0.8),
    prompt: (input) => ({
      system: 'Rate the business risk of handling this support ticket automatically: level low, medium or high, with short reasons. Answer as JSON.',
      user: json(input),
    }),
  },
  {
    kind: 'model',
    name: 'draft-reply',
    description: 'Drafts the reply to the customer.',
    skill: 'draft-reply',
    input: draftReplyInputSchema,
    output: draftReplyOutputSchema,
    defaultTier: 'medium',
    confidenceThreshold: 0.5,
    maxOutputTokens: 500,
    confidenceOf: modelConfidenceOr(0.8),
    prompt: (input) => ({
      system: 'Draft a short, friendly, accurate reply to the customer. Answer as JSON with subject and body. Promise nothing the entities do not support.',
      user: json(input),
    }),
  },
  {
    kind: 'model',
    name: 'propose-action',
    description: 'Proposes the business action for a ticket (refund, cancel, close account, message).',
    skill: 'propose-action',
    input: proposeActionInputSchema,
    output: proposedActionSchema,
    defaultTier: 'medium',
    confidenceThreshold: 0.5,
    maxOutputTokens: 300,
    confidenceOf: modelConfidenceOr(0.8),
    prompt: (input) => ({
      system:
        'Propose the one business action that resolves the ticket: refund (with orderId and amountUsd), cancel-order, close-account, send-message (with message) or none, and the reason. Answer as JSON.',
      user: json(input),
    }),
  },
  {
    kind: 'action',
    name: 'act',
    description: 'Executes the proposed action once, after approval when it is sensitive.',
    input: z.object({ action: proposedActionSchema }),
    sensitivity: (action, policy) => {
      if (action.action === 'close-account') return 'closing an account is irreversible';
      if (action.action === 'refund' && (action.amountUsd ?? Infinity) > policy.refundThresholdUsd) {
        return action.amountUsd === undefined
          ? 'refund without a known amount'
          : `refund of $${action.amountUsd} is above the $${policy.refundThresholdUsd} threshold`;
      }
      if (action.action === 'send-message' && policy.outboundMessagesNeedApproval) return 'outbound messages need a reviewer';
      return undefined;
    },
  },
  {
    kind: 'model',
    name: 'check-relevance',
    description: 'Decides whether a sales/support call transcript needs follow-up at all.',
    skill: 'check-relevance',
    input: transcriptInputSchema,
    output: checkRelevanceOutputSchema,
    defaultTier: 'small',
    confidenceThreshold: 0.6,
    maxOutputTokens: 60,
    confidenceOf: (output) => (output as z.infer<typeof checkRelevanceOutputSchema>).confidence,
    prompt: (input) => ({
      system: 'Decide whether this call transcript contains business information that needs follow-up. Answer as JSON: relevant (boolean), confidence in [0,1].',
      user: (input as { transcript: string }).transcript,
    }),
  },
  {
    kind: 'model',
    name: 'extract-call-info',
    description: 'Extracts customer, pain points, next steps, competitors and budget from a call.',
    skill: 'extract-call-info',
    input: transcriptInputSchema,
    output: extractCallInfoOutputSchema,
    defaultTier: 'medium',
    confidenceThreshold: 0.5,
    maxOutputTokens: 600,
    confidenceOf: modelConfidenceOr(0.8),
    prompt: (input) => ({
      system: 'Extract from the call transcript as JSON: customer, painPoints, nextSteps, competitors, budgetUsd.',
      user: (input as { transcript: string }).transcript,
    }),
  },
  {
    kind: 'model',
    name: 'write-action-document',
    description: 'Writes the action document for the account team.',
    skill: 'write-action-document',
    input: writeActionDocumentInputSchema,
    output: actionDocumentSchema,
    defaultTier: 'large',
    confidenceThreshold: 0.5,
    maxOutputTokens: 1200,
    confidenceOf: modelConfidenceOr(0.8),
    prompt: (input) => ({
      system: 'Write the action document for the account team as JSON: title, summary, actionItems (at least one).',
      user: json(input),
    }),
  },
];

export class UnknownStationError extends Error {
  override readonly name = 'UnknownStationError';
}

export function stationByName(name: string): Station {
  const station = stations.find((candidate) => candidate.name === name);
  if (!station) throw new UnknownStationError(`Unknown station "${name}"; known: ${stations.map((s) => s.name).join(', ')}`);
  return station;
}

export function modelStation(name: string): ModelStation {
  const station = stationByName(name);
  if (station.kind !== 'model') throw new UnknownStationError(`Station "${name}" does not call a model`);
  return station;
}

/** Catalogue entries for plan validation and for the model planner's prompt. */
export const stationCatalogue = stations.map((station) => {
  const shape = (station.input as z.ZodObject).shape as Record<string, z.ZodType>;
  return {
    name: station.name,
    description: station.description,
    inputFields: Object.keys(shape),
    requiredInputFields: Object.keys(shape).filter((field) => !shape[field]!.safeParse(undefined).success),
  };
});
