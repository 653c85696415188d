/**
 * The learning registry on many hosts, end to end (issue 20): the cluster `conveyor cluster up` runs, two
 * processes of the real worker entry point with data dirs of their own, one task queue and one
 * CONVEYOR_DATABASE_URL. A distill run (curate, train, evaluate, then an approval) promotes its candidate
 * as a canary: the promotion activity runs on one of the workers, and the other serves the canary split
 * within 5 s. Then a bad canary is rolled back by the canary monitor on whichever worker settles the step
 * that tips it, and the other worker serves the stable version again within 5 s. Which worker answered a
 * step, and when, is read from the job's history (the station call is a local activity: the identity of the
 * worker that completed the workflow task carrying its marker, and the marker's completion time), what it
 * served from the job's ledger (`modelVersion`, `servedAs`); the change's time is the registry's record of it.
 * Each measured delay runs from the change to the other worker's first answer with the new state, and from
 * 5 s after the change every step on both workers must show it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stationCallsAnswered, type StationCallResult } from '../activities/factory';
import type { ConveyorClient } from '../client';
import type { JobResult } from '../domain/job';
import { openExampleRepository } from '../learning/example-repository';
import { ModelRegistry, openRegistryStore, type RegistryStore } from '../learning/model-registry';
import type { DistillResult } from '../learning/types';
import { loadSettings } from '../platform/settings';
import { saveClassifier } from '../providers/local/model-file';
import { trainSizedClassifier } from '../providers/local/model-store';
import { createSeededRandom, shuffleInPlace } from '../providers/local/prng';
import { distillWorkflow } from '../workflows/distill';
import { pendingApprovalsQuery } from '../workflows/messages';
import { clusterVariables, startTestCluster, type TestCluster } from './support/cluster';
import { eventually, tempDir, testClient, uniqueId } from './support/temporal';
import { demoIntentSplit } from './support/demo-data';
import { startWorkerProcess, type WorkerProcess } from './support/worker-process';

const station = 'classify-intent';
const taskQueue = uniqueId('many-hosts-learning');
const hosts = { a: tempDir('learning-host-a'), b: tempDir('learning-host-b'), operator: tempDir('learning-operator') };
const { all: demo, golden, base, production } = demoIntentSplit(11);

let cluster: TestCluster;
let client: ConveyorClient;
let operatorStore: RegistryStore;
let registry: ModelRegistry;
const workers: Partial<Record<'a' | 'b', WorkerProcess>> = {};
const versions: Record<string, string> = {};
const timings: Record<string, number> = {};

type Side = 'a' | 'b';
/** One triage step as a worker answered it: which worker, when its answer was recorded, and what served it. */
interface Answered {
  jobId: string;
  worker: Side;
  answeredAt: number;
  modelVersion: string | undefined;
  servedAs: 'canary' | 'stable' | undefined;
}

const seconds = (ms: number) => Math.round(ms / 100) / 10;

