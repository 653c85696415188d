/**
 * The approval desk against random payloads (issue 13): a few hundred random JSON values, up to 1 MB each
 * and tens of MB in all, sent as `decide` and `decisionRefused` signals and as `decide` updates to a
 * waiting job. After all of them the job still waits, healthy and approvable, nothing was executed, and
 * once a listed reviewer approves it completes with a result under the size limit.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ConveyorClient } from '../client';
import type { RecordedDecision } from '../domain/approvals';
import { createSeededRandom } from '../providers/local/prng';
import { bundleConveyorWorkflows } from '../workers/worker';
import { startFakeOpenAI, type FakeServer } from '../fakes/openai-server';
import { markedTicket, markedTicketAnswer } from './support/desk';
import { registryWithFakeTiers } from './support/models';
import { eventually, startWorker, testClient, testSettings, uniqueId, type RunningWorker } from './support/temporal';

let fake: FakeServer;
let worker: RunningWorker;
let client: ConveyorClient;
const settings = testSettings(uniqueId('desk-property'));

beforeAll(async () => {
  const bundle = await bundleConveyorWorkflows();
  fake = await startFakeOpenAI(markedTicketAnswer);
  worker = await startWorker({ settings, bundle, gateway: { registry: registryWithFakeTiers(fake.url, ['small', 'medium', 'large']), rateLimiter: null } });
  client = await testClient(settings);
});

afterAll(async () => {
  await client?.close();
  await worker?.stop();
  await fake?.close();
});

/** Random payloads from the project's seeded generator, so a failure can be reproduced from its seed. */
function random(seed: number) {
  const generator = createSeededRandom(seed);
  const next = () => generator.next();
  const int = (bound: number) => generator.nextInt(bound);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  const text = (chars: number) => Array.from({ length: Math.ceil(chars / 16) }, () => next().toString(36).slice(2).padEnd(16, 'é')).join('').slice(0, chars);
  const json = (depth: number): unknown => {
    switch (int(depth > 3 ? 4 : 7)) {
      case 0: return null;
      case 1: return next() * 1e6 - 5e5;
      case 2: return text(int(40));
      case 3: return next() < 0.5;
      case 4: return Array.from({ length: int(5) }, () => json(depth + 1));
      default: return Object.fromEntries(Array.from({ length: int(5) }, () => [pick(['approvalId', 'decision', 'reviewer', 'edits', 'comment', 'signature', text(6)]), json(depth + 1)]));
    }
  };
  return { next, int, pick, text, json };
}

it('a few hundred random payloads leave a waiting job healthy, unacted and bounded', { timeout: 240_000 }, async () => {
  const seed = Number(process.env.CONVEYOR_PROPERTY_SEED ?? 1313);
  const r = random(seed);
  const jobId = uniqueId('desk-random');
  await client.startJob({ id: jobId, type: 'support-ticket', input: { text: markedTicket('refund', { amountUsd: 450 }) } });
  const [approval] = await eventually(async () => {
    const pending = (await client.getStatus(jobId)).pendingApprovals;
    return pending.length ? pending : undefined;
  }, 60_000);
  const handle = client.temporal.workflow.getHandle(jobId);
  const refusals = (approvals: RecordedDecision[]) => approvals.filter((decision) => !decision.accepted).reduce((sum, decision) => sum + (decision.count ?? 1), 0);

  const payload = (i: number): unknown => {
    const shape = r.int(6);
    if (i % 10 === 0) return { approvalId: approval!.approvalId, decision: 'approve', reviewer: 'mallory', comment: r.text(900_000 + r.int(100_000)) };
    if (shape === 0) return r.json(0);
    if (shape === 1) return { approvalId: approval!.approvalId, decision: r.pick(['approve', 'reject', 'maybe']), reviewer: r.pick(['mallory', 'eve', '', 'alice ']), edits: r.json(1) };
    if (shape === 2) return { approvalId: approval!.approvalId, decision: 'approve', reviewer: 'alice', edits: { amountUsd: r.pick([1e308, -1, 'lots', null, 20_000]), action: r.pick(['refund', 'launch-missiles']) } };
    if (shape === 3) return r.text(r.int(50_000));
    if (shape === 4) return Array.from({ length: r.int(200) }, () => r.json(2));
    return { decision: { approvalId: approval!.approvalId, decision: 'reject', reviewer: r.pick(['alice', 'bob', 'carol']) }, refusal: r.text(r.int(2000)) };
  };

  let sentChars = 0;
  let sent = 0;
  for (let i = 0; i < 300; i++) {
    const value = payload(i);
    sentChars += JSON.stringify(value)?.length ?? 0;
    const before = refusals((await client.getRecord(jobId)).approvals);
    if (i % 10 === 7) {
      const outcome = await handle.executeUpdate('decide', { args: [value] }).then(() => 'accepted', () => 'refused');
      expect(outcome, `update ${i} (seed ${seed})`).toBe('refused');
      continue; // a refused update leaves nothing in the job's record
    }
    await handle.signal(r.next() < 0.5 ? 'decide' : 'decisionRefused', value);
    sent++;
    await eventually(async () => (refusals((await client.getRecord(jobId)).approvals) > before ? true : undefined), 60_000);
  }
  // a few tens of MB in all: thirty payloads of about 1 MB among the rest
  expect(sentChars).toBeGreaterThan(25_000_000);

  const status = await client.getStatus(jobId);
  expect(status.status).toBe('awaiting_approval');
  expect(status.pendingApprovals.map((pending) => pending.approvalId)).toEqual([approval!.approvalId]);
  expect(await worker.outbox.rows(jobId)).toEqual([]);
  const live = await client.getRecord(jobId);
  expect(refusals(live.approvals)).toBe(sent);
  // every refusal is counted, but at most 40 are kept (the README's bound, written here so a changed cap fails), then one record that counts the rest
  expect(live.approvals.length).toBeLessThanOrEqual(40 + 1);
  expect(live.approvals.some((decision) => decision.accepted)).toBe(false);
  // client reports name no reviewer; what a refused signal names is its own (self-asserted) claim, refused
  expect(live.approvals.filter((decision) => decision.via === 'client-report').every((decision) => decision.count !== undefined || decision.reviewer === 'client-report')).toBe(true);

  await client.decide(jobId, { approvalId: approval!.approvalId, decision: 'approve', reviewer: 'bob' });
  const result = await client.getResult(jobId);
  expect(result.status).toBe('completed');
  expect(JSON.stringify(result).length).toBeLessThan(256 * 1024);
  expect(await worker.outbox.rows(jobId)).toEqual([expect.objectContaining({ approvedBy: ['bob'] })]);
});
