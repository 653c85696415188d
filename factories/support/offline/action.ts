/**
 * The action proposed for a support ticket: refund, cancel-order, close-account, send-message or none.
 * A refund needs both an order id and an amount; without them the proposal is to ask the customer.
 * A ticket with a legal threat gets no automated action at all: a person should answer it.
 */
import type { ProposedAction, SupportIntent, ExtractEntitiesOutput, AssessRiskOutput, DraftReplyOutput } from '../schemas';
import { approximateUsd } from './currency';

export interface ActionProposal {
  action: ProposedAction;
  /** 0.9 for a complete proposal; 0.6 when a refund or cancellation falls back to asking for details. */
  confidence: number;
}

export function proposeAction(input: {
  intent: SupportIntent;
  entities: ExtractEntitiesOutput;
  risk: AssessRiskOutput;
  reply: DraftReplyOutput;
}): ActionProposal {
  const orderId = input.entities.orderIds[0];
  const amount = input.entities.amounts[0];
  const message = input.reply.body;

  if (input.risk.reasons.some((reason) => reason.startsWith('legal threat'))) {
    return { action: { action: 'none', reason: 'legal threat: no automated action or message; a person should answer' }, confidence: 0.9 };
  }
  switch (input.intent) {
    case 'refund_request':
    case 'damaged_item': {
      if (orderId !== undefined && amount !== undefined) {
        const amountUsd = approximateUsd(amount);
        const converted = amount.currency === 'USD' ? '' : ` (${amount.value} ${amount.currency} at a fixed approximate rate)`;
        return {
          action: { action: 'refund', orderId, amountUsd, message, reason: `${input.intent} for order ${orderId}, $${amountUsd}${converted}` },
          confidence: 0.9,
        };
      }
      const missing = [orderId === undefined ? 'order id' : '', amount === undefined ? 'amount' : ''].filter(Boolean).join(' and ');
      return { action: { action: 'send-message', orderId, message, reason: `${input.intent} without ${missing}: reply first` }, confidence: 0.6 };
    }
    case 'cancel_order':
      return orderId !== undefined
        ? { action: { action: 'cancel-order', orderId, message, reason: `cancellation requested for order ${orderId}` }, confidence: 0.9 }
        : { action: { action: 'send-message', message, reason: 'cancellation requested without an order id: reply first' }, confidence: 0.6 };
    case 'close_account':
      return { action: { action: 'close-account', message, reason: 'the customer asked to close their account' }, confidence: 0.9 };
    default:
      return { action: { action: 'send-message', orderId, message, reason: `${input.intent}: answer the customer` }, confidence: 0.9 };
  }
}