beforeAll(async () => {
  const startedAt = Date.now();
  cluster = await startTestCluster('many-hosts-learning');
  timings.clusterStartS = seconds(Date.now() - startedAt);
  // The operator's host: registers the model the fleet starts from, and the collected examples, in the shared database.
  operatorStore = openRegistryStore({ dataDir: hosts.operator, databaseUrl: cluster.databaseUrl });
  registry = new ModelRegistry(operatorStore, station);
  const register = async (name: string, examples: typeof demo, seed: number) => {
    const file = path.join(hosts.operator, `${name}.model.json`);
    saveClassifier(file, trainSizedClassifier(examples, 'small', seed), 'intent');
    return (versions[name] = (await registry.register(file, { by: 'test' })).version);
  };
  await registry.promote(await register('base', base, 1), 'test', 'trained on the 40 base rows');
  const shuffled = shuffleInPlace(demo.map((item) => item.label), createSeededRandom(3));
  await register('shuffled', demo.map((item, index) => ({ ...item, label: shuffled[index]! })), 3);
  const examples = openExampleRepository(hosts.operator, {}, cluster.databaseUrl);
  try {
    for (let index = 0; index < production.length; index += 50) {
      await Promise.all(
        production.slice(index, index + 50).map((item, offset) =>
          examples.collect({ station, jobType: 'triage', jobId: `earlier-${index + offset}`, stepId: 'intent', text: item.text, label: item.label, source: 'escalation' }),
        ),
      );
    }
  } finally {
    await examples.close();
  }

  const workersAt = Date.now();
  const environment = (side: Side) => ({ ...clusterVariables(cluster), CONVEYOR_TASK_QUEUE: taskQueue, CONVEYOR_DATA_DIR: hosts[side] });
  [workers.a, workers.b] = await Promise.all([startWorkerProcess('worker-a', environment('a')), startWorkerProcess('worker-b', environment('b'))]);
  timings.workersStartS = seconds(Date.now() - workersAt);
  client = await testClient(loadSettings({ ...clusterVariables(cluster), CONVEYOR_TASK_QUEUE: taskQueue, CONVEYOR_DATA_DIR: hosts.operator }));
}, 180_000);

afterAll(async () => {
  console.log(`many hosts learning: ${JSON.stringify(timings)}`);
  await client?.close();
  await Promise.all(Object.values(workers).map((worker) => worker.stop()));
  await operatorStore?.close();
  await cluster?.dispose();
  for (const dir of Object.values(hosts)) fs.rmSync(dir, { recursive: true, force: true });
}, 60_000);

/** Which worker a history's identity names (`pid@host`). */
function sideOf(identity: string | null | undefined): Side | undefined {
  const pid = identity?.split('@')[0];
  return (['a', 'b'] as const).find((side) => String(workers[side]!.child.pid) === pid);
}

const timeOf = (event: temporal.api.history.v1.IHistoryEvent) => Number(event.eventTime!.seconds) * 1000 + Math.floor((event.eventTime!.nanos ?? 0) / 1e6);

/**
 * Who answered the job's first station call, and when: a local activity's marker (with its completion time;
 * the job's start's when it answered the call ahead) is recorded by the workflow task that ran it, so the
 * worker that completed that task answered; a remote one was answered by the worker that started it.
 */
async function answeredBy(jobId: string): Promise<{ worker: Side; answeredAt: number }> {
  const events = (await client.temporal.workflow.getHandle(jobId).fetchHistory()).events ?? [];
  for (const [index, event] of events.entries()) {
    const marker = event.markerRecordedEventAttributes;
    const data = marker?.details?.data?.payloads?.[0]?.data;
    const local = marker && data ? (JSON.parse(Buffer.from(data).toString()) as { activity_type?: string; complete_time?: { seconds: number; nanos: number } }) : undefined;
    // On engine v3 a job's start answers its opening local steps ahead: then its marker is the call's.
    const result = marker?.details?.result?.payloads?.[0]?.data;
    if (local && stationCallsAnswered(local.activity_type, result ? (JSON.parse(Buffer.from(result).toString()) as StationCallResult) : undefined).length > 0) {
      const task = events.slice(0, index).reverse().find((earlier) => earlier.workflowTaskCompletedEventAttributes);
      return { worker: sideOf(task!.workflowTaskCompletedEventAttributes!.identity)!, answeredAt: local.complete_time!.seconds * 1000 + Math.floor(local.complete_time!.nanos / 1e6) };
    }
    if (event.activityTaskScheduledEventAttributes?.activityType?.name === 'callStation') {
      const started = events.find((later) => later.activityTaskStartedEventAttributes?.scheduledEventId?.toString() === event.eventId?.toString());
      const completed = events.find((later) => later.activityTaskCompletedEventAttributes?.scheduledEventId?.toString() === event.eventId?.toString());
      return { worker: sideOf(started!.activityTaskStartedEventAttributes!.identity)!, answeredAt: timeOf(completed!) };
    }
  }
  throw new Error(`job ${jobId}: no model call in its history`);
}

