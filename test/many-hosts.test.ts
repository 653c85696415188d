/**
 * Many hosts, end to end (issue 20): the cluster `conveyor cluster up` runs (platform/cluster.ts: the
 * Temporal Server on PostgreSQL, not the dev server), two processes of the real worker entry point and a
 * client, each host with a data directory of its own and nothing on disk shared. Every shared thing goes
 * through CONVEYOR_DATABASE_URL; only configuration (the reviewers' public keys, the model variables, the
 * webhook's URL and secret) is given to each host.
 *
 * A 500-job support-ticket batch, claim-checked in PostgreSQL, runs on both workers: the medium tier is an
 * OpenAI-protocol model (a fake server at the outer boundary, so the response cache applies), some jobs
 * propose refunds above the threshold and wait until the client approves them with signed decisions, and
 * every action goes out as a signed webhook. Every job completes, each action reaches the receiver and is
 * processed once by its webhook-id, and both workers did work. Then worker A stops and worker B runs jobs
 * whose model inputs only A ever sent to the provider: the provider gets no new call, B's ledger says
 * cache hit, and the shared cache's counters count B's hits on the entries A wrote.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConveyorClient } from '../client';
import type { JobResult } from '../domain/job';
import { startFakeOpenAI, type FakeServer } from '../fakes/openai-server';
import { promptsOf } from '../fakes/station-answers';
import { startWebhookReceiver, type WebhookReceiver } from '../fakes/webhook-receiver';
import { INLINE_PAYLOAD_LIMIT_BYTES } from '../platform/claims';
import { openDatabase } from '../platform/postgres';
import { loadSettings } from '../platform/settings';
import { createPostgresCacheStore, type CacheStoreStats } from '../providers/cache';
import { clusterVariables, startTestCluster, type TestCluster } from './support/cluster';
import { markedTicketAnswer } from './support/desk';
import { tempDir, testClient, uniqueId } from './support/temporal';
import { startWorkerProcess, type WorkerProcess } from './support/worker-process';

const jobCount = 500;
const secret = `whsec_${randomBytes(24).toString('base64')}`;
const taskQueue = uniqueId('many-hosts');
const hosts = { a: tempDir('host-a'), b: tempDir('host-b'), client: tempDir('host-client') };

let cluster: TestCluster;
let fake: FakeServer;
let receiver: WebhookReceiver;
let client: ConveyorClient;
const workers: Partial<Record<'a' | 'b', WorkerProcess>> = {};
/** Every request the model provider received: which worker's key it carried, and its prompts. */
const received: Array<{ worker: string; system: string; user: string }> = [];
const timings: Record<string, number> = {};

/** The worker's variables: the cluster, the shared database, its own data dir, and configuration only. */
function workerEnvironment(name: 'a' | 'b'): NodeJS.ProcessEnv {
  return {
    ...clusterVariables(cluster),
    CONVEYOR_TASK_QUEUE: taskQueue,
    CONVEYOR_DATA_DIR: hosts[name],
    OPENAI_BASE_URL: fake.url,
    OPENAI_API_KEY: `key-of-${name}`,
    CONVEYOR_OPENAI_MODELS: 'medium=fake-medium',
    CONVEYOR_ACTIONS_WEBHOOK_URL: receiver.url,
    CONVEYOR_ACTIONS_WEBHOOK_SECRET: secret,
  };
}

const seconds = (since: number) => Math.round((Date.now() - since) / 100) / 10;

