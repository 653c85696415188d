/**
 * The distill workflow on the real Temporal server: a candidate that passes the gate waits for a
 * reviewer through the job's decide contract (an unlisted reviewer is refused), approval promotes it
 * in the registry and rollback restores the previous version; a candidate trained on poisoned
 * examples is refused by the gate without asking anyone, and the result says why.
 */
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Worker, type NativeConnection, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import distillFactory from './fixtures/factories/distill-stations';
import { connectWorkerConnection } from '../platform/connection';
import { saveClassifier } from '../providers/local/model-file';
import { trainSizedClassifier } from '../providers/local/model-store';
import { createSeededRandom, shuffleInPlace } from '../providers/local/prng';
import type { ConveyorClient } from '../client';
import { verifyAuditChain } from '../client/audit';
import { createReviewerKeyActivities } from '../activities/reviewer-keys';
import { createLearningActivities } from '../learning/activities';
import { ExampleStore } from '../learning/example-store';
import { ModelRegistry } from '../learning/model-registry';
import { distillCommand, rollbackCommand } from '../cli/learning';
import type { DistillRequest } from '../learning/types';
import { distillWorkflow } from '../workflows/distill';
import { pendingApprovalsQuery } from '../workflows/messages';
import { bundleConveyorWorkflows } from '../workers/worker';
import { demoIntentSplit } from './support/demo-data';
import { eventually, finishedAuditTrail, recordHistory, testClient, testSettings, uniqueId } from './support/temporal';

const settings = testSettings(uniqueId('distill'));
const { golden, base, production } = demoIntentSplit(7);

let bundle: WorkflowBundleWithSourceMap;
let connection: NativeConnection;
let worker: Worker;
let running: Promise<void>;
let client: ConveyorClient;
let store: ExampleStore;
const goldenFile = path.join(settings.dataDir, 'golden.jsonl');
const baseFile = path.join(settings.dataDir, 'base.jsonl');

/** A station whose serving model was trained on the 40 base rows only. */
async function stationWithBaseModel(station: string): Promise<string> {
  const file = path.join(settings.dataDir, `${station}-base.model.json`);
  saveClassifier(file, trainSizedClassifier(base, 'small'), 'intent');
  const registry = new ModelRegistry(settings.dataDir, station);
  const version = (await registry.register(file, { by: 'test' })).version;
  await registry.promote(version, 'test', 'the base model');
  return version;
}

function collect(station: string, labelOf: (index: number) => string): void {
  store.collectMany(production.map((item, index) => ({ station, jobType: 'support-ticket', jobId: `job-${index}`, stepId: 'intent', text: item.text, label: labelOf(index), source: 'escalation' as const })));
}

function request(station: string, overrides: Partial<DistillRequest> = {}): DistillRequest {
  return { station, baseDataFile: baseFile, goldenDataFile: goldenFile, reviewers: ['alice', 'bob', 'dave'], requestedBy: 'bob', approvalTimeoutMs: 10 * 60_000, ...overrides };
}

beforeAll(async () => {
  fs.writeFileSync(goldenFile, golden.map((item) => JSON.stringify(item)).join('\n'));
  fs.writeFileSync(baseFile, base.map((item) => JSON.stringify(item)).join('\n'));
  bundle = await bundleConveyorWorkflows();
  connection = await connectWorkerConnection(settings, settings.address!);
  store = new ExampleStore(path.join(settings.dataDir, 'examples.sqlite'));
  worker = await Worker.create({
    connection,
    namespace: settings.namespace,
    taskQueue: settings.taskQueue,
    workflowBundle: bundle,
    activities: { ...createLearningActivities({ factory: distillFactory, dataDir: settings.dataDir, exampleStore: store }), ...createReviewerKeyActivities({ dataDir: settings.dataDir }) },
  });
  running = worker.run();
  client = await testClient(settings);
});

afterAll(async () => {
  await client?.close();
  if (worker?.getState() === 'RUNNING') worker.shutdown();
  await running;
  await connection?.close();
  store?.close();
});

