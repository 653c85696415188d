/**
 * Input and output schemas of every station: the contracts between the factory and the models.
 * One zod schema per boundary object, its type inferred beside it.
 */
import { z } from 'zod';

// ---- support-ticket ---------------------------------------------------------------------------

export const supportIntents = [
  'refund_request',
  'cancel_order',
  'close_account',
  'order_status',
  'change_address',
  'payment_problem',
  'damaged_item',
  'complaint',
  'technical_issue',
  'general_question',
] as const;
export const supportIntentSchema = z.enum(supportIntents);
export type SupportIntent = z.infer<typeof supportIntentSchema>;

export const ticketTextInputSchema = z.object({ text: z.string() });

export const classifyIntentOutputSchema = z.object({
  intent: supportIntentSchema,
  confidence: z.number().min(0).max(1),
  alternatives: z.array(z.object({ intent: z.string(), probability: z.number().min(0).max(1) })).max(5),
});
export type ClassifyIntentOutput = z.infer<typeof classifyIntentOutputSchema>;

export const moneySchema = z.object({ value: z.number().nonnegative(), currency: z.string().length(3) });
export const extractEntitiesOutputSchema = z.object({
  orderIds: z.array(z.string()),
  amounts: z.array(moneySchema),
  /** ISO dates (YYYY-MM-DD). */
  dates: z.array(z.string().regex(/^\d{4}-\d{2}-\d{2}$/)),
  emails: z.array(z.string()),
  phones: z.array(z.string()),
});
export type ExtractEntitiesOutput = z.infer<typeof extractEntitiesOutputSchema>;

export const assessRiskInputSchema = z.object({
  text: z.string(),
  intent: supportIntentSchema,
  entities: extractEntitiesOutputSchema,
});
export const riskLevelSchema = z.enum(['low', 'medium', 'high']);
export const assessRiskOutputSchema = z.object({ level: riskLevelSchema, reasons: z.array(z.string()) });
export type AssessRiskOutput = z.infer<typeof assessRiskOutputSchema>;

export const draftReplyInputSchema = z.object({
  text: z.string(),
  intent: supportIntentSchema,
  entities: extractEntitiesOutputSchema,
  customerName: z.string().optional(),
});
export const draftReplyOutputSchema = z.object({ subject: z.string().min(1), body: z.string().min(1) });
export type DraftReplyOutput = z.infer<typeof draftReplyOutputSchema>;

export const actionKinds = ['refund', 'cancel-order', 'close-account', 'send-message', 'none'] as const;
export const proposeActionInputSchema = z.object({
  intent: supportIntentSchema,
  entities: extractEntitiesOutputSchema,
  risk: assessRiskOutputSchema,
  reply: draftReplyOutputSchema,
});
export const proposedActionSchema = z.object({
  action: z.enum(actionKinds),
  orderId: z.string().optional(),
  amountUsd: z.number().nonnegative().optional(),
  /** The message sent to the customer with the action. */
  message: z.string().optional(),
  reason: z.string(),
});
export type ProposedAction = z.infer<typeof proposedActionSchema>;

// ---- call-review ------------------------------------------------------------------------------

export const transcriptInputSchema = z.object({ transcript: z.string() });

export const checkRelevanceOutputSchema = z.object({
  relevant: z.boolean(),
  confidence: z.number().min(0).max(1),
});
export type CheckRelevanceOutput = z.infer<typeof checkRelevanceOutputSchema>;

export const extractCallInfoOutputSchema = z.object({
  customer: z.string().optional(),
  painPoints: z.array(z.string()),
  nextSteps: z.array(z.string()),
  competitors: z.array(z.string()),
  budgetUsd: z.number().nonnegative().optional(),
});
export type ExtractCallInfoOutput = z.infer<typeof extractCallInfoOutputSchema>;

export const writeActionDocumentInputSchema = z.object({ transcript: z.string(), info: extractCallInfoOutputSchema });
export const actionDocumentSchema = z.object({
  title: z.string().min(1),
  summary: z.string().min(1),
  actionItems: z.array(z.string()).min(1),
});
export type ActionDocument = z.infer<typeof actionDocumentSchema>;
