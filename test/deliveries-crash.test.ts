/**
 * Deliveries through a worker crash (issue 17): a 100-job batch whose every job sends a webhook, the
 * worker SIGKILLed while deliveries are in flight, a new worker started. Every action is received at
 * least once and processed once by a receiver that dedupes on `webhook-id`, no job is lost, and the
 * workers' logs and data dir hold no secret. The counts are printed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ConveyorClient } from '../index';
import { startWebhookReceiver, type WebhookReceiver } from '../fakes/webhook-receiver';
import crashFactory from './fixtures/factories/deliveries';
import { cliEnvironment, conveyorBin, repoRoot, startWorkerProcess } from './support/cli';
import { eventually, testSettings, uniqueId } from './support/temporal';

const JOBS = 100;
const secret = `whsec_${randomBytes(24).toString('base64')}`;
const settings = testSettings(uniqueId('deliveries-crash'));
let receiver: WebhookReceiver;
let client: ConveyorClient;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  // Slow answers keep deliveries in flight when the worker dies.
  receiver = await startWebhookReceiver(() => ({ status: 200, body: { id: 'ok' }, delayMs: 400 }));
  client = await ConveyorClient.connect({ settings, factory: crashFactory });
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  await client?.close();
  await receiver?.close();
});

describe('deliveries through a SIGKILLed worker', () => {
  it('receives every action at least once, processes each once, loses no job', async () => {
    const env = cliEnvironment(settings, { DELIVERIES_URL: receiver.url, DELIVERIES_WEBHOOK_SECRET: secret });
    const startWorker = () => startWorkerProcess(conveyorBin, ['worker', '--factory', 'test/fixtures/factories/deliveries.ts'], { cwd: repoRoot, env, readyLine: 'conveyor worker: factory deliveries', timeoutMs: 90_000 });
    const first = await startWorker();
    cleanups.push(() => first.stop());
    const batchId = uniqueId('crash-batch');
    const jobs = Array.from({ length: JOBS }, (_, index) => ({ id: `${batchId}-${index}`, type: 'send-notice', input: { request: `notice ${index} of ${batchId}`, sensitive: false } }));
    await client.startBatch({ batchId, jobs, concurrency: 50 });
    await eventually(async () => (receiver.deliveries.length >= 20 ? true : undefined), 120_000);
    const inFlightAtKill = receiver.deliveries.length - receiver.processed.size;
    await first.kill();
    const receivedAtKill = receiver.deliveries.length;
    const second = await startWorker();
    cleanups.push(() => second.stop());

    const result = await client.getBatchResult(batchId);
    const ids = jobs.map((job) => `${job.id}:send`);
    const received = new Set(receiver.deliveries.map((delivery) => delivery.id));
    const duplicates = receiver.deliveries.filter((delivery) => ids.includes(delivery.id)).length - ids.filter((id) => received.has(id)).length;
    console.log(
      `deliveries-crash: ${JOBS} jobs, ${result.completed} completed, ${result.failed} failed; ${receiver.deliveries.length} deliveries received ` +
        `(${receivedAtKill} before the SIGKILL, ${inFlightAtKill} of them unanswered), ${receiver.processed.size} processed once, ${duplicates} redelivered and dropped by webhook-id`,
    );
    expect(result.total).toBe(JOBS);
    expect(result.completed).toBe(JOBS);
    expect(result.failed).toBe(0);
    expect(ids.filter((id) => !received.has(id))).toEqual([]);
    expect([...receiver.processed.keys()].sort()).toEqual([...ids].sort());
    for (const job of jobs.slice(0, 5)) expect((await client.getResult(job.id)).actions).toEqual([expect.objectContaining({ idempotencyKey: `${job.id}:send`, receipt: { status: 200, id: 'ok' } })]);

    // No secret in what the workers printed or the data dir they wrote.
    for (const output of [first.output(), second.output()]) expect(output.includes(secret) || output.includes(secret.slice('whsec_'.length))).toBe(false);
    // Nor in any SQLite file: the workers' data dir and the embedded Temporal server's database (every history).
    const serverDir = inject('temporalDataDir');
    const filesIn = (dir: string) => fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile()).map((entry) => path.join(entry.parentPath, entry.name));
    const files = [...filesIn(settings.dataDir), ...(serverDir ? filesIn(serverDir) : [])];
    expect(files.some((file) => file.includes('temporal.sqlite')) || !serverDir).toBe(true);
    for (const file of files) expect(fs.readFileSync(file).includes(secret.slice('whsec_'.length)), file).toBe(false);
  }, 300_000);
});
