/**
 * The throughput section: jobs per second of one batch, factory against raw Temporal. The factory runs a
 * triage batch through ConveyorClient.startBatch (jobs inline, one batch run, child workflows with bounded
 * concurrency, the no-op model); the baseline is a raw parent workflow that runs the same number of raw
 * children with the same concurrency, each child running one no-op activity (regular, and in a second
 * yardstick local). Rounds alternate raw and
 * factory so both see the same load; the best round of each is the figure, every round is in the details.
 */
import type { JobRequest } from '../../client';
import { figure, type BenchContext, type SectionOutcome } from './figures';
import { elapsedMs } from './measure';
import { rawBatchWorkflow } from './raw-workflow';
import { startBenchWorker, type WorkerHandle } from './worker-handle';

const texts = ['Where is my order #A{n}?', 'Please cancel order #B{n}', 'My card was charged twice for #C{n}', 'The app crashes when I log in', 'Do you ship to Norway?'];

export function triageJobs(prefix: string, count: number): JobRequest[] {
  return Array.from({ length: count }, (_, index) => ({
    id: `${prefix}-${index}`,
    type: 'triage',
    input: { text: (texts[index % texts.length] ?? 'Hello').replace('{n}', String(index)) },
    policy: { confidenceThresholds: { 'classify-intent': 0 } },
  }));
}

export async function runThroughputSection(context: BenchContext): Promise<Omit<SectionOutcome, 'loadAverage' | 'durationSeconds'>> {
  const section = 'throughput';
  const { throughputJobs: jobs, throughputRounds: rounds, batchConcurrency: concurrency } = context.options;
  const conveyorQueue = `bench-throughput-conveyor-${context.runId}`;
  const rawQueue = `bench-throughput-raw-${context.runId}`;
  const workers: WorkerHandle[] = [];
  const factoryRounds: number[] = [];
  const rawRounds: number[] = [];
  const rawLocalRounds: number[] = [];
  try {
    workers.push(await startBenchWorker(context, 'conveyor', conveyorQueue), await startBenchWorker(context, 'raw', rawQueue));
    const client = context.clientOn(conveyorQueue);
    for (let round = 0; round < rounds; round++) {
      const rawId = `bench-throughput-raw-${context.runId}-${round}`;
      const rawStart = process.hrtime.bigint();
      const completed = await context.temporal.workflow.execute(rawBatchWorkflow, {
        taskQueue: rawQueue,
        workflowId: rawId,
        args: [{ batchId: rawId, count: jobs, concurrency, waves: [1] }],
      });
      const rawSeconds = elapsedMs(rawStart) / 1000;
      if (completed !== jobs) throw new Error(`raw batch ${rawId} completed ${completed} of ${jobs} children`);
      rawRounds.push(jobs / rawSeconds);

      const rawLocalId = `bench-throughput-raw-local-${context.runId}-${round}`;
      const rawLocalStart = process.hrtime.bigint();
      const completedLocal = await context.temporal.workflow.execute(rawBatchWorkflow, {
        taskQueue: rawQueue,
        workflowId: rawLocalId,
        args: [{ batchId: rawLocalId, count: jobs, concurrency, waves: [1], kind: 'local' }],
      });
      const rawLocalSeconds = elapsedMs(rawLocalStart) / 1000;
      if (completedLocal !== jobs) throw new Error(`raw batch ${rawLocalId} completed ${completedLocal} of ${jobs} children`);
      rawLocalRounds.push(jobs / rawLocalSeconds);

      const batchId = `bench-throughput-factory-${context.runId}-${round}`;
      const factoryStart = process.hrtime.bigint();
      await client.startBatch({ batchId, jobs: triageJobs(batchId, jobs), concurrency, jobsPerRun: Math.max(500, jobs) });
      const result = await client.getBatchResult(batchId);
      const factorySeconds = elapsedMs(factoryStart) / 1000;
      if (result.completed !== jobs) throw new Error(`factory batch ${batchId}: ${result.completed} of ${jobs} completed, ${result.failed} failed`);
      factoryRounds.push(jobs / factorySeconds);
      context.log(`  round ${round + 1}/${rounds}: raw ${(jobs / rawSeconds).toFixed(1)} jobs/s, raw local ${(jobs / rawLocalSeconds).toFixed(1)} jobs/s, factory ${(jobs / factorySeconds).toFixed(1)} jobs/s`);
    }
  } finally {
    await Promise.all(workers.map((worker) => worker.stop()));
  }
  const factory = Math.max(...factoryRounds);
  const raw = Math.max(...rawRounds);
  const rawLocal = Math.max(...rawLocalRounds);
  return {
    section,
    figures: [
      figure({
        key: 'throughput.factoryJobsPerSecond',
        section,
        label: `factory: jobs/s (${jobs}-job triage batch)`,
        value: factory,
        unit: 'jobs/s',
        measures: `${jobs} triage jobs (no-op model) / seconds from startBatch to the batch result, concurrency ${concurrency}; best of ${rounds} round(s).`,
      }),
      figure({
        key: 'throughput.rawJobsPerSecond',
        section,
        label: `raw Temporal: jobs/s (${jobs} children)`,
        value: raw,
        unit: 'jobs/s',
        measures: `A raw parent workflow running ${jobs} raw child workflows (one no-op activity each), concurrency ${concurrency}: children / seconds from start to result; best of ${rounds} round(s).`,
      }),
      figure({
        key: 'throughput.rawLocalJobsPerSecond',
        section,
        label: `raw Temporal: jobs/s (${jobs} children, local activity)`,
        value: rawLocal,
        unit: 'jobs/s',
        measures: `The same raw parent and children, each child running its no-op step as a local activity; best of ${rounds} round(s).`,
      }),
      figure({
        key: 'throughput.factoryOverRaw',
        section,
        label: 'throughput factory / raw (regular activities)',
        value: factory / raw,
        unit: '×',
        measures: 'Factory jobs/s over raw jobs/s with one regular activity per child.',
        goal: { comparator: '>=', target: 1, text: '≥ 1.0× raw' },
      }),
      figure({
        key: 'throughput.factoryOverRawLocal',
        section,
        label: 'throughput factory / raw (local activities)',
        value: factory / rawLocal,
        unit: '×',
        measures: 'Factory jobs/s over raw jobs/s with one local activity per child.',
        goal: { comparator: '>=', target: 0.8, text: '≥ 0.8× raw' },
      }),
    ],
    details: { jobs, concurrency, rounds, factoryJobsPerSecondByRound: factoryRounds, rawJobsPerSecondByRound: rawRounds, rawLocalJobsPerSecondByRound: rawLocalRounds },
  };
}
