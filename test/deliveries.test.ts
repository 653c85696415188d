/**
 * Approved actions reach the team's systems (issue 17): a `webhookAction` POSTs a Standard Webhooks
 * envelope to a receiver the test starts, verified with the `standardwebhooks` package (not Conveyor's
 * code); the delivery loop retries 5xx and 429 (after Retry-After) with one webhook-id; a refused
 * delivery or a team's `execute` that cannot succeed waits as `action_failed` for a reviewer, who
 * retries, edits and retries, skips or rejects; secrets rotate; nothing is lost and no secret is kept.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConveyorClient, type PendingApproval } from '../index';
import { pendingApprovalsQuery, recordQuery } from '../workflow';
import { ConveyorStatus } from '../domain/search-attributes';
import { bundleConveyorWorkflows, factoryFromSettings } from '../workers/worker';
import { loadSettings } from '../platform/settings';
import { startWebhookReceiver, type Delivery, type ReceiverAnswer, type WebhookReceiver } from '../fakes/webhook-receiver';
import { deliveriesFactory } from './fixtures/factories/deliveries';
import { cliEnvironment, conveyor } from './support/cli';
import { eventually, finishedAuditTrail, recordHistory, startWorker, testSettings, uniqueId, type RunningWorker } from './support/temporal';

const newSecret = () => `whsec_${randomBytes(24).toString('base64')}`;
const verifies = (secret: string, delivery: Delivery, body = delivery.body) => {
  try {
    new Webhook(secret).verify(body, { 'webhook-id': delivery.id, 'webhook-timestamp': delivery.timestamp, 'webhook-signature': delivery.signature });
    return true;
  } catch {
    return false;
  }
};

/** What the receiver answers, per job (the request's title names the job's scenario). */
const scenarios = new Map<string, (delivery: Delivery, earlier: number) => ReceiverAnswer>();
const byScenario = (delivery: Delivery, earlier: number): ReceiverAnswer => {
  const title = typeof delivery.envelope.data.title === 'string' ? delivery.envelope.data.title : '';
  const scenario = [...scenarios.entries()].find(([prefix]) => title.startsWith(prefix))?.[1];
  return scenario ? scenario(delivery, earlier) : { status: 200, body: { id: `N-${delivery.envelope.jobId}` } };
};

let bundle: WorkflowBundleWithSourceMap;
let receiver: WebhookReceiver;
let worker: RunningWorker;
let client: ConveyorClient;
const secretEnv = 'DELIVERIES_WEBHOOK_SECRET';
const oldSecret = newSecret();
const rotatedSecret = newSecret();
/** The worker's environment: the test rotates the secret in it, and the worker reads it at each attempt. */
const workerEnv: Record<string, string | undefined> = { [secretEnv]: oldSecret };
const settings = testSettings(uniqueId('deliveries'));
const testStart = new Date();
const auditWindow = () => ({ since: testStart, taskQueue: settings.taskQueue });

beforeAll(async () => {
  bundle = await bundleConveyorWorkflows({ engineOnly: true });
  receiver = await startWebhookReceiver(byScenario);
  const factory = deliveriesFactory({ url: receiver.url, secretEnv, retry: { maximumAttempts: 4, initialIntervalMs: 300, maximumIntervalMs: 1000 } });
  worker = await startWorker({ settings, bundle, factory, env: workerEnv });
  client = await ConveyorClient.connect({ settings, factory });
}, 120_000);

afterAll(async () => {
  await client?.close();
  await worker?.stop();
  await receiver?.close();
});

function pendingOf(jobId: string, kind?: PendingApproval['kind']): Promise<PendingApproval> {
  return eventually(async () => (await client.jobHandle(jobId).query(pendingApprovalsQuery).catch(() => [] as PendingApproval[])).find((approval) => !kind || approval.kind === kind), 60_000);
}

async function startNotice(prefix: string, sensitive = false): Promise<string> {
  const jobId = uniqueId(prefix);
  await client.startJob({ id: jobId, type: 'send-notice', input: { request: `${prefix} ${jobId}`, sensitive } });
  return jobId;
}

