/**
 * The memory section: what one cached, waiting workflow costs a worker. A fresh worker process (the SDK's
 * default sticky-cache settings) first runs a warm-up of the measured workload — 100 of the same
 * workflows, started 50 at a time as the measured ones are, until they wait, then released so they finish
 * and leave the cache — so its code, modules and the working set of a burst of starts are in the baseline:
 * its RSS after a full GC of every thread (the main thread, and each workflow thread by thread-gc.cjs).
 * Then N workflows are started that run their steps and wait: Conveyor support-ticket jobs whose refund
 * waits for approval (records of realistic size); and, for comparison, raw workflows running the same waves
 * of no-op activities and waiting for a signal. MB per workflow is (RSS with N waiting − baseline) / N;
 * a second reading with 2N waiting gives the marginal cost of the next N, and each reading is split into
 * the V8 heaps (live and not) and what lies outside them. */
import type { JobRequest } from '../../client';
import { figure, type BenchContext, type Figure, type SectionOutcome } from './figures';
import { MB } from './measure';
import { rawWaitingWorkflow, releaseSignal, waitingQuery } from './raw-workflow';
import { modelStepWaves } from './overhead';
import { startBenchWorker, type WorkerHandle } from './worker-handle';
import type { MemoryReport } from './worker-process';

async function inParallel<T>(items: readonly T[], limit: number, work: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  });
  await Promise.all(lanes);
}

