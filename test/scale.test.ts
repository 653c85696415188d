/**
 * Scale: a 10,000-job batch of cheap local jobs completes through continue-as-new, and no workflow
 * history — the batch's runs or any job's — comes near Temporal's limits (at most 10,000 events).
 * CONVEYOR_SCALE_JOBS lowers the size for a quick local run; under CI a lower size fails the file.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConveyorClient } from '../client';
import { bundleConveyorWorkflows } from '../workers/worker';
import { startWorker, tempDir, testClient, testSettings, uniqueId, type RunningWorker } from './support/temporal';

const claimedJobs = 10_000;
const jobCount = Number(process.env.CONVEYOR_SCALE_JOBS ?? claimedJobs);
if (process.env.CI && jobCount < claimedJobs) {
  throw new Error(`CONVEYOR_SCALE_JOBS=${process.env.CONVEYOR_SCALE_JOBS} would shrink the README's ${claimedJobs}-job claim; CI runs it in full (unset it)`);
}
let worker: RunningWorker;
let client: ConveyorClient;
const settings = testSettings(uniqueId('scale'));

beforeAll(async () => {
  worker = await startWorker({ settings, bundle: await bundleConveyorWorkflows() });
  client = await testClient(settings);
});

afterAll(async () => {
  await client?.close();
  await worker?.stop();
});

describe('scale', () => {
  it(`runs a ${jobCount}-job batch to completion with every history under 10,000 events`, async () => {
    const batchId = uniqueId('scale-batch');
    const jobsFile = path.join(tempDir('scale'), 'jobs.jsonl');
    const intents = ['Where is my order #A{n}?', 'Please cancel order #B{n}', 'My card was charged twice for #C{n}', 'The app crashes when I log in', 'Do you ship to Norway?'];
    fs.writeFileSync(
      jobsFile,
      Array.from({ length: jobCount }, (_, index) =>
        JSON.stringify({ id: `${batchId}-${index}`, type: 'triage', input: { text: intents[index % intents.length]!.replace('{n}', String(index)) } }),
      ).join('\n'),
    );
    const startedAt = Date.now();
    await client.startBatch({ batchId, jobsFile, concurrency: 200, jobsPerRun: 500 });
    const result = await client.getBatchResult(batchId);
    const seconds = (Date.now() - startedAt) / 1000;
    console.log(`scale: ${jobCount} jobs in ${seconds.toFixed(1)} s (${(jobCount / seconds).toFixed(1)} jobs/s), ${result.runs} batch runs`);

    expect({ total: result.total, completed: result.completed, failed: result.failed, duplicates: result.duplicates }).toEqual({
      total: jobCount,
      completed: jobCount,
      failed: 0,
      duplicates: 0,
    });
    expect(result.runs).toBe(Math.ceil(jobCount / 500));

    let longest = { workflowId: '', historyLength: 0 };
    let seen = 0;
    for await (const execution of client.temporal.workflow.list({ query: `ConveyorBatchId = "${batchId}"` })) {
      seen++;
      if (execution.historyLength > longest.historyLength) longest = { workflowId: execution.workflowId, historyLength: execution.historyLength };
    }
    expect(seen).toBeGreaterThanOrEqual(jobCount + result.runs);
    expect(longest.historyLength).toBeLessThanOrEqual(10_000);
    console.log(`scale: longest history ${longest.historyLength} events (${longest.workflowId})`);
  }, 3_600_000);
});
