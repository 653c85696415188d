/**
 * The approval desk under attack, the plumbing: scripted support-ticket answers whose risk and proposed
 * action are chosen by markers in the ticket text (`[risk:high]`, `[act:refund:450]`), and a hostile
 * client that is the plain Temporal CLI (signals and updates with any payload, from a file when large).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { inject } from 'vitest';
import { findTemporalCli } from '../../platform/temporal-cli';
import { answers, type FakeAnswer, type RecordedRequest } from '../../fakes/openai-server';
import { tempDir } from './temporal';

/** A ticket text that makes the scripted models propose `action` (with an amount) at the given risk. */
export function markedTicket(action: string, options: { amountUsd?: number; risk?: 'low' | 'high'; orderId?: string } = {}): string {
  return `Order #${options.orderId ?? 'K70007'}: please help. [act:${action}${options.amountUsd !== undefined ? `:${options.amountUsd}` : ''}] [risk:${options.risk ?? 'low'}]`;
}

export function markedTicketAnswer(request: RecordedRequest): FakeAnswer {
  const messages = (request.body as { messages: { role: string; content: string }[] }).messages;
  const system = messages[0]?.content ?? '';
  const user = messages.find((message) => message.role === 'user')?.content ?? '';
  const orderId = /#([A-Z]\d+)/.exec(user)?.[1] ?? /"orderIds":\s*\[\s*"([^"]+)"/.exec(user)?.[1] ?? 'A0';
  const act = /\[act:([a-z-]+)(?::(\d+))?\]/.exec(user);
  const risk = /\[risk:(low|high)\]/.exec(user)?.[1] ?? 'low';
  if (system.startsWith('You classify')) return answers.json({ intent: 'refund_request', confidence: 0.97, alternatives: [] });
  if (system.startsWith('Extract entities')) return answers.json({ orderIds: [orderId], amounts: [], dates: [], emails: [], phones: [] });
  if (system.startsWith('Rate the business risk')) return answers.json({ level: risk, reasons: [risk === 'high' ? 'the customer threatens legal action' : 'routine'] });
  if (system.startsWith('Draft a short')) return answers.json({ subject: `Your order ${orderId}`, body: `We will get your money back. ${act?.[0] ?? ''}` });
  if (system.startsWith('Propose the one business action')) {
    const action = act?.[1] ?? 'none';
    const amount = act?.[2] !== undefined ? Number(act[2]) : undefined;
    return answers.json({
      action,
      ...(action === 'close-account' || action === 'none' ? {} : { orderId }),
      ...(amount !== undefined ? { amountUsd: amount } : {}),
      ...(action === 'send-message' ? { message: 'We promise your money back within 3 days.' } : {}),
      reason: 'scripted',
    });
  }
  return answers.error(400, `no scripted answer for system prompt: ${system.slice(0, 60)}`);
}

/** The plain Temporal CLI as a hostile client: `signal` and `update` with any JSON payload. */
export function hostileCli(namespace: string, workflowId: string) {
  const temporal = findTemporalCli()!.path;
  const dir = tempDir('hostile');
  let n = 0;
  const inputArgs = (payload: unknown): string[] => {
    const json = JSON.stringify(payload);
    if (json.length < 8_000) return ['--input', json];
    const file = path.join(dir, `payload-${++n}.json`);
    fs.writeFileSync(file, json);
    return ['--input-file', file];
  };
  const common = ['--address', inject('temporalAddress'), '--namespace', namespace, '--workflow-id', workflowId];
  return {
    signal(name: string, payload: unknown): void {
      execFileSync(temporal, ['workflow', 'signal', ...common, '--name', name, ...inputArgs(payload)], { encoding: 'utf8', stdio: 'pipe' });
    },
    /** Sends the update; returns the CLI's exit status and output (a refused update exits non-zero). */
    update(name: string, payload: unknown): { status: number | null; output: string } {
      const run = spawnSync(temporal, ['workflow', 'update', 'execute', ...common, '--name', name, ...inputArgs(payload)], { encoding: 'utf8' });
      return { status: run.status, output: `${run.stdout}${run.stderr}` };
    },
  };
}

/** A JSON object of about `chars` characters. */
export function bigObject(chars: number, seed = 'x'): Record<string, unknown> {
  return { approvalId: 'act-action-1', decision: 'approve', reviewer: 'mallory', comment: seed.repeat(Math.max(0, chars - 80)) };
}