/** A triage job takes well under a second here; one that takes this long is stuck, and the test says where. */
const JOB_DEADLINE_MS = 45_000;

/** The job's result, or — past the deadline — an error naming where it stands and what both workers last said. */
async function resultWithin(jobId: string, deadlineMs: number): Promise<JobResult> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), deadlineMs)));
  const answer = await Promise.race([client.getResult(jobId), late]).finally(() => clearTimeout(timer));
  if (answer !== 'late') return answer;
  const handle = client.temporal.workflow.getHandle(jobId);
  const description = await handle.describe().catch((error: unknown) => String(error));
  const events = ((await handle.fetchHistory().catch(() => undefined))?.events ?? []).slice(-8).map((event) => `${String(event.eventId)} ${temporal.api.enums.v1.EventType[event.eventType ?? 0]}`);
  const pending = typeof description === 'string' ? description : JSON.stringify(description.raw.pendingActivities?.map((activity) => ({ type: activity.activityType?.name, attempt: activity.attempt, lastFailure: activity.lastFailure?.message })) ?? []);
  const tails = (['a', 'b'] as const).map((side) => `worker ${side}:\n${workers[side]!.output().split('\n').slice(-30).join('\n')}`).join('\n');
  throw new Error(`job ${jobId} did not finish within ${deadlineMs / 1000} s: ${typeof description === 'string' ? description : description.status.name}; pending activities ${pending}; last events ${events.join(', ')}\n${tails}`);
}

/** Triage jobs, `concurrency` at a time, until `done()`; each text made unique so no answer comes from the cache. */
async function traffic(texts: string[], done: (answered: Answered[]) => boolean, concurrency = 4): Promise<Answered[]> {
  const answered: Answered[] = [];
  let next = 0;
  let failed = false;
  const lane = async () => {
    while (!failed && !done(answered)) {
      const text = `${texts[next % texts.length]!} (ticket ${next})`;
      next += 1;
      const id = uniqueId('learning-job');
      await client.startJob({ id, type: 'triage', input: { text } });
      const result: JobResult = await resultWithin(id, JOB_DEADLINE_MS);
      const [first] = result.ledger;
      answered.push({ jobId: id, ...(await answeredBy(id)), modelVersion: first?.modelVersion, servedAs: first?.servedAs });
    }
  };
  // One lane's failure stops the others, so the test reports it instead of running on.
  const guarded = async () => {
    try {
      await lane();
    } catch (error) {
      failed = true;
      throw error;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, guarded));
  return answered.sort((x, y) => x.answeredAt - y.answeredAt);
}

/** The registry's newest event of this kind and its time (taken by the host that made the change, before writing it). */
async function lastEvent(action: string) {
  const event = [...(await registry.state()).history].reverse().find((entry) => entry.action === action);
  expect(event).toBeDefined();
  return { ...event!, atMs: Date.parse(event!.at) };
}