/** Polls `progress` until it reaches `target`; gives up when it stops moving for `stallMs`. */
async function until(progress: () => Promise<number>, target: number, what: string, stallMs = 120_000): Promise<void> {
  let best = -1;
  let movedAt = Date.now();
  for (;;) {
    const reached = await progress();
    if (reached >= target) return;
    if (reached > best) {
      best = reached;
      movedAt = Date.now();
    } else if (Date.now() - movedAt > stallMs) {
      throw new Error(`${what}: stuck at ${reached} of ${target} for ${stallMs / 1000} s (see the worker's output above)`);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** Where one waiting workflow's share of the RSS growth lies, in KB: the V8 heaps' pages (live objects and the rest of their pages) and everything outside them. */
interface MemorySplit {
  mainHeapKb: number;
  mainHeapLiveKb: number;
  workflowHeapsKb: number;
  workflowHeapsLiveKb: number;
  youngGenerationsKb: number;
  v8MallocedKb: number;
  /** RSS growth outside every V8 heap: the SDK core (Rust), native buffers, allocator free lists. */
  outsideHeapsKb: number;
}

interface Measured {
  before: MemoryReport;
  after: MemoryReport;
  waitingWorkflows: number;
  mbPerWorkflow: number;
  split: MemorySplit;
  startSeconds: number;
}

function splitOf(before: MemoryReport, after: MemoryReport, count: number): MemorySplit {
  const kb = (bytes: number) => bytes / 1024 / count;
  const grew = (pick: (report: MemoryReport) => number) => kb(pick(after) - pick(before));
  const mainHeapKb = grew((report) => report.mainHeap.physicalBytes);
  const workflowHeapsKb = grew((report) => report.workflowHeaps.physicalBytes);
  const v8MallocedKb = grew((report) => report.mainHeap.mallocedBytes + report.workflowHeaps.mallocedBytes);
  return {
    mainHeapKb,
    mainHeapLiveKb: grew((report) => report.mainHeap.usedBytes),
    workflowHeapsKb,
    workflowHeapsLiveKb: grew((report) => report.workflowHeaps.usedBytes),
    youngGenerationsKb: grew((report) => report.mainHeap.youngPhysicalBytes + report.workflowHeaps.youngPhysicalBytes),
    v8MallocedKb,
    outsideHeapsKb: grew((report) => report.rssBytes) - mainHeapKb - workflowHeapsKb - v8MallocedKb,
  };
}

function measured(before: MemoryReport, after: MemoryReport, count: number, startSeconds: number): Measured {
  return { before, after, waitingWorkflows: count, mbPerWorkflow: (after.rssBytes - before.rssBytes) / MB / count, split: splitOf(before, after, count), startSeconds };
}

function splitLine(split: MemorySplit): string {
  const f = (value: number) => value.toFixed(0);
  return (
    `main heap ${f(split.mainHeapKb)} KB (live ${f(split.mainHeapLiveKb)}), workflow heaps ${f(split.workflowHeapsKb)} KB (live ${f(split.workflowHeapsLiveKb)}), ` +
    `young generations ${f(split.youngGenerationsKb)} KB, V8 malloc ${f(split.v8MallocedKb)} KB, outside the heaps ${f(split.outsideHeapsKb)} KB`
  );
}

/** Workflows started at once while a section fills the worker, and how many the warm-up runs through first. */
const startConcurrency = 50;
const warmUpWorkflows = 100;

const ticketText =
  'Hello, my order #A1234 arrived on 2026-11-24 and the blender jug was cracked right out of the box. I paid $249.99 and ' +
  'would like a refund to my card. This is the second order this month (the other was A1187). You can reach me at ' +
  'sam.taylor@example.com or +1 555 0100. Thanks, Sam';

/**
 * Support-ticket jobs that wait for approval: five model steps with answers of realistic size (the no-op
 * model of noop-provider.ts approvalAnswers), then a $249.99 refund above the factory's threshold waits
 * for a reviewer. The worker keeps the SDK's default sticky-cache settings.
 */
async function measureFactory(context: BenchContext, counts: readonly number[]): Promise<Measured[]> {
  const taskQueue = `bench-memory-conveyor-${context.runId}`;
  const worker: WorkerHandle = await startBenchWorker(context, 'conveyor', taskQueue, { proposeApprovals: true });
  try {
    const client = context.clientOn(taskQueue);
    // The warm-up is the measured workload at its concurrency: support-ticket jobs started 50 at a time reach
    // their approval, then are rejected and finish (leaving the cache), so the baseline holds the code, the
    // modules and the working set of a burst of jobs, and the growth after it is what the waiting jobs hold.
    const jobs = (prefix: string, from: number, to: number): JobRequest[] =>
      Array.from({ length: to - from }, (_, index) => ({ id: `${prefix}-${from + index}`, type: 'support-ticket', input: { text: ticketText } }));
    const awaiting = `TaskQueue = "${taskQueue}" AND ConveyorStatus = "awaiting_approval" AND ExecutionStatus = "Running"`;
    /** Starts the jobs, `startConcurrency` at a time, and resolves once `query` counts `target` awaiting approval. */
    const startWaiting = async (started: readonly JobRequest[], query: string, target: number, what: string) => {
      await inParallel(started, startConcurrency, (job) => client.startJob(job));
      await until(async () => (await context.temporal.workflow.count(query)).count, target, what);
    };
    const warmPrefix = `bench-memory-warm-${context.runId}`;
    const warm = jobs(warmPrefix, 0, warmUpWorkflows);
    await startWaiting(warm, `${awaiting} AND WorkflowId STARTS_WITH "${warmPrefix}-"`, warm.length, 'warm-up jobs awaiting approval');
    await inParallel(warm, startConcurrency, async (job) => {
      await client.decide(job.id, { decision: 'reject', reviewer: 'alice', comment: 'benchmark warm-up' });
      await client.jobHandle(job.id).result();
    });
    return await readingsAt(worker, counts, (from, to) => startWaiting(jobs(`bench-memory-wait-${context.runId}`, from, to), awaiting, to, 'jobs awaiting approval'));
  } finally {
    await worker.stop();
  }
}

/**
 * The worker's baseline, then a reading at each count in turn: `fill(from, to)` starts workflows `from`
 * to `to - 1` and resolves once all of them wait.
 */
async function readingsAt(worker: WorkerHandle, counts: readonly number[], fill: (from: number, to: number) => Promise<void>): Promise<Measured[]> {
  const before = await worker.memory();
  const readings: Measured[] = [];
  let held = 0;
  const started = Date.now();
  for (const count of counts) {
    await fill(held, count);
    held = count;
    const startSeconds = (Date.now() - started) / 1000;
    await new Promise((resolve) => setTimeout(resolve, 2000));
    readings.push(measured(before, await worker.memory(), count, startSeconds));
  }
  return readings;
}

/** The raw workflows run the support-ticket's waves of steps (2 + 2 + 1) as no-op activities before they wait. */
const supportWaves = modelStepWaves('support-ticket').map((wave) => wave.length);

/** Starts these raw waiting workflows, `startConcurrency` at a time, and resolves once each says it waits. */
async function startRawWaiting(context: BenchContext, taskQueue: string, ids: readonly string[], what: string): Promise<void> {
  await inParallel(ids, startConcurrency, (workflowId) => context.temporal.workflow.start(rawWaitingWorkflow, { taskQueue, workflowId, args: [supportWaves] }));
  let notYet = [...ids];
  await until(
    async () => {
      const still: string[] = [];
      await inParallel(notYet, 50, async (workflowId) => {
        if (!(await context.temporal.workflow.getHandle(workflowId).query(waitingQuery))) still.push(workflowId);
      });
      notYet = still;
      return ids.length - notYet.length;
    },
    ids.length,
    what,
  );
}

async function measureRaw(context: BenchContext, counts: readonly number[]): Promise<Measured[]> {
  const taskQueue = `bench-memory-raw-${context.runId}`;
  const worker = await startBenchWorker(context, 'raw', taskQueue);
  try {
    // The same warm-up as the factory's: the measured workflows at the same concurrency, released when they wait.
    const warm = Array.from({ length: warmUpWorkflows }, (_, index) => `bench-memory-raw-warm-${context.runId}-${index}`);
    await startRawWaiting(context, taskQueue, warm, 'raw warm-up workflows waiting');
    await inParallel(warm, startConcurrency, async (workflowId) => {
      const handle = context.temporal.workflow.getHandle(workflowId);
      await handle.signal(releaseSignal);
      await handle.result();
    });
    return await readingsAt(worker, counts, (from, to) =>
      startRawWaiting(context, taskQueue, Array.from({ length: to - from }, (_, index) => `bench-memory-raw-wait-${context.runId}-${from + index}`), 'raw workflows waiting'),
    );
  } finally {
    await worker.stop();
  }
}

export async function runMemorySection(context: BenchContext): Promise<Omit<SectionOutcome, 'loadAverage' | 'durationSeconds'>> {
  const section = 'memory';
  const count = context.options.memoryWorkflows;
  const counts = [count, 2 * count];
  const readingLine = (what: string, reading: Measured) =>
    `  ${what}: ${reading.mbPerWorkflow.toFixed(3)} MB per waiting workflow with ${reading.waitingWorkflows} waiting (${reading.after.cachedWorkflows} cached; ` +
    `RSS ${(reading.before.rssBytes / MB).toFixed(0)} → ${(reading.after.rssBytes / MB).toFixed(0)} MB): ${splitLine(reading.split)}`;
  const [factory, factoryDouble] = (await measureFactory(context, counts)) as [Measured, Measured];
  for (const reading of [factory, factoryDouble]) context.log(readingLine('factory', reading));
  const [raw, rawDouble] = (await measureRaw(context, counts)) as [Measured, Measured];
  for (const reading of [raw, rawDouble]) context.log(readingLine('raw', reading));
  for (const reading of [factory, raw]) {
    if (reading.after.cachedWorkflows < count) throw new Error(`only ${reading.after.cachedWorkflows} of ${count} waiting workflows were in the worker's cache`);
  }
  // The second reading counts only when the default cache held all 2N (it holds about 2,400 with a 4 GB heap limit).
  const marginal = (first: Measured, second: Measured) => (second.after.cachedWorkflows >= second.waitingWorkflows ? (second.after.rssBytes - first.after.rssBytes) / MB / (second.waitingWorkflows - first.waitingWorkflows) : Number.NaN);
  const factoryMarginal = marginal(factory, factoryDouble);
  const rawMarginal = marginal(raw, rawDouble);
  const perGb = (mb: number) => (mb > 0 ? 1024 / mb : Number.POSITIVE_INFINITY);
  const how = `(RSS of the worker process after a full GC of its main thread and of each workflow thread with ${count} waiting workflows cached − the same after a warm-up of ${warmUpWorkflows} such workflows run to their wait and released) / ${count}`;
  const marginalHow = `(RSS with ${2 * count} waiting − RSS with ${count} waiting) / ${count}, in the same worker process (not a number when the default cache did not hold all ${2 * count})`;
  const figures: Figure[] = [
    figure({
      key: 'memory.factoryMbPerWorkflow',
      section,
      label: 'factory: MB per cached waiting job',
      value: factory.mbPerWorkflow,
      unit: 'MB/workflow',
      measures: `${how}; each job is a support-ticket job (five model steps, records of realistic size) whose $249.99 refund waits for approval; the worker's default sticky-cache settings.`,
    }),
    figure({
      key: 'memory.factoryWorkflowsPerGb',
      section,
      label: 'factory: cached waiting jobs per GB',
      value: perGb(factory.mbPerWorkflow),
      unit: 'workflows/GB',
      measures: '1024 / MB per cached waiting job.',
      goal: { comparator: '>=', target: 3000, text: '≥ 3,000 per GB' },
    }),
    figure({
      key: 'memory.rawMbPerWorkflow',
      section,
      label: 'raw Temporal: MB per cached waiting workflow',
      value: raw.mbPerWorkflow,
      unit: 'MB/workflow',
      measures: `${how}; each is a raw workflow that ran the same waves of no-op activities and waits for a signal.`,
    }),
    figure({
      key: 'memory.factoryOverRaw',
      section,
      label: 'memory per workflow factory / raw',
      value: factory.mbPerWorkflow / raw.mbPerWorkflow,
      unit: '×',
      measures: 'Factory MB per cached waiting workflow over raw MB per cached waiting workflow.',
      goal: { comparator: '<=', target: 1.5, text: '≤ 1.5×' },
    }),
    figure({
      key: 'memory.factoryMarginalMbPerWorkflow',
      section,
      label: `factory: MB per waiting job, the next ${count.toLocaleString('en-US')}`,
      value: factoryMarginal,
      unit: 'MB/workflow',
      measures: `${marginalHow}: what one more waiting support-ticket job costs once the worker holds ${count}.`,
    }),
    figure({
      key: 'memory.rawMarginalMbPerWorkflow',
      section,
      label: `raw Temporal: MB per waiting workflow, the next ${count.toLocaleString('en-US')}`,
      value: rawMarginal,
      unit: 'MB/workflow',
      measures: `${marginalHow}, for the raw waiting workflows.`,
    }),
  ];
  const view = (run: Measured) => ({
    waitingWorkflows: run.waitingWorkflows,
    cachedWorkflows: run.after.cachedWorkflows,
    secondsToStartAndReachWait: run.startSeconds,
    rssBeforeMb: run.before.rssBytes / MB,
    rssAfterMb: run.after.rssBytes / MB,
    mainThreadHeapBeforeMb: run.before.heapUsedBytes / MB,
    mainThreadHeapAfterMb: run.after.heapUsedBytes / MB,
    gcAvailable: run.after.gcAvailable,
    workflowThreadsCollected: run.after.workflowThreadsCollected,
    mbPerWorkflow: run.mbPerWorkflow,
    kbPerWorkflowBySplit: run.split,
  });
  return { section, figures, details: { warmUpWorkflows, startConcurrency, factory: view(factory), factoryDouble: view(factoryDouble), raw: view(raw), rawDouble: view(rawDouble) } };
}