describe('distill workflow', () => {
  it('waits for two approvals, refuses an unlisted reviewer, the requester and a second vote by the same person, promotes on approval; rollback restores the previous version', async () => {
    const station = 'classify-intent';
    const baseVersion = await stationWithBaseModel(station);
    collect(station, (index) => production[index]!.label);
    const workflowId = uniqueId('distill-good');
    const handle = await client.temporal.workflow.start(distillWorkflow, { taskQueue: settings.taskQueue, workflowId, args: [request(station, { requiredApprovals: 2 })] });

    const [pending] = await eventually(async () => {
      const approvals = await handle.query(pendingApprovalsQuery);
      return approvals.length > 0 ? approvals : undefined;
    }, 90_000);
    expect(pending).toMatchObject({ stepId: 'promote', kind: 'review', reviewers: ['alice', 'bob', 'dave'], requiredApprovals: 2, proposedAction: { replaces: baseVersion } });

    await expect(client.decide(workflowId, { decision: 'approve', reviewer: 'mallory' })).rejects.toThrow(/reviewer mallory may not decide promote-/);
    await expect(client.decide(workflowId, { decision: 'approve', reviewer: 'bob' })).rejects.toThrow(/requested this job/);
    expect(await client.decide(workflowId, { decision: 'approve', reviewer: 'alice' })).toMatchObject({ accepted: true, settled: false });
    await expect(client.decide(workflowId, { decision: 'approve', reviewer: 'alice' })).rejects.toThrow(/second, different reviewer/);
    expect(await client.decide(workflowId, { decision: 'approve', reviewer: 'dave' })).toMatchObject({ accepted: true, settled: true });

    const result = await handle.result();
    expect(result.status).toBe('promoted');
    expect(result.previousVersion).toBe(baseVersion);
    expect(result.currentVersion).toBe(result.candidateVersion);
    expect(result.report.gate.passed).toBe(true);
    expect(result.report.candidate.coverageAtTarget).toBeGreaterThan(result.report.current!.coverageAtTarget);
    expect(result.approvals.filter((decision) => !decision.accepted).map((decision) => decision.claimedReviewer)).toEqual(['mallory', 'bob', 'alice']);
    expect(fs.existsSync(result.report.files.markdown)).toBe(true);

    const registry = new ModelRegistry(settings.dataDir, station);
    expect((await registry.state()).current).toBe(result.candidateVersion);
    expect((await registry.state()).history.at(-1)).toMatchObject({ action: 'promote', by: 'alice, dave' });
    await recordHistory(client, workflowId, 'distill-promoted-by-two');

    const output: string[] = [];
    expect(await rollbackCommand(['--station', station, '--data-dir', settings.dataDir, '--by', 'bob'], { stdout: (s) => output.push(s), stderr: (s) => output.push(s) })).toBe(0);
    expect((await registry.state()).current).toBe(baseVersion);
  });

  it('with signed decisions on, counts only promotion approvals whose signature verifies against the reviewer\'s key', async () => {
    const station = 'classify-intent-signed';
    const baseVersion = await stationWithBaseModel(station);
    collect(station, (index) => production[index]!.label);
    const keyFile: Record<string, string> = {};
    const publicKeys: Record<string, string> = {};
    for (const reviewer of ['alice', 'dave']) {
      const { publicKey, privateKey } = generateKeyPairSync('ed25519');
      publicKeys[reviewer] = publicKey.export({ type: 'spki', format: 'pem' }).toString();
      keyFile[reviewer] = path.join(settings.dataDir, `${reviewer}-${station}.pem`);
      fs.writeFileSync(keyFile[reviewer], privateKey.export({ type: 'pkcs8', format: 'pem' }));
    }
    // The worker's keys are read when a run starts: only this run has signed decisions on.
    const keysFile = path.join(settings.dataDir, 'reviewer-keys.json');
    fs.writeFileSync(keysFile, JSON.stringify(publicKeys));
    const workflowId = uniqueId('distill-signed');
    const handle = await client.temporal.workflow.start(distillWorkflow, { taskQueue: settings.taskQueue, workflowId, args: [request(station, { requiredApprovals: 2 })] });
    try {
      await eventually(async () => ((await handle.query(pendingApprovalsQuery)).length > 0 ? true : undefined), 90_000);
    } finally {
      fs.rmSync(keysFile, { force: true });
    }

    await expect(client.decide(workflowId, { decision: 'approve', reviewer: 'alice' })).rejects.toThrow(/carries no signature/);
    await expect(client.decide(workflowId, { decision: 'approve', reviewer: 'alice' }, { keyFile: keyFile.dave })).rejects.toThrow(/does not verify against alice's public key/);
    expect(await client.decide(workflowId, { decision: 'approve', reviewer: 'alice' }, { keyFile: keyFile.alice })).toMatchObject({ accepted: true, settled: false });
    expect(await client.decide(workflowId, { decision: 'approve', reviewer: 'dave' }, { keyFile: keyFile.dave })).toMatchObject({ accepted: true, settled: true });

    const result = await handle.result();
    expect(result).toMatchObject({ status: 'promoted', previousVersion: baseVersion });
    expect(result.approvals.filter((decision) => decision.accepted).map((decision) => decision.reviewer)).toEqual(['alice', 'dave']);
    expect((await new ModelRegistry(settings.dataDir, station).state()).history.at(-1)).toMatchObject({ action: 'promote', by: 'alice, dave' });
    await recordHistory(client, workflowId, 'distill-signed-decisions');
  });

  it('keeps the current model when the promotion is rejected, or not decided in time', async () => {
    const rejectedStation = 'classify-intent-rejected';
    const unansweredStation = 'classify-intent-unanswered';
    const baseVersions = [await stationWithBaseModel(rejectedStation), await stationWithBaseModel(unansweredStation)];
    collect(rejectedStation, (index) => production[index]!.label);
    collect(unansweredStation, (index) => production[index]!.label);
    const rejectedId = uniqueId('distill-rejected');
    const unansweredId = uniqueId('distill-unanswered');
    const rejected = await client.temporal.workflow.start(distillWorkflow, { taskQueue: settings.taskQueue, workflowId: rejectedId, args: [request(rejectedStation)] });
    const unanswered = await client.temporal.workflow.start(distillWorkflow, { taskQueue: settings.taskQueue, workflowId: unansweredId, args: [request(unansweredStation, { approvalTimeoutMs: 1000 })] });

    await eventually(async () => ((await rejected.query(pendingApprovalsQuery)).length > 0 ? true : undefined), 90_000);
    await client.decide(rejectedId, { decision: 'reject', reviewer: 'alice', comment: 'not this week' });
    const [rejectedResult, unansweredResult] = await Promise.all([rejected.result(), unanswered.result()]);

    expect(rejectedResult).toMatchObject({ status: 'rejected', previousVersion: baseVersions[0], currentVersion: baseVersions[0], pending: [] });
    expect(rejectedResult.report.gate.passed).toBe(true);
    expect(rejectedResult.approvals).toEqual([expect.objectContaining({ decision: 'reject', reviewer: 'alice', via: 'update', accepted: true })]);
    expect(unansweredResult).toMatchObject({ status: 'timed-out', previousVersion: baseVersions[1], currentVersion: baseVersions[1], pending: [] });
    expect(unansweredResult.approvals).toEqual([expect.objectContaining({ decision: 'reject', reviewer: 'system', via: 'timeout', comment: expect.stringMatching(/never promoted by timeout/) as unknown })]);
    expect((await new ModelRegistry(settings.dataDir, rejectedStation).state()).current).toBe(baseVersions[0]);
    expect((await new ModelRegistry(settings.dataDir, unansweredStation).state()).current).toBe(baseVersions[1]);
    await recordHistory(client, rejectedId, 'distill-rejected');
    await recordHistory(client, unansweredId, 'distill-timed-out');
  });

  it('refuses a candidate trained on poisoned examples by the gate, without asking anyone', async () => {
    const station = 'classify-intent-poisoned';
    const baseVersion = await stationWithBaseModel(station);
    const shuffled = shuffleInPlace(production.map((item) => item.label), createSeededRandom(3));
    collect(station, (index) => shuffled[index]!);
    const workflowId = uniqueId('distill-bad');
    const result = await client.temporal.workflow.execute(distillWorkflow, {
      taskQueue: settings.taskQueue,
      workflowId,
      args: [request(station, { baseDataFile: undefined })],
    });
    expect(result.status).toBe('refused-by-gate');
    expect(result.report.gate.passed).toBe(false);
    expect(result.report.gate.refusal).toMatch(/golden accuracy/);
    expect(result.pending).toEqual([]);
    expect(result.approvals).toEqual([]);
    expect((await new ModelRegistry(settings.dataDir, station).state()).current).toBe(baseVersion);
    await recordHistory(client, workflowId, 'distill-refused-by-gate');

    // the refusal is in the audit export too
    const audit = await finishedAuditTrail(client, { since: new Date(Date.now() - 3_600_000), type: 'distill', taskQueue: settings.taskQueue }, workflowId);
    expect(verifyAuditChain(audit)).toBe(true);
    expect(audit.find((record) => record.kind === 'gate')?.detail).toMatch(/^refused: .*golden accuracy/);
    expect(audit.at(-1)).toMatchObject({ kind: 'outcome', detail: expect.stringMatching(/^refused-by-gate/) as unknown });
  });

  it('runs on a Temporal Schedule registered by `conveyor distill --schedule`', async () => {
    const station = 'classify-intent-scheduled';
    await stationWithBaseModel(station);
    const shuffled = shuffleInPlace(production.map((item) => item.label), createSeededRandom(5));
    collect(station, (index) => shuffled[index]!);
    const scheduleId = uniqueId('distill-schedule');
    const env = { TEMPORAL_ADDRESS: settings.address!, TEMPORAL_NAMESPACE: settings.namespace, CONVEYOR_TASK_QUEUE: settings.taskQueue, CONVEYOR_DATA_DIR: settings.dataDir };
    const io = { out: '', err: '' };
    const args = ['--station', station, '--golden', goldenFile, '--reviewers', 'alice', '--schedule', '0 3 * * 1', '--schedule-id', scheduleId, '--json'];
    // The CLI checks the station against the factory the workers run.
    expect(await distillCommand(args, { stdout: (s) => (io.out += s), stderr: (s) => (io.err += s) }, env, distillFactory)).toBe(0);
    expect(JSON.parse(io.out)).toEqual({ scheduleId, cron: '0 3 * * 1', station });
    expect(await distillCommand(['--station', station, '--golden', goldenFile, '--reviewers', 'alice', '--schedule-id', 'x'], { stdout: () => {}, stderr: (s) => (io.err += s) }, env, distillFactory)).toBe(2);
    expect(io.err).toMatch(/--schedule-id needs --schedule CRON/);

    const schedule = client.temporal.schedule.getHandle(scheduleId);
    try {
      const described = await schedule.describe();
      expect(described.spec.calendars?.[0]).toMatchObject({ hour: [{ start: 3, end: 3, step: 1 }], dayOfWeek: [{ start: 'MONDAY', end: 'MONDAY', step: 1 }] });
      expect(described.policies.overlap).toBe('SKIP');
      await schedule.trigger();
      const runId = await eventually(async () => (await schedule.describe()).info.recentActions[0]?.action.workflow.workflowId, 30_000);
      expect(runId).toMatch(new RegExp(`^${scheduleId}-run-`));
      const result = await client.temporal.workflow.getHandle<typeof distillWorkflow>(runId).result();
      // The scheduled run went through curate, train and evaluate: poisoned examples are refused by the gate.
      expect(result).toMatchObject({ station, status: 'refused-by-gate' });
    } finally {
      await schedule.delete();
    }
  });
});