describe('a webhook action', () => {
  it('arrives signed per Standard Webhooks: the package verifies it, a tampered body or a wrong secret does not', async () => {
    const jobId = await startNotice('plain');
    const result = await client.getResult(jobId);
    expect(result.status).toBe('completed');
    const [delivery, ...more] = receiver.of(jobId);
    expect(more).toEqual([]);
    expect(delivery!.id).toBe(`${jobId}:send`);
    expect(delivery!.headers['x-team']).toBe('deliveries');
    expect(delivery!.envelope).toEqual({ type: 'conveyor.action.send-notice', timestamp: expect.any(String) as unknown, data: { title: `plain ${jobId}`.slice(0, 40), body: `Notice: plain ${jobId}`, sensitive: false }, jobId, stepId: 'send', idempotencyKey: `${jobId}:send`, approvers: [] });
    expect(verifies(oldSecret, delivery!)).toBe(true);
    expect(verifies(oldSecret, delivery!, delivery!.body.replace('Notice', 'NOTICE'))).toBe(false);
    expect(verifies(newSecret(), delivery!)).toBe(false);
    // The receiver's id is the receipt: in the record, and in the audit export.
    expect(result.actions).toEqual([expect.objectContaining({ idempotencyKey: `${jobId}:send`, receipt: { status: 200, id: `N-${jobId}` }, attempts: 1 })]);
    expect(result.actionLedger).toEqual([expect.objectContaining({ attempt: 1, outcome: 'executed', idempotencyKey: `${jobId}:send` })]);
    const trail = await finishedAuditTrail(client, auditWindow(), jobId);
    expect(trail.find((record) => record.kind === 'action')?.detail).toContain(`receipt {"status":200,"id":"N-${jobId}"}`);
  });

  it('500, 500, then 200: one effective action, three attempts under one webhook-id, all in the ledger', async () => {
    scenarios.set('flaky', (_delivery, earlier) => (earlier < 2 ? { status: 500, body: 'upstream down' } : { status: 200, body: { id: 'N-flaky' } }));
    const jobId = await startNotice('flaky');
    const result = await client.getResult(jobId);
    expect(result.status).toBe('completed');
    const deliveries = receiver.of(jobId);
    expect(deliveries.map((delivery) => delivery.id)).toEqual([`${jobId}:send`, `${jobId}:send`, `${jobId}:send`]);
    expect(deliveries.every((delivery) => delivery.body === deliveries[0]!.body)).toBe(true);
    expect(deliveries.every((delivery) => verifies(oldSecret, delivery))).toBe(true);
    expect([...receiver.processed.keys()].filter((id) => id.startsWith(jobId))).toEqual([`${jobId}:send`]);
    expect(result.actionLedger!.map((entry) => [entry.attempt, entry.outcome, entry.status ?? null])).toEqual([
      [1, 'retrying', 500],
      [2, 'retrying', 500],
      [3, 'executed', null],
    ]);
    expect(result.actions).toEqual([expect.objectContaining({ attempts: 3, receipt: { status: 200, id: 'N-flaky' } })]);
    const trail = await finishedAuditTrail(client, auditWindow(), jobId);
    expect(trail.filter((record) => record.kind === 'action-attempt').map((record) => record.detail)).toEqual([
      expect.stringContaining('attempt 1 (key') as unknown,
      expect.stringContaining('attempt 2 (key') as unknown,
      expect.stringContaining('attempt 3 (key') as unknown,
    ]);
    await recordHistory(client, jobId, 'webhook-retried');
  });

  it('429 with Retry-After: 2: the next attempt comes between 2 and 5 s later', async () => {
    scenarios.set('throttled', (_delivery, earlier) => (earlier === 0 ? { status: 429, headers: { 'retry-after': '2' }, body: 'slow down' } : { status: 200 }));
    const jobId = await startNotice('throttled');
    const result = await client.getResult(jobId);
    expect(result.status).toBe('completed');
    const [first, second] = receiver.of(jobId);
    const gap = second!.receivedAt - first!.receivedAt;
    console.log(`retry-after: the second attempt came ${gap} ms after the 429`);
    expect(gap).toBeGreaterThanOrEqual(2000);
    expect(gap).toBeLessThanOrEqual(5000);
    expect(result.actionLedger![0]).toEqual(expect.objectContaining({ status: 429, retryInMs: 2000, retryAfterHonoured: true }));
  });

  it('signs twice during a secret rotation (old and new verify), and with the new secret only after it', async () => {
    workerEnv[secretEnv] = `${rotatedSecret} ${oldSecret}`;
    const during = await startNotice('rotating');
    expect((await client.getResult(during)).status).toBe('completed');
    const [rotating] = receiver.of(during);
    expect(rotating!.signature.split(' ')).toHaveLength(2);
    expect(verifies(oldSecret, rotating!)).toBe(true);
    expect(verifies(rotatedSecret, rotating!)).toBe(true);

    workerEnv[secretEnv] = rotatedSecret;
    const after = await startNotice('rotated');
    expect((await client.getResult(after)).status).toBe('completed');
    const [rotated] = receiver.of(after);
    expect(verifies(rotatedSecret, rotated!)).toBe(true);
    expect(verifies(oldSecret, rotated!)).toBe(false);
  });
});

