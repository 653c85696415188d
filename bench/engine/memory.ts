/**
 * The memory section: what one cached, waiting workflow costs a worker. A fresh worker process (the SDK's
 * default sticky-cache settings) first runs a few jobs to completion, so code and connections are warm;
 * its RSS after a full GC of every thread (the main thread, and each workflow thread by thread-gc.cjs) is
 * the baseline. Then N workflows are started that run their steps and wait:
 * Conveyor support-ticket jobs whose refund waits for approval (records of realistic size); and, for
 * comparison, raw workflows running the same waves of no-op activities and waiting for a signal. MB per
 * workflow is (RSS with N waiting − baseline) / N. */
import type { JobRequest } from '../../client';
import { figure, type BenchContext, type Figure, type SectionOutcome } from './figures';
import { MB } from './measure';
import { rawStepsWorkflow, rawWaitingWorkflow, waitingQuery } from './raw-workflow';
import { modelStepWaves } from './overhead';
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

const ticketText =
  'Hello, my order #A1234 arrived on 2026-11-24 and the blender jug was cracked right out of the box. I paid $249.99 and ' +
  'would like a refund to my card. This is the second order this month (the other was A1187). You can reach me at ' +
  'sam.taylor@example.com or +1 555 0100. Thanks, Sam';

/**
 * Support-ticket jobs that wait for approval: five model steps with answers of realistic size (the no-op
 * model of noop-provider.ts approvalAnswers), then a $249.99 refund above the factory's threshold waits
 * for a reviewer. The worker keeps the SDK's default sticky-cache settings.
 */
async function measureFactory(context: BenchContext, count: number): Promise<Measured> {
  const taskQueue = `bench-memory-conveyor-${context.runId}`;
  const worker: WorkerHandle = await startBenchWorker(context, 'conveyor', taskQueue, { proposeApprovals: true });
  try {
    const client = context.clientOn(taskQueue);
    const warm = triageJobs(`bench-memory-warm-${context.runId}`, 20);
    await inParallel(warm, 10, async (job) => {
      await client.startJob(job);
      await client.jobHandle(job.id).result();
    });
    const before = await worker.memory();
    const waiting: JobRequest[] = Array.from({ length: count }, (_, index) => ({ id: `bench-memory-wait-${context.runId}-${index}`, type: 'support-ticket', input: { text: ticketText } }));
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

/** The raw workflows run the support-ticket's waves of steps (2 + 2 + 1) as no-op activities before they wait. */
const supportWaves = modelStepWaves('support-ticket').map((wave) => wave.length);

async function measureRaw(context: BenchContext, count: number): Promise<Measured> {
  const taskQueue = `bench-memory-raw-${context.runId}`;
  const worker = await startBenchWorker(context, 'raw', taskQueue);
  try {
    await inParallel(Array.from({ length: 20 }, (_, index) => index), 10, (index) =>
      context.temporal.workflow.execute(rawStepsWorkflow, { taskQueue, workflowId: `bench-memory-raw-warm-${context.runId}-${index}`, args: [supportWaves] }),
    );
    const before = await worker.memory();
    const ids = Array.from({ length: count }, (_, index) => `bench-memory-raw-wait-${context.runId}-${index}`);
    const started = Date.now();
    await inParallel(ids, 50, (workflowId) => context.temporal.workflow.start(rawWaitingWorkflow, { taskQueue, workflowId, args: [supportWaves] }));
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
  const how = `(RSS of the worker process after a full GC of its main thread and of each workflow thread with ${count} waiting workflows cached − the same after warm-up) / ${count}`;
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
  });
  return { section, figures, details: { factory: view(factory), raw: view(raw) } };
}
