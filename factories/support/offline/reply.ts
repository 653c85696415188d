/**
 * Reply drafting from one template per intent, with slots for the customer's name, the order id and
 * the amount. When a template needs an order id the ticket did not give, the reply asks for it instead.
 */
import type { DraftReplyOutput, ExtractEntitiesOutput, SupportIntent } from '../schemas';
import type { Money } from './currency';

interface ReplySlots {
  name: string;
  order: string;
  amount: string;
  hasOrderId: boolean;
}

interface ReplyTemplate {
  needsOrderId: boolean;
  subject: (slots: ReplySlots) => string;
  body: (slots: ReplySlots) => string;
}

const askForOrder = 'Could you reply with your order number so we can find it straight away?';

const templates: Record<SupportIntent, ReplyTemplate> = {
  refund_request: {
    needsOrderId: true,
    subject: (s) => `Your refund request${s.hasOrderId ? ` for order ${s.order}` : ''}`,
    body: (s) =>
      s.hasOrderId
        ? `We have received your refund request for order ${s.order}${s.amount ? ` (${s.amount})` : ''}. Once it is approved, the refund goes back to your original payment method, usually within 5–10 business days.`
        : `We have received your refund request. ${askForOrder}`,
  },
  cancel_order: {
    needsOrderId: true,
    subject: (s) => `Cancelling ${s.hasOrderId ? `order ${s.order}` : 'your order'}`,
    body: (s) =>
      s.hasOrderId
        ? `We are cancelling order ${s.order}. If it has already shipped, we will arrange a return instead and let you know.`
        : `We can cancel your order for you. ${askForOrder}`,
  },
  close_account: {
    needsOrderId: false,
    subject: () => 'Closing your account',
    body: () =>
      'We have received your request to close your account. Before we do, please make sure you have downloaded anything you want to keep; once closed, the account and its history cannot be restored. We will confirm by email when it is done.',
  },
  order_status: {
    needsOrderId: true,
    subject: (s) => `Where ${s.hasOrderId ? `order ${s.order}` : 'your order'} is`,
    body: (s) =>
      s.hasOrderId
        ? `We are checking on order ${s.order} with our warehouse and the carrier, and will send you the latest tracking details shortly.`
        : `We are happy to check on your order. ${askForOrder}`,
  },
  change_address: {
    needsOrderId: true,
    subject: () => 'Updating your delivery address',
    body: (s) =>
      `We can update the delivery address${s.hasOrderId ? ` for order ${s.order}` : ''} as long as it has not been dispatched yet. Please confirm the full new address, including the postcode.`,
  },
  payment_problem: {
    needsOrderId: false,
    subject: () => 'The problem with your payment',
    body: (s) =>
      `We are sorry about the trouble with your payment${s.amount ? ` of ${s.amount}` : ''}. We are looking into it with our payments team; if you were charged in error, the money will be returned to you.`,
  },
  damaged_item: {
    needsOrderId: true,
    subject: (s) => `The damaged item${s.hasOrderId ? ` in order ${s.order}` : ''}`,
    body: (s) =>
      `We are sorry your item arrived damaged. ${s.hasOrderId ? `We can send a replacement or refund order ${s.order}${s.amount ? ` (${s.amount})` : ''}, whichever you prefer.` : askForOrder} A photo of the damage helps us sort this out with the carrier.`,
  },
  complaint: {
    needsOrderId: false,
    subject: () => 'We hear you',
    body: () =>
      'Thank you for telling us about this, and we are sorry we let you down. A member of our team is reviewing what happened and will come back to you personally.',
  },
  technical_issue: {
    needsOrderId: false,
    subject: () => 'Help with the technical problem',
    body: () =>
      'Sorry you are running into this. Could you tell us which device and app version you are using, and any error message you see? In the meantime, signing out and back in, or updating the app, often clears it.',
  },
  general_question: {
    needsOrderId: false,
    subject: () => 'Your question',
    body: () => 'Thanks for your question. We are looking into it and will get back to you with a full answer shortly.',
  },
};

function formatMoney(money: Money | undefined): string {
  if (!money) return '';
  const symbols: Record<string, string> = { USD: '$', EUR: '€', GBP: '£' };
  const symbol = symbols[money.currency];
  const value = Number.isInteger(money.value) ? String(money.value) : money.value.toFixed(2);
  return symbol ? `${symbol}${value}` : `${value} ${money.currency}`;
}

export interface DraftedReply {
  reply: DraftReplyOutput;
  /** 0.9 when every slot the template needs is filled; 0.75 when the reply must ask for the order id. */
  confidence: number;
}

export function draftReply(input: { intent: SupportIntent; entities: ExtractEntitiesOutput; customerName?: string }): DraftedReply {
  const template = templates[input.intent];
  const orderId = input.entities.orderIds[0];
  const slots: ReplySlots = {
    name: input.customerName?.trim() || '',
    order: orderId ?? '',
    amount: formatMoney(input.entities.amounts[0]),
    hasOrderId: orderId !== undefined,
  };
  const greeting = slots.name ? `Hi ${slots.name},` : 'Hello,';
  const body = `${greeting}\n\n${template.body(slots)}\n\nBest regards,\nCustomer Support`;
  return {
    reply: { subject: template.subject(slots), body },
    confidence: template.needsOrderId && !slots.hasOrderId ? 0.75 : 0.9,
  };
}
