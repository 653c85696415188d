/**
 * Durability: the worker process is SIGKILLed twice in the middle of a 200-job batch and started
 * again. Every job completes, none is lost or acts twice, and no completed model call is paid
 * again — counted at the model provider, a fake OpenAI-protocol server at the outer boundary.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { Outbox } from '../activities/outbox';
import { startFakeOpenAI, type FakeServer } from './fakes/openai-server';
import { supportTicketAnswer } from './support/station-answers';
import { fakeModel } from './support/models';
import { eventually, tempDir, testClient, testSettings, uniqueId } from './support/temporal';
import { loadRegistry } from '../providers/registry';

const repoRoot = path.resolve(__dirname, '..');
const resources: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const release of resources.reverse()) await release();
});

function startWorkerProcess(env: NodeJS.ProcessEnv, logFile: string): ChildProcess {
  const log = fs.openSync(logFile, 'a');
  const child = spawn(path.join(repoRoot, 'node_modules', '.bin', 'tsx'), [path.join(repoRoot, 'workers', 'worker.ts')], {
    cwd: repoRoot,
    env,
    stdio: ['ignore', log, log],
  });
  fs.closeSync(log);
  resources.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return child;
}

describe('durability', () => {
  it('survives SIGKILL of the worker twice during a 200-job batch: nothing lost, nothing twice', async () => {
    const fake: FakeServer = await startFakeOpenAI(supportTicketAnswer);
    resources.push(() => fake.close());
    const settings = testSettings(uniqueId('durable'));
    const dataDir = tempDir('durable');
    const registryFile = path.join(dataDir, 'models.json');
    const local = loadRegistry({}).models.filter((model) => model.tier !== 'small');
    fs.writeFileSync(registryFile, JSON.stringify({ models: [fakeModel('small', fake.url), ...local] }));
    const workerEnv = {
      ...process.env,
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      TEMPORAL_NAMESPACE: settings.namespace,
      CONVEYOR_TASK_QUEUE: settings.taskQueue,
      CONVEYOR_DATA_DIR: dataDir,
      CONVEYOR_MODELS_FILE: registryFile,
    };
    const logFile = path.join(dataDir, 'worker.log');
    const outbox = new Outbox(path.join(dataDir, 'outbox.sqlite'));
    resources.push(() => outbox.close());
    const client = await testClient(settings);
    resources.push(() => client.close());

    const batchId = uniqueId('durable-batch');
    const jobs = Array.from({ length: 200 }, (_, index) => ({
      id: `${batchId}-${index}`,
      type: 'support-ticket',
      input: { text: `Please cancel my order #D${1000 + index}, I ordered it by mistake.` },
    }));
    let worker = startWorkerProcess(workerEnv, logFile);
    await client.startBatch({ batchId, jobs, concurrency: 20 });

    for (const killAt of [40, 110]) {
      await eventually(async () => (outbox.rows().length >= killAt ? true : undefined), 240_000);
      worker.kill('SIGKILL');
      await new Promise((resolve) => worker.once('exit', resolve));
      worker = startWorkerProcess(workerEnv, logFile);
    }

    const result = await client.getBatchResult(batchId);
    expect({ completed: result.completed, failed: result.failed, rejected: result.rejected, duplicates: result.duplicates }).toEqual({
      completed: 200,
      failed: 0,
      rejected: 0,
      duplicates: 0,
    });

    const rows = outbox.rows();
    expect(rows).toHaveLength(200);
    expect(new Set(rows.map((row) => row.idempotencyKey)).size).toBe(200);
    for (const job of jobs) {
      const orderId = /#(D\d+)/.exec(job.input.text)![1];
      expect(rows.find((row) => row.jobId === job.id)?.action).toMatchObject({ action: 'cancel-order', orderId });
    }

    // Three small-tier calls per job, each paid exactly once at the provider.
    const callsByPrompt = new Map<string, number>();
    for (const request of fake.requests) {
      const key = JSON.stringify((request.body as { messages: unknown }).messages);
      callsByPrompt.set(key, (callsByPrompt.get(key) ?? 0) + 1);
    }
    const repeated = [...callsByPrompt.values()].filter((count) => count > 1).length;
    expect(callsByPrompt.size).toBe(600);
    expect(repeated).toBe(0);
  }, 600_000);
});
