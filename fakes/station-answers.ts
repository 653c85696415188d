/**
 * Schema-valid answers for every support-ticket station, chosen by the station's system prompt, so a
 * fake OpenAI-protocol server can stand in for any tier of a whole job.
 */
import { answers, type FakeAnswer, type RecordedRequest } from './openai-server';

type MessageContent = string | { type?: string; text?: string }[] | undefined;
const textOf = (content: MessageContent) => (typeof content === 'string' ? content : (content ?? []).map((part) => part.text ?? '').join(''));

/** The system and user prompts of a request in either protocol: OpenAI's system message, or Anthropic's `system` field. */
export function promptsOf(request: RecordedRequest): { system: string; user: string } {
  const body = request.body as { system?: MessageContent; messages?: { role: string; content: MessageContent }[] };
  const messages = body.messages ?? [];
  const system = body.system !== undefined ? textOf(body.system) : textOf(messages.find((message) => message.role === 'system')?.content);
  return { system, user: textOf(messages.find((message) => message.role === 'user')?.content) };
}

export function supportTicketAnswer(request: RecordedRequest): FakeAnswer {
  const { system, user } = promptsOf(request);
  const orderId = /#([A-Z]\d+)/.exec(user)?.[1] ?? /"orderIds":\s*\[\s*"([^"]+)"/.exec(user)?.[1] ?? 'A0';
  const closing = /close (my|the) account|close_account/i.test(user);
  if (system.startsWith('You classify')) return answers.json({ intent: closing ? 'close_account' : 'cancel_order', confidence: 0.97, alternatives: [] });
  if (system.startsWith('Extract entities')) return answers.json({ orderIds: [orderId], amounts: [], dates: [], emails: [], phones: [] });
  if (system.startsWith('Rate the business risk')) return answers.json({ level: 'low', reasons: ['routine cancellation'] });
  if (system.startsWith('Draft a short')) return answers.json({ subject: `Your order ${orderId}`, body: `We have cancelled order ${orderId}.` });
  if (system.startsWith('Propose the one business action')) {
    if (closing) return answers.json({ action: 'close-account', reason: 'the customer asked to close the account' });
    return answers.json({ action: 'cancel-order', orderId, reason: 'the customer asked to cancel' });
  }
  return answers.error(400, `no scripted answer for system prompt: ${system.slice(0, 60)}`);
}