describe('a failed action is a decision, not a dead job', () => {
  it('400: waits as action_failed with the status and body as evidence; a retry after the fix delivers under the same id', async () => {
    let fixed = false;
    scenarios.set('refused', () => (fixed ? { status: 200, body: { id: 'N-fixed' } } : { status: 400, body: { error: 'field "title" is not allowed here' } }));
    const jobId = await startNotice('refused');
    const failed = await pendingOf(jobId, 'action-failed');
    expect(receiver.of(jobId)).toHaveLength(1); // a 400 is not retried
    expect(failed.evidence.failure).toEqual(expect.objectContaining({ status: 400, attempts: 1, idempotencyKey: `${jobId}:send` }));
    expect(failed.evidence.failure!.bodyExcerpt).toContain('field \\"title\\" is not allowed here');
    expect(failed.reviewers).toEqual(['alice', 'bob']);
    const status = await eventually(async () => {
      const value = (await client.temporal.workflow.getHandle(jobId).describe()).typedSearchAttributes.get(ConveyorStatus);
      return value === 'action_failed' ? value : undefined;
    });
    expect(status).toBe('action_failed');
    // approve is not a decision on a failed action, and a skip needs its reason.
    await expect(client.decide(jobId, { approvalId: failed.approvalId, decision: 'approve', reviewer: 'alice' })).rejects.toThrow(/retry \(edits allowed\), skip/);
    await expect(client.decide(jobId, { approvalId: failed.approvalId, decision: 'skip', reviewer: 'alice' })).rejects.toThrow(/skip needs a comment/);
    await expect(client.decide(jobId, { approvalId: failed.approvalId, decision: 'retry', reviewer: 'mallory' })).rejects.toThrow(/may not decide/);

    fixed = true;
    await client.decide(jobId, { approvalId: failed.approvalId, decision: 'retry', reviewer: 'bob', comment: 'the board accepts titles again' });
    const result = await client.getResult(jobId);
    expect(result.status).toBe('completed');
    expect(receiver.of(jobId).map((delivery) => delivery.id)).toEqual([`${jobId}:send`, `${jobId}:send`]);
    expect(result.actions).toEqual([expect.objectContaining({ idempotencyKey: `${jobId}:send`, receipt: { status: 200, id: 'N-fixed' }, attempts: 2 })]);
    expect(result.actionLedger!.map((entry) => [entry.attempt, entry.outcome, entry.status ?? null])).toEqual([
      [1, 'failed', 400],
      [2, 'executed', null],
    ]);
  });

  it('400, then an edit and retry: the edited proposal is a new revision, approved again, delivered under a new id', async () => {
    scenarios.set('edited', (delivery) => (delivery.envelope.data.body === 'fixed body' ? { status: 200, body: { id: 'N-edited' } } : { status: 422, body: 'body rejected' }));
    const jobId = await startNotice('edited');
    const failed = await pendingOf(jobId, 'action-failed');
    // The edit makes the notice sensitive: the revision waits for a second reviewer under the desk's rules.
    await client.decide(jobId, { approvalId: failed.approvalId, decision: 'retry', reviewer: 'alice', edits: { body: 'fixed body', sensitive: true } });
    const revision = await pendingOf(jobId, 'action');
    expect(revision).toEqual(expect.objectContaining({ supersedes: failed.approvalId, editedBy: 'alice', revision: 2, proposedAction: expect.objectContaining({ body: 'fixed body' }) as unknown }));
    expect(receiver.of(jobId)).toHaveLength(1);
    await client.decide(jobId, { approvalId: revision.approvalId, decision: 'approve', reviewer: 'bob' });
    const result = await client.getResult(jobId);
    expect(result.status).toBe('completed');
    const ids = receiver.of(jobId).map((delivery) => delivery.id);
    expect(ids).toEqual([`${jobId}:send`, `${jobId}:send:r2`]);
    expect(receiver.of(jobId)[1]!.envelope).toEqual(expect.objectContaining({ approvers: ['bob'], data: expect.objectContaining({ body: 'fixed body' }) as unknown }));
    expect(result.actions).toEqual([expect.objectContaining({ idempotencyKey: `${jobId}:send:r2`, receipt: { status: 200, id: 'N-edited' } })]);
    await recordHistory(client, jobId, 'webhook-edited-after-failure');
  });

  it('400, then a skip with a reason: the job completes with the skip recorded; a reject ends it rejected', async () => {
    scenarios.set('skipped', () => ({ status: 404, body: 'no such board' }));
    const jobId = await startNotice('skipped');
    const failed = await pendingOf(jobId, 'action-failed');
    // From the command line, as a reviewer at a terminal decides (CONVEYOR_FACTORY: the CLI checks jobs against it).
    const cli = cliEnvironment(settings, { CONVEYOR_FACTORY: 'test/fixtures/factories/deliveries.ts' });
    const pending = await conveyor(['pending', '--json'], cli);
    expect(pending.json<{ jobId: string; kind: string }[]>().filter((item) => item.jobId === jobId)).toEqual([expect.objectContaining({ kind: 'action-failed' })]);
    const refused = await conveyor(['skip', jobId, '--by', 'alice'], cli);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--reason');
    const skipped = await conveyor(['skip', jobId, '--by', 'alice', '--reason', 'the board was retired; posted by hand', '--json'], cli);
    expect(skipped.json()).toEqual(expect.objectContaining({ jobId, approvalId: failed.approvalId, decision: 'skip', accepted: true, settled: true }));
    const result = await client.getResult(jobId);
    expect(result.status).toBe('completed');
    expect(result.actions).toEqual([expect.objectContaining({ outcome: 'skipped', skipReason: 'the board was retired; posted by hand', skippedBy: 'alice', attempts: 1 })]);
    const trail = await finishedAuditTrail(client, auditWindow(), jobId);
    expect(trail.find((record) => record.kind === 'action')).toEqual(expect.objectContaining({ actor: 'alice', detail: expect.stringContaining('skipped') as unknown }));
    expect(trail.find((record) => record.kind === 'action-attempt')?.detail).toContain('HTTP 404');

    const rejectedId = await startNotice('skipped-then-rejected');
    const again = await pendingOf(rejectedId, 'action-failed');
    await client.decide(rejectedId, { approvalId: again.approvalId, decision: 'reject', reviewer: 'bob', comment: 'not needed' });
    expect((await client.getResult(rejectedId)).status).toBe('rejected');
  });

  it('503 on every attempt: after the action\'s attempts it waits for a person; a timeout escalates it and never skips it', async () => {
    scenarios.set('down', () => ({ status: 503, body: 'maintenance' }));
    const jobId = uniqueId('down');
    await client.startJob({ id: jobId, type: 'send-notice', input: { request: `down ${jobId}`, sensitive: false }, policy: { approvalTimeoutMs: 1500 } });
    const failed = await pendingOf(jobId, 'action-failed');
    expect(receiver.of(jobId)).toHaveLength(4); // retry.maximumAttempts of the fixture
    expect(failed.evidence.failure).toEqual(expect.objectContaining({ status: 503, attempts: 4 }));
    expect(failed.evidence.reason).toContain('failed 4 attempt(s) in a row');
    // The approval policy escalates on timeout (to carol); after that the failed action waits, however long.
    const escalated = await eventually(async () => {
      const [approval] = await client.jobHandle(jobId).query(pendingApprovalsQuery);
      return approval?.reviewers.includes('carol') ? approval : undefined;
    }, 30_000);
    expect(escalated.approvalId).toBe(failed.approvalId);
    await new Promise((resolve) => setTimeout(resolve, 3500));
    const description = await client.temporal.workflow.getHandle(jobId).describe();
    expect(description.status.name).toBe('RUNNING');
    expect(description.typedSearchAttributes.get(ConveyorStatus)).toBe('action_failed');
    const record = await client.jobHandle(jobId).query(recordQuery);
    expect(record.actions).toEqual([]);
    expect(record.decisions.map((decision) => decision.reason)).toContain('timed out; a failed action waits for a reviewer (a timeout never skips or rejects it)');
    await client.decide(jobId, { approvalId: failed.approvalId, decision: 'reject', reviewer: 'carol', comment: 'board is gone' });
    expect((await client.getResult(jobId)).status).toBe('rejected');
  });

  it("a team's execute: a refusal waits for the same decision, a transient error is retried", async () => {
    const refused = uniqueId('book-refused');
    await client.startJob({ id: refused, type: 'book-slot', input: { request: 'room 4', mode: 'refused' } });
    const failed = await pendingOf(refused, 'action-failed');
    expect(failed.evidence.failure).toEqual(expect.objectContaining({ status: 404, attempts: 1, error: expect.stringContaining('does not exist') as unknown }));
    await client.decide(refused, { approvalId: failed.approvalId, decision: 'skip', reviewer: 'alice', comment: 'no such room' });
    expect((await client.getResult(refused)).actions[0]).toEqual(expect.objectContaining({ outcome: 'skipped' }));

    const flaky = uniqueId('book-flaky');
    await client.startJob({ id: flaky, type: 'book-slot', input: { request: 'room 5', mode: 'flaky' } });
    const result = await client.getResult(flaky);
    expect(result.status).toBe('completed');
    expect(result.actionLedger!.map((entry) => entry.outcome)).toEqual(['retrying', 'retrying', 'executed']);
    expect(result.actionLedger![1]).toEqual(expect.objectContaining({ retryInMs: 500, retryAfterHonoured: true }));
    expect(result.actions[0]!.receipt).toEqual({ bookingId: `B-${flaky}:book`, attempt: 3 });
  });

  it('keeps no secret in the data dir, the histories or the records', async () => {
    const secrets = [oldSecret, rotatedSecret, oldSecret.slice('whsec_'.length), rotatedSecret.slice('whsec_'.length)];
    const files = fs.readdirSync(settings.dataDir, { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile()).map((entry) => path.join(entry.parentPath, entry.name));
    expect(files.length).toBeGreaterThan(0);
    const jobIds = [...new Set(receiver.deliveries.map((delivery) => delivery.envelope.jobId))];
    expect(jobIds.length).toBeGreaterThan(5);
    const histories: string[] = [];
    // Payloads as the text they hold (the history's JSON keeps them in base64).
    const asText = (key: string, value: unknown) => (key === 'data' && typeof value === 'string' ? Buffer.from(value, 'base64').toString('utf8') : value);
    for (const jobId of jobIds) histories.push(JSON.stringify(await client.temporal.workflow.getHandle(jobId).fetchHistory(), asText));
    // The check reads the payloads. text (a history holds each job's idempotency key in the clear).
    expect(histories.every((history, index) => history.includes(`${jobIds[index]}:send`) || history.includes(`${jobIds[index]}:book`))).toBe(true);
    for (const secret of secrets) {
      for (const file of files) expect(fs.readFileSync(file).includes(secret), `${file} holds a secret`).toBe(false);
      for (const history of histories) expect(history.includes(secret)).toBe(false);
    }
  });
});

describe('the built-in factory with CONVEYOR_ACTIONS_WEBHOOK_URL', () => {
  it('delivers its act step as a signed webhook instead of the local action log', async () => {
    const secret = newSecret();
    const builtinSettings = testSettings(uniqueId('builtin-webhook'));
    // What `conveyor worker` does with these variables set (and no CONVEYOR_FACTORY).
    const factory = factoryFromSettings(loadSettings({ CONVEYOR_ACTIONS_WEBHOOK_URL: receiver.url, CONVEYOR_ACTIONS_WEBHOOK_SECRET_ENV: 'SUPPORT_HOOK_SECRET' }));
    expect(factory.name).toBe('support');
    const builtin = await startWorker({ settings: builtinSettings, bundle, factory, env: { SUPPORT_HOOK_SECRET: secret } });
    const builtinClient = await ConveyorClient.connect({ settings: builtinSettings });
    try {
      const jobId = uniqueId('builtin-cancel');
      await builtinClient.startJob({ id: jobId, type: 'support-ticket', input: { text: 'Please cancel my order #A4001' } });
      const result = await builtinClient.getResult(jobId);
      expect(result.status).toBe('completed');
      const [delivery] = receiver.of(jobId);
      expect(delivery!.envelope).toEqual(expect.objectContaining({ type: 'conveyor.action.act', stepId: 'act', data: expect.objectContaining({ action: 'cancel-order', orderId: 'A4001' }) as unknown }));
      expect(verifies(secret, delivery!)).toBe(true);
      expect(await builtin.outbox.rows(jobId)).toEqual([]);
      expect(result.actions).toEqual([expect.objectContaining({ idempotencyKey: `${jobId}:act`, receipt: { status: 200, id: `N-${jobId}` } })]);
    } finally {
      await builtinClient.close();
      await builtin.stop();
    }
  });
});
