/**
 * The memory section: what one cached, waiting workflow costs a worker. A fresh worker process (cache
 * larger than the workload) first runs a few jobs to completion, so code and connections are warm; its
 * RSS after a full GC is the baseline. Then N workflows are started that each run three model calls and
 * wait: Conveyor triage jobs with threshold 1, so the answer escalates small → medium → large → a person
 * and the job waits for review; and, for comparison, raw workflows running three no-op activities and
 * waiting for a signal. MB per workflow is (RSS with N waiting − baseline) / N.
 */
import type { JobRequest } from '../../client';
import { figure, type BenchContext, type Figure, type SectionOutcome } from './figures';
import { MB } from './measure';
import { rawStepsWorkflow, rawWaitingWorkflow, waitingQuery } from './raw-workflow';
import { triageJobs } from './throughput';
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

interface Measured {
  before: MemoryReport;
  after: MemoryReport;
  waitingWorkflows: number;
  mbPerWorkflow: number;
  startSeconds: number;
}

function measured(before: MemoryReport, after: MemoryReport, count: number, startSeconds: number): Measured {
  if (after.cachedWorkflows < count) throw new Error(`only ${after.cachedWorkflows} of ${count} waiting workflows were in the worker's cache`);
  return { before, after, waitingWorkflows: count, mbPerWorkflow: (after.rssBytes - before.rssBytes) / MB / count, startSeconds };
}

async function measureFactory(context: BenchContext, count: number): Promise<Measured> {
  const taskQueue = `bench-memory-conveyor-${context.runId}`;
  const worker: WorkerHandle = await startBenchWorker(context, 'conveyor', taskQueue, { maxCachedWorkflows: count + 200 });
  try {
    const client = context.clientOn(taskQueue);
    const warm = triageJobs(`bench-memory-warm-${context.runId}`, 20);
    await inParallel(warm, 10, async (job) => {
      await client.startJob(job);
      await client.jobHandle(job.id).result();
    });
    const before = await worker.memory();
    const waiting: JobRequest[] = triageJobs(`bench-memory-wait-${context.runId}`, count).map((job) => ({
      ...job,
      policy: { confidenceThresholds: { 'classify-intent': 1 } },
    }));
    const started = Date.now();
    await inParallel(waiting, 50, (job) => client.startJob(job));
    const query = `TaskQueue = "${taskQueue}" AND ConveyorStatus = "awaiting_approval" AND ExecutionStatus = "Running"`;
    await until(async () => (await context.temporal.workflow.count(query)).count, count, 'jobs awaiting approval');
    const startSeconds = (Date.now() - started) / 1000;
    await new Promise((resolve) => setTimeout(resolve, 2000));
    return measured(before, await worker.memory(), count, startSeconds);
  } finally {
    await worker.stop();
  }
}

async function measureRaw(context: BenchContext, count: number): Promise<Measured> {
  const taskQueue = `bench-memory-raw-${context.runId}`;
  const worker = await startBenchWorker(context, 'raw', taskQueue, { maxCachedWorkflows: count + 200 });
  try {
    await inParallel(Array.from({ length: 20 }, (_, index) => index), 10, (index) =>
      context.temporal.workflow.execute(rawStepsWorkflow, { taskQueue, workflowId: `bench-memory-raw-warm-${context.runId}-${index}`, args: [[1, 1, 1]] }),
    );
    const before = await worker.memory();
    const ids = Array.from({ length: count }, (_, index) => `bench-memory-raw-wait-${context.runId}-${index}`);
    const started = Date.now();
    await inParallel(ids, 50, (workflowId) => context.temporal.workflow.start(rawWaitingWorkflow, { taskQueue, workflowId, args: [[1, 1, 1]] }));
    let notYet = [...ids];
    await until(
      async () => {
        const still: string[] = [];
        await inParallel(notYet, 50, async (workflowId) => {
          if (!(await context.temporal.workflow.getHandle(workflowId).query(waitingQuery))) still.push(workflowId);
        });
        notYet = still;
        return count - notYet.length;
      },
      count,
      'raw workflows waiting',
    );
    const startSeconds = (Date.now() - started) / 1000;
    await new Promise((resolve) => setTimeout(resolve, 2000));
    return measured(before, await worker.memory(), count, startSeconds);
  } finally {
    await worker.stop();
  }
}

export async function runMemorySection(context: BenchContext): Promise<Omit<SectionOutcome, 'loadAverage' | 'durationSeconds'>> {
  const section = 'memory';
  const count = context.options.memoryWorkflows;
  const factory = await measureFactory(context, count);
  context.log(`  factory: ${factory.mbPerWorkflow.toFixed(3)} MB per waiting job (${count} jobs, ${factory.after.cachedWorkflows} cached)`);
  const raw = await measureRaw(context, count);
  context.log(`  raw: ${raw.mbPerWorkflow.toFixed(3)} MB per waiting workflow (${count} workflows, ${raw.after.cachedWorkflows} cached)`);
  const perGb = (mb: number) => (mb > 0 ? 1024 / mb : Number.POSITIVE_INFINITY);
  const how = `(RSS of the worker process after a full GC with ${count} waiting workflows cached − RSS after warm-up) / ${count}`;
  const figures: Figure[] = [
    figure({
      key: 'memory.factoryMbPerWorkflow',
      section,
      label: 'factory: MB per cached waiting job',
      value: factory.mbPerWorkflow,
      unit: 'MB/workflow',
      measures: `${how}; each job is a triage job that escalated through three tiers and waits for review.`,
    }),
    figure({
      key: 'memory.factoryWorkflowsPerGb',
      section,
      label: 'factory: cached waiting jobs per GB',
      value: perGb(factory.mbPerWorkflow),
      unit: 'workflows/GB',
      measures: '1024 / MB per cached waiting job.',
      goal: { comparator: '>=', target: 1000, text: '≥ 1,000 per GB' },
    }),
    figure({
      key: 'memory.rawMbPerWorkflow',
      section,
      label: 'raw Temporal: MB per cached waiting workflow',
      value: raw.mbPerWorkflow,
      unit: 'MB/workflow',
      measures: `${how}; each is a raw workflow that ran three no-op activities and waits for a signal.`,
    }),
    figure({
      key: 'memory.factoryOverRaw',
      section,
      label: 'memory per workflow factory / raw',
      value: factory.mbPerWorkflow / raw.mbPerWorkflow,
      unit: '×',
      measures: 'Factory MB per cached waiting workflow over raw MB per cached waiting workflow.',
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
    mbPerWorkflow: run.mbPerWorkflow,
  });
  return { section, figures, details: { factory: view(factory), raw: view(raw) } };
}