describe('the learning registry on two worker processes sharing only the cluster and its database', () => {
  it('warms up: both workers answer with the version registered on the operator host', async () => {
    const startedAt = Date.now();
    const warm = await traffic(production.map((item) => item.text), (answered) => (answered.length >= 8 && new Set(answered.map((step) => step.worker)).size === 2) || Date.now() - startedAt > 30_000);
    expect(new Set(warm.map((step) => step.worker))).toEqual(new Set(['a', 'b']));
    for (const step of warm) expect(step).toMatchObject({ modelVersion: versions.base, servedAs: undefined });
  }, 60_000);

  it('a distill promotion with a canary, done by one worker, is served by the other within 5 s', async () => {
    // The request names its golden and base files, which curate reads on whichever worker runs it: here the
    // operator's folder both can read; on hosts of their own, files deployed at the same path on each.
    const goldenFile = path.join(hosts.operator, 'golden.jsonl');
    const baseFile = path.join(hosts.operator, 'base.jsonl');
    fs.writeFileSync(goldenFile, golden.map((item) => JSON.stringify(item)).join('\n'));
    fs.writeFileSync(baseFile, base.map((item) => JSON.stringify(item)).join('\n'));
    const distillAt = Date.now();
    const handle = await client.temporal.workflow.start(distillWorkflow, {
      taskQueue,
      workflowId: uniqueId('distill-canary'),
      // A canary no monitor decides during this test: it only has to be served.
      args: [{ station, baseDataFile: baseFile, goldenDataFile: goldenFile, reviewers: ['alice'], requestedBy: 'bob', canary: { share: 0.5, agreementGate: 0.6, minObservations: 1000, fullObservations: 1000 } }],
    });
    const [approval] = await eventually(async () => {
      const pending = await handle.query(pendingApprovalsQuery);
      if (pending.length > 0) return pending;
      if ((await handle.describe()).status.name !== 'RUNNING') throw new Error(`distill ended without asking anyone: ${JSON.stringify(await handle.result())}`);
      return undefined;
    }, 90_000);
    timings.distillToApprovalS = seconds(Date.now() - distillAt);

    let stopAt = Infinity;
    const running = traffic(production.map((item) => item.text), () => Date.now() > stopAt);
    const promotion = async () => {
      await client.decide(handle.workflowId, { approvalId: approval!.approvalId, decision: 'approve', reviewer: 'alice' });
      const result: DistillResult = await handle.result();
      expect(result.status).toBe('promoted');
      const candidate = (versions.candidate = result.candidateVersion);
      expect(await registry.state()).toMatchObject({ current: candidate, canary: { version: candidate, stable: versions.base, share: 0.5 } });
      // The worker whose activity wrote the promotion, from the run's history.
      const events = (await handle.fetchHistory()).events ?? [];
      const ranOn = (activity: string) => {
        const scheduled = events.find((event) => event.activityTaskScheduledEventAttributes?.activityType?.name === activity)!;
        return sideOf(events.find((event) => event.activityTaskStartedEventAttributes?.scheduledEventId?.toString() === scheduled.eventId?.toString())!.activityTaskStartedEventAttributes!.identity)!;
      };
      const promoter = ranOn('promoteModelVersion');
      const steps = ['curateDistillData', 'trainDistillCandidate', 'evaluateDistillCandidate'].map((activity) => `${activity} on ${ranOn(activity)}`).join(', ');
      return { candidate, promoter, steps, promotedAt: (await lastEvent('promote')).atMs };
    };
    // Should the promotion fail, the traffic stops with it (and says what it saw), not in the next test.
    const { candidate, promoter, steps, promotedAt } = await promotion().catch(async (error: unknown) => {
      stopAt = Date.now();
      await running.catch((trafficError: unknown) => console.warn(`many hosts learning: the traffic failed too: ${String(trafficError)}`));
      throw error;
    });
    const other: Side = promoter === 'a' ? 'b' : 'a';
    stopAt = promotedAt + 8_000;
    const answered = await running;

    const after = answered.filter((step) => step.answeredAt > promotedAt);
    const firstOnOther = after.find((step) => step.worker === other && step.servedAs !== undefined);
    expect(firstOnOther, `worker ${other} never served the canary`).toBeDefined();
    timings.promotionSeenByOtherMs = firstOnOther!.answeredAt - promotedAt;
    expect(timings.promotionSeenByOtherMs).toBeLessThan(5_000);
    // From 5 s after the promotion on, every step on both workers is served by the canary split.
    const settled = after.filter((step) => step.answeredAt > promotedAt + 5_000);
    expect(new Set(settled.map((step) => step.worker))).toEqual(new Set(['a', 'b']));
    for (const step of settled) expect([step.servedAs, step.modelVersion]).toEqual(step.servedAs === 'canary' ? ['canary', candidate] : ['stable', versions.base]);
    expect(new Set(after.map((step) => step.servedAs))).toContain('canary');
    console.log(
      `many hosts learning: distill to approval ${timings.distillToApprovalS} s (${steps}); promoted by worker ${promoter}; worker ${other} served the canary ${timings.promotionSeenByOtherMs} ms after it; ${answered.length} jobs (${settled.length} after 5 s, on both workers)`,
    );
  }, 150_000);

  it('a canary rollback decided by the canary monitor on one worker is served by the other within 5 s', async () => {
    const candidate = versions.candidate!;
    await registry.promote(versions.shuffled!, 'test', 'a bad model, as a canary', new Date(), { share: 0.5, agreementGate: 0.6, minObservations: 8, fullObservations: 1000 });
    let stopAt = Infinity;
    const startedAt = Date.now();
    const running = traffic(production.map((item) => item.text), () => Date.now() > stopAt);
    await eventually(async () => ((await registry.state()).canary === null ? true : undefined), 60_000).finally(() => {
      if (stopAt === Infinity) stopAt = Date.now() + 8_000;
    });
    const rollback = await lastEvent('rollback');
    stopAt = rollback.atMs + 8_000;
    const answered = await running;
    expect(rollback).toMatchObject({ version: candidate, previous: versions.shuffled, by: 'canary-monitor' });
    timings.canaryToRollbackS = seconds(rollback.atMs - startedAt);
    // The monitor that decided says so in its worker's log.
    const decidedOn = (['a', 'b'] as const).filter((side) => workers[side]!.output().includes(`canary ${versions.shuffled} of ${station}: rollback`));
    expect(decidedOn).toHaveLength(1);
    const decider = decidedOn[0]!;
    const other: Side = decider === 'a' ? 'b' : 'a';

    const after = answered.filter((step) => step.answeredAt > rollback.atMs);
    const firstOnOther = after.find((step) => step.worker === other && step.servedAs === undefined && step.modelVersion === candidate);
    expect(firstOnOther, `worker ${other} never served the stable version after the rollback`).toBeDefined();
    timings.rollbackSeenByOtherMs = firstOnOther!.answeredAt - rollback.atMs;
    expect(timings.rollbackSeenByOtherMs).toBeLessThan(5_000);
    const settled = after.filter((step) => step.answeredAt > rollback.atMs + 5_000);
    expect(new Set(settled.map((step) => step.worker))).toEqual(new Set(['a', 'b']));
    for (const step of settled) expect(step).toMatchObject({ modelVersion: candidate, servedAs: undefined });
    const canaryServed = answered.filter((step) => step.answeredAt < rollback.atMs && step.servedAs === 'canary');
    expect(canaryServed.length).toBeGreaterThanOrEqual(8);
    for (const step of canaryServed) expect(step.modelVersion).toBe(versions.shuffled);
    // Both monitors may judge the tipping steps at once: one rollback of this canary is applied, any other is refused, and all are in the history.
    const attempts = (await registry.history()).filter((attempt) => attempt.event === 'rollback' && attempt.version === versions.shuffled);
    expect(attempts.filter((attempt) => attempt.outcome === 'applied')).toHaveLength(1);
    for (const attempt of attempts.filter((attempt) => attempt.outcome !== 'applied')) expect(attempt).toMatchObject({ outcome: 'refused', by: 'canary-monitor', reason: expect.stringMatching(/already decided/) as unknown });
    // Each refused monitor says so in its worker's log instead of claiming the rollback.
    const refusedLines = (['a', 'b'] as const).flatMap((side) => workers[side]!.output().split('\n').filter((line) => line.includes(`canary ${versions.shuffled} of ${station}: this monitor's rollback was refused`)));
    expect(refusedLines).toHaveLength(attempts.length - 1);
    console.log(
      `many hosts learning: canary rolled back by the monitor on worker ${decider} ${timings.canaryToRollbackS} s after it started (${rollback.reason}; ${canaryServed.length} canary answers before, by workers ${[...new Set(canaryServed.map((step) => step.worker))].join(', ')}; ${attempts.length - 1} other rollback attempts refused); worker ${other} served the stable version ${timings.rollbackSeenByOtherMs} ms after it; ${answered.length} jobs (${settled.length} after 5 s, on both workers)`,
    );
  }, 120_000);
});