beforeAll(async () => {
  const startedAt = Date.now();
  [cluster, fake, receiver] = await Promise.all([
    startTestCluster('many-hosts'),
    startFakeOpenAI((request) => {
      const { system, user } = promptsOf(request);
      received.push({ worker: String(request.headers.authorization ?? ''), system, user });
      return markedTicketAnswer(request);
    }),
    startWebhookReceiver(),
  ]);
  timings.clusterStartS = seconds(startedAt);

  // Signed decisions: alice's public key is configuration each worker host gets in its own data dir; her
  // private key is the client host's.
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  for (const dir of [hosts.a, hosts.b]) fs.writeFileSync(path.join(dir, 'reviewer-keys.json'), JSON.stringify({ alice: publicKey.export({ type: 'spki', format: 'pem' }) }));
  const aliceKey = path.join(hosts.client, 'alice.pem');
  fs.writeFileSync(aliceKey, privateKey.export({ type: 'pkcs8', format: 'pem' }));

  const workersAt = Date.now();
  [workers.a, workers.b] = await Promise.all([startWorkerProcess('worker-a', workerEnvironment('a')), startWorkerProcess('worker-b', workerEnvironment('b'))]);
  timings.workersStartS = seconds(workersAt);
  client = await testClient(
    loadSettings({
      ...clusterVariables(cluster),
      CONVEYOR_TASK_QUEUE: taskQueue,
      CONVEYOR_DATA_DIR: hosts.client,
      CONVEYOR_REVIEWER: 'alice',
      CONVEYOR_REVIEWER_KEY_FILE: aliceKey,
    }),
  );
}, 180_000);

afterAll(async () => {
  console.log(`many hosts: ${JSON.stringify(timings)}`);
  await client?.close();
  await Promise.all(Object.values(workers).map((worker) => worker.stop()));
  await receiver?.close();
  await fake?.close();
  await cluster?.dispose();
  for (const dir of Object.values(hosts)) fs.rmSync(dir, { recursive: true, force: true });
}, 60_000);

/** The order id of job `index`, which every model prompt about it carries. */
const orderOf = (index: number) => `K${100_000 + index}`;
const cancellation = (index: number) =>
  `Please cancel my order #${orderOf(index)}. [act:cancel-order] [risk:low] I ordered it by mistake last night and I would like the whole order cancelled before it ships, ` +
  `so please stop the parcel and cancel the order for me (ticket ${index}). I do not need it any more and I will not be at home to receive it, so there is no point in sending it. ` +
  'Please confirm by email once the order has been cancelled and nothing will be charged. Thank you for your help with the cancellation.';
const refund = (index: number, amountUsd: number) =>
  `I want a refund for order #${orderOf(index)}. [act:refund:${amountUsd}] [risk:low] The item arrived damaged and does not work, so I would like my money back for it (ticket ${index}). ` +
  'I have kept the box, the receipt and the delivery note, and I can send photographs of the damage if you need them. Please refund the amount to the card I paid with as soon as you can, ' +
  'and let me know once the refund has been issued so that I can look out for it on my statement. Thank you for your help.';

/**
 * Tickets the local small models classify with confidence (the medium tier, the OpenAI-protocol model, drafts
 * the reply and proposes the action the markers ask for: desk.ts). Every tenth asks a refund above the $100
 * threshold, which a person approves; the others a small refund or a cancellation.
 */
function ticket(batchId: string, index: number) {
  const text = index % 10 === 0 ? refund(index, 450) : index % 3 === 0 ? refund(index, 40) : cancellation(index);
  return { id: `${batchId}-${index}`, type: 'support-ticket', input: { text } };
}

