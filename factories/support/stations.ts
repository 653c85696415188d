/**
 * The support factory's stations: classify, extract, assess, draft and propose for support tickets; check,
 * extract and write for call reviews. Written with the public definition API only.
 */
import { defineStation } from '../../factory/define';
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
} from './schemas';
import { actionDocumentTemplate, actionRules, callInfoRules, entityRules, intentClassifier, relevanceClassifier, replyTemplates, riskRules } from './offline';

const json = (value: unknown) => JSON.stringify(value, null, 2);

export const classifyIntent = defineStation({
  name: 'classify-intent',
  description: 'Classifies a support ticket into one of the known intents.',
  input: ticketTextInputSchema,
  output: classifyIntentOutputSchema,
  defaultTier: 'small',
  confidenceThreshold: 0.7,
  confidence: { from: 'field', field: 'confidence' },
  maxOutputTokens: 120,
  local: intentClassifier,
  learnable: { label: 'intent', text: 'text' },
  prompt: (input) => ({
    system: `You classify customer-support tickets. Answer with JSON: the intent (one of ${supportIntents.join(', ')}), your confidence in [0,1] and up to 5 alternatives with probabilities.`,
    user: `Ticket:\n${input.text}`,
  }),
});

export const extractEntities = defineStation({
  name: 'extract-entities',
  description: 'Extracts order ids, amounts, dates, emails and phone numbers.',
  input: ticketTextInputSchema,
  output: extractEntitiesOutputSchema,
  defaultTier: 'small',
  confidenceThreshold: 0.5,
  confidence: { from: 'model', otherwise: 0.9 },
  maxOutputTokens: 300,
  local: entityRules,
  prompt: (input) => ({
    system:
      'Extract entities from the customer-support ticket as JSON: orderIds, amounts ({value, currency as ISO 4217}), dates (YYYY-MM-DD), emails, phones. Empty arrays when absent.',
    user: `Ticket:\n${input.text}`,
  }),
});

export const assessRisk = defineStation({
  name: 'assess-risk',
  description: 'Rates the risk of a ticket (low, medium, high) with reasons.',
  input: assessRiskInputSchema,
  output: assessRiskOutputSchema,
  defaultTier: 'small',
  confidenceThreshold: 0.5,
  confidence: { from: 'model', otherwise: 0.8 },
  maxOutputTokens: 200,
  local: riskRules,
  prompt: (input) => ({
    system: 'Rate the business risk of handling this support ticket automatically: level low, medium or high, with short reasons. Answer as JSON.',
    user: json(input),
  }),
});

export const draftReply = defineStation({
  name: 'draft-reply',
  description: 'Drafts the reply to the customer.',
  input: draftReplyInputSchema,
  output: draftReplyOutputSchema,
  defaultTier: 'medium',
  confidenceThreshold: 0.5,
  confidence: { from: 'model', otherwise: 0.8 },
  maxOutputTokens: 500,
  local: replyTemplates,
  prompt: (input) => ({
    system: 'Draft a short, friendly, accurate reply to the customer. Answer as JSON with subject and body. Promise nothing the entities do not support.',
    user: json(input),
  }),
});

export const proposeAction = defineStation({
  name: 'propose-action',
  description: 'Proposes the business action for a ticket (refund, cancel, close account, message).',
  input: proposeActionInputSchema,
  output: proposedActionSchema,
  defaultTier: 'medium',
  confidenceThreshold: 0.5,
  confidence: { from: 'model', otherwise: 0.8 },
  maxOutputTokens: 300,
  local: actionRules,
  prompt: (input) => ({
    system:
      'Propose the one business action that resolves the ticket: refund (with orderId and amountUsd), cancel-order, close-account, send-message (with message) or none, and the reason. Answer as JSON.',
    user: json(input),
  }),
});

export const checkRelevance = defineStation({
  name: 'check-relevance',
  description: 'Decides whether a sales/support call transcript needs follow-up at all.',
  input: transcriptInputSchema,
  output: checkRelevanceOutputSchema,
  defaultTier: 'small',
  confidenceThreshold: 0.6,
  confidence: { from: 'field', field: 'confidence' },
  maxOutputTokens: 60,
  local: relevanceClassifier,
  learnable: { label: 'relevant', text: 'transcript', booleanLabels: { true: 'relevant', false: 'irrelevant' } },
  prompt: (input) => ({
    system: 'Decide whether this call transcript contains business information that needs follow-up. Answer as JSON: relevant (boolean), confidence in [0,1].',
    user: input.transcript,
  }),
});

export const extractCallInfo = defineStation({
  name: 'extract-call-info',
  description: 'Extracts customer, pain points, next steps, competitors and budget from a call.',
  input: transcriptInputSchema,
  output: extractCallInfoOutputSchema,
  defaultTier: 'medium',
  confidenceThreshold: 0.5,
  confidence: { from: 'model', otherwise: 0.8 },
  maxOutputTokens: 600,
  local: callInfoRules,
  prompt: (input) => ({
    system: 'Extract from the call transcript as JSON: customer, painPoints, nextSteps, competitors, budgetUsd.',
    user: input.transcript,
  }),
});

export const writeActionDocument = defineStation({
  name: 'write-action-document',
  description: 'Writes the action document for the account team.',
  input: writeActionDocumentInputSchema,
  output: actionDocumentSchema,
  defaultTier: 'large',
  confidenceThreshold: 0.5,
  confidence: { from: 'model', otherwise: 0.8 },
  maxOutputTokens: 1200,
  local: actionDocumentTemplate,
  prompt: (input) => ({
    system: 'Write the action document for the account team as JSON: title, summary, actionItems (at least one).',
    user: json(input),
  }),
});

/** In catalogue order (the model planner's prompt lists them so). */
export const supportStations = [classifyIntent, extractEntities, assessRisk, draftReply, proposeAction, checkRelevance, extractCallInfo, writeActionDocument];
