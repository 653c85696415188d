/**
 * The old branch of each `patched()` point, run live. A worker that leaves a patch inactive
 * (Worker option patchActivationCallback) takes the branch the code took before the patch and records
 * no patch marker — the histories that workers predating the patch left behind. With
 * CONVEYOR_RECORD_HISTORIES=1 they become replay fixtures; test/replay.test.ts replays them on today's
 * code and fails when a patch id has no fixture for one of its branches.
 *
 * triage-low-confidence-escalation-code-71a06ca.json and triage-human-review-code-71a06ca.json were
 * recorded by the code as it was before collect-examples (commit 71a06ca, checked out with
 * `git worktree add` and its own factory test run with CONVEYOR_RECORD_HISTORIES=1): they replay on the
 * old branch as the histories below do.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { ConveyorClient, JobRequest } from '../client';
import { defaultExampleStoreFile, ExampleStore } from '../learning/example-store';
import { bundleConveyorWorkflows } from '../workers/worker';
import { answers, startFakeOpenAI, type FakeServer } from '../fakes/openai-server';
import { registryWithFakeTiers, requestedModel } from './support/models';
import { BATCH_SLOTS_PATCH } from '../workflows/batch';
import { eventually, maxRunningAtOnce, recordHistory, startWorker, testClient, testSettings, uniqueId } from './support/temporal';

let bundle: WorkflowBundleWithSourceMap;
const opened: { close(): Promise<void> | void }[] = [];

beforeAll(async () => {
  bundle = await bundleConveyorWorkflows();
});

afterAll(async () => {
  for (const resource of opened.reverse()) await resource.close();
});

/** The patches that came after collect-examples: code predating it had none of them either. */
const laterPatches = ['approval-desk-revisions', 'signed-decisions'];

/** A worker predating the given patches, its tiers served by a fake OpenAI-protocol server. */
async function workerWithout(inactivePatches: string[], fake: FakeServer, fakeTiers: ('small' | 'medium' | 'large')[]) {
  const settings = testSettings(uniqueId('unpatched'));
  const worker = await startWorker({ settings, bundle, gateway: { registry: registryWithFakeTiers(fake.url, fakeTiers), rateLimiter: null }, inactivePatches });
  const client: ConveyorClient = await testClient(settings);
  opened.push({ close: () => worker.stop() }, { close: () => client.close() });
  return { settings, client };
}

/** These patches are the first job workflow's: the jobs start on that (frozen) workflow type, as they did then. */
async function startLegacyJob(client: ConveyorClient, request: JobRequest): Promise<void> {
  await client.temporal.workflow.start('jobWorkflow', { workflowId: request.id, taskQueue: client.taskQueue, args: [request] });
}

async function patchMarkers(client: ConveyorClient, jobId: string): Promise<string[]> {
  const history = await client.temporal.workflow.getHandle(jobId).fetchHistory();
  return (history.events ?? []).flatMap((event) => (event.markerRecordedEventAttributes?.markerName === 'core_patch' ? [JSON.stringify(event.markerRecordedEventAttributes.details)] : []));
}

function examplesOf(dataDir: string, jobId: string) {
  const store = new ExampleStore(defaultExampleStoreFile(dataDir));
  try {
    return store.examples('classify-intent').filter((example) => example.jobId === jobId);
  } finally {
    store.close();
  }
}

describe('before collect-examples', () => {
  it('an escalated answer is accepted as before, and no training example is collected', async () => {
    const fake = await startFakeOpenAI((request) =>
      requestedModel(request.body) === 'fake-small'
        ? answers.json({ intent: 'order_status', confidence: 0.3, alternatives: [] })
        : answers.json({ intent: 'refund_request', confidence: 0.96, alternatives: [] }),
    );
    opened.push(fake);
    const { client, settings } = await workerWithout(['collect-examples', ...laterPatches], fake, ['small', 'medium']);
    const jobId = uniqueId('low-confidence-unpatched');
    await startLegacyJob(client, { id: jobId, type: 'triage', input: { text: 'money back?' } });
    const result = await client.getResult(jobId);
    expect(result.ledger.map((entry) => [entry.modelId, entry.outcome])).toEqual([
      ['fake-small', 'escalated'],
      ['fake-medium', 'accepted'],
    ]);
    expect(result.outputs.intent).toMatchObject({ intent: 'refund_request' });
    expect(examplesOf(settings.dataDir, jobId)).toEqual([]);
    expect(await patchMarkers(client, jobId)).toEqual([]);
    await recordHistory(client, jobId, 'triage-low-confidence-escalation-before-collect-examples');
  });

  it('a reviewer’s correction is applied as before, and no training example is collected', async () => {
    const fake = await startFakeOpenAI([answers.json({ intent: 'not-an-intent', confidence: 2 })]);
    opened.push(fake);
    const { client, settings } = await workerWithout(['collect-examples', ...laterPatches], fake, ['small', 'medium', 'large']);
    const jobId = uniqueId('review-unpatched');
    await startLegacyJob(client, { id: jobId, type: 'triage', input: { text: 'gibberish ticket' } });
    const [review] = await eventually(async () => {
      const status = await client.getStatus(jobId);
      return status.pendingApprovals.length > 0 ? status.pendingApprovals : undefined;
    }, 60_000);
    expect(review).toMatchObject({ kind: 'review', station: 'classify-intent' });
    await client.decide(jobId, { approvalId: review!.approvalId, decision: 'approve', reviewer: 'alice', edits: { intent: 'complaint', confidence: 1, alternatives: [] } });
    const result = await client.getResult(jobId);
    expect(result.status).toBe('completed');
    expect(result.outputs.intent).toEqual({ intent: 'complaint', confidence: 1, alternatives: [] });
    expect(result.topTier).toBe('human');
    expect(examplesOf(settings.dataDir, jobId)).toEqual([]);
    expect(await patchMarkers(client, jobId)).toEqual([]);
    await recordHistory(client, jobId, 'triage-human-review-before-collect-examples');
  });
});

describe('before batch slots', () => {
  it('a batch waits for a free slot by racing its running jobs, as before, with the same bound', async () => {
    const settings = testSettings(uniqueId('unpatched-batch'));
    const worker = await startWorker({ settings, bundle, inactivePatches: [BATCH_SLOTS_PATCH] });
    const client = await testClient(settings);
    opened.push({ close: () => worker.stop() }, { close: () => client.close() });
    const batchId = uniqueId('slots-unpatched');
    const texts = ['Where is my order #A1?', 'Cancel order #B2 please', 'The app crashes on login', 'Do you ship to Norway?'];
    const jobs = texts.map((text, index) => ({ id: `${batchId}-${index}`, type: 'triage', input: { text }, policy: { confidenceThresholds: { 'classify-intent': 0 } } }));
    await client.startBatch({ batchId, jobs, concurrency: 2, jobsPerRun: 4 });
    expect(await client.getBatchResult(batchId)).toMatchObject({ total: 4, started: 4, completed: 4, failed: 0, runs: 1 });
    expect(await maxRunningAtOnce(client, jobs.map((job) => job.id))).toBe(2);
    expect((await patchMarkers(client, batchId)).some((marker) => marker.includes(BATCH_SLOTS_PATCH))).toBe(false);
    await recordHistory(client, batchId, 'batch-waits-for-slots-before-batch-slots');
  });
});