/** Approves, as alice with a signed decision, whatever waits on this task queue, until `done` says stop. */
async function approveWhileRunning(done: () => boolean): Promise<Set<string>> {
  const approved = new Set<string>();
  const refusals = new Set<string>();
  while (!done()) {
    for (const item of await client.listPending().catch(() => [])) {
      if (approved.has(`${item.jobId}/${item.approvalId}`)) continue;
      await client
        .decide(item.jobId, { approvalId: item.approvalId, decision: 'approve', comment: 'refund checked' })
        .then(() => approved.add(`${item.jobId}/${item.approvalId}`))
        .catch((error: unknown) => {
          // Decided already, or finished between the list and the decision; anything else is worth seeing when a job never finishes.
          if (!refusals.has(String(error))) console.warn(`many hosts: a decision was refused: ${String(error)}`);
          refusals.add(String(error));
        });
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return approved;
}

/** Each webhook-id the receiver saw, and how many deliveries carried it. */
function deliveriesById(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const delivery of receiver.deliveries) counts.set(delivery.id, (counts.get(delivery.id) ?? 0) + 1);
  return counts;
}

/** The fleet's cache counters, as the shared store keeps them. */
async function cacheStats(): Promise<CacheStoreStats> {
  const store = createPostgresCacheStore({ url: cluster.databaseUrl });
  try {
    return await store.stats();
  } finally {
    await store.close();
  }
}

const batchId = uniqueId('many-hosts');
const jobs = Array.from({ length: jobCount }, (_, index) => ticket(batchId, index));
let results: JobResult[] = [];

describe('many hosts sharing no files: two worker processes and a client on the cluster', () => {
  it(`run a claim-checked ${jobCount}-job batch with approvals and webhook actions: every job completes, each action is delivered once in effect, both workers work`, async () => {
    expect(Buffer.byteLength(jobs.map((job) => JSON.stringify(job)).join('\n'))).toBeGreaterThan(INLINE_PAYLOAD_LIMIT_BYTES);
    const startedAt = Date.now();
    await client.startBatch({ batchId, jobs, concurrency: 200 });

    // The batch request carries the claim (a PostgreSQL reference), not the jobs.
    const [started] = await client.temporal.workflow.getHandle(batchId).fetchHistory().then((history) => history.events ?? []);
    const request = JSON.parse(Buffer.from(started!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!.data!).toString()) as { jobs?: unknown[]; jobsFile?: string; jobsSha256?: string };
    expect(request.jobs).toBeUndefined();
    expect(request.jobsFile).toBe(`postgres:conveyor_claims/${request.jobsSha256}`);

    let finished = false;
    const approving = approveWhileRunning(() => finished);
    const batch = await client.getBatchResult(batchId).finally(() => (finished = true));
    const approved = await approving;
    timings.batchS = seconds(startedAt);
    expect({ total: batch.total, completed: batch.completed, failed: batch.failed }).toEqual({ total: jobCount, completed: jobCount, failed: 0 });

    results = await Promise.all(jobs.map((job) => client.getResult(job.id)));
    expect(results.every((result) => result.status === 'completed')).toBe(true);
    // The refunds above the threshold waited for alice, and her signed approval let them act.
    const refundsAbove = jobs.filter((_, index) => index % 10 === 0);
    for (const job of refundsAbove) {
      const result = results[jobs.indexOf(job)]!;
      expect(result.approvals.some((decision) => decision.decision === 'approve' && decision.reviewer === 'alice' && decision.accepted)).toBe(true);
    }
    expect(approved.size).toBeGreaterThanOrEqual(refundsAbove.length);

    // Every executed action reached the receiver, signed, and is processed once by its webhook-id.
    const executed = results.flatMap((result) => result.actions.filter((action) => action.outcome !== 'skipped').map((action) => action.idempotencyKey));
    expect(executed).toHaveLength(jobCount);
    expect(new Set(executed).size).toBe(executed.length);
    for (const key of executed) expect(receiver.processed.has(key), key).toBe(true);
    expect(receiver.processed.size).toBe(executed.length);
    const hook = new Webhook(secret);
    for (const delivery of receiver.processed.values()) expect(() => hook.verify(delivery.body, delivery.headers as Record<string, string>)).not.toThrow();
    const repeated = [...deliveriesById().values()].filter((count) => count > 1).length;
    const promptsAskedAgain = received.length - new Set(received.map((call) => `${call.system}\n${call.user}`)).size;

    // Webhook actions keep their receipt at the receiver: the shared action log (conveyor_action_receipts,
    // what localLog actions write) is never created on this fleet, and no host kept one of its own (below).
    const db = openDatabase(cluster.databaseUrl, { max: 1 });
    try {
      expect((await db.query<{ table: string | null }>("SELECT to_regclass('conveyor_action_receipts')::text AS table")).rows).toEqual([{ table: null }]);
    } finally {
      await db.close();
    }

    // Both workers did work: the provider saw calls carrying each worker's key.
    const byWorker = { a: received.filter((call) => call.worker === 'Bearer key-of-a').length, b: received.filter((call) => call.worker === 'Bearer key-of-b').length };
    expect(byWorker.a).toBeGreaterThan(0.1 * received.length);
    expect(byWorker.b).toBeGreaterThan(0.1 * received.length);
    console.log(
      `many hosts: ${jobCount} jobs in ${timings.batchS} s on the cluster, ${approved.size} approvals, ${executed.length} actions (${receiver.deliveries.length} deliveries, ${repeated} ids delivered more than once), provider calls ${JSON.stringify(byWorker)} (${promptsAskedAgain} prompts asked twice)`,
    );
  }, 300_000);

  it('share the cache: with worker A stopped, worker B answers from the entries A wrote, and the provider gets no new call', async () => {
    expect(results).toHaveLength(jobCount);
    await workers.a!.stop();
    // Tickets whose every model call only worker A ever sent (no approval needed, so B runs them alone).
    const onlyA = jobs
      .map((job, index) => ({ job, index }))
      .filter(({ index }) => index % 10 !== 0)
      .filter(({ index }) => {
        const calls = received.filter((call) => call.user.includes(orderOf(index)));
        return calls.length > 0 && calls.every((call) => call.worker === 'Bearer key-of-a');
      })
      .slice(0, 20);
    expect(onlyA).toHaveLength(20);
    const callsBefore = received.length;
    const statsBefore = await cacheStats();
    const startedAt = Date.now();

    const again = onlyA.map(({ job }) => ({ ...job, id: `${job.id}-again` }));
    await Promise.all(again.map((job) => client.startJob(job)));
    const answered = await Promise.all(again.map((job) => client.getResult(job.id)));
    timings.cachePhaseS = seconds(startedAt);

    expect(answered.every((result) => result.status === 'completed')).toBe(true);
    expect(received.length - callsBefore).toBe(0);
    // The medium tier's answers came from the entries A wrote (only A ever asked the provider those prompts);
    // the local steps' answers too, from whichever worker ran them first. Every lookup hit: no miss, no new entry.
    const remoteEntries = answered.flatMap((result) => result.ledger.filter((entry) => entry.modelId === 'openai-medium'));
    expect(remoteEntries.length).toBeGreaterThanOrEqual(2 * again.length);
    expect(remoteEntries.every((entry) => entry.cacheHit)).toBe(true);
    const hits = answered.flatMap((result) => result.ledger.filter((entry) => entry.cacheHit));
    const statsAfter = await cacheStats();
    // At least one hit per cached ledger entry (a local step re-run after a workflow task timed out reads again).
    expect(statsAfter.hits - statsBefore.hits).toBeGreaterThanOrEqual(hits.length);
    expect({ misses: statsAfter.misses - statsBefore.misses, newEntries: statsAfter.entries - statsBefore.entries }).toEqual({ misses: 0, newEntries: 0 });
    for (const job of again) expect(receiver.processed.has(`${job.id}:act`)).toBe(true);
    console.log(`many hosts: worker B answered ${remoteEntries.length} remote model calls from the entries worker A wrote and ${hits.length - remoteEntries.length} local ones from the cache (${timings.cachePhaseS} s; fleet cache before ${JSON.stringify(statsBefore)}, after ${JSON.stringify(statsAfter)})`);
  }, 120_000);

  it('left none of the shared state on any host: no claims, action log, observations or cache in a data dir, no secret in a log', () => {
    // Each host's data dir holds the configuration it was given, and nothing it wrote.
    const given: Record<keyof typeof hosts, string[]> = { a: ['reviewer-keys.json'], b: ['reviewer-keys.json'], client: ['alice.pem'] };
    for (const [host, dir] of Object.entries(hosts) as Array<[keyof typeof hosts, string]>) {
      for (const shared of ['claims', 'outbox.sqlite', 'observations.sqlite', 'cache.sqlite', 'temporal.sqlite']) expect(fs.existsSync(path.join(dir, shared)), `${host}: ${shared}`).toBe(false);
      expect(fs.readdirSync(dir).sort(), host).toEqual(given[host]);
    }
    for (const worker of Object.values(workers)) {
      expect(worker.output()).toContain('conveyor worker:');
      expect(worker.output().includes(secret.slice('whsec_'.length))).toBe(false);
      expect(worker.output().includes(new URL(cluster.databaseUrl).password)).toBe(false);
    }
  });
});
