/**
 * The growth section: how time and memory grow with batch size. Each size runs as a triage batch from a
 * JSONL file (startBatch({ jobsFile, concurrency: 200, jobsPerRun: 500 }), threshold 0 so nothing
 * escalates, the no-op model) on a fresh worker process, so each size's peak memory is its own. It
 * reports seconds and milliseconds per job for each size, the worker's peak RSS and the embedded server's
 * sampled peak RSS, and the time ratio of the two largest sizes against their size ratio (linear).
 */
import fs from 'node:fs';
import path from 'node:path';
import { figure, type BenchContext, type Figure, type SectionOutcome } from './figures';
import { elapsedMs, MB, rssBytes, sampleRss } from './measure';
import { triageJobs } from './throughput';
import { startBenchWorker } from './worker-handle';

interface SizeRun {
  jobs: number;
  seconds: number;
  msPerJob: number;
  jobsPerSecond: number;
  batchRuns: number;
  workerRssBeforeMb?: number;
  workerPeakRssMb?: number;
  serverPeakRssMb?: number;
}

const jobsPerRun = 500;

export async function runGrowthSection(context: BenchContext): Promise<Omit<SectionOutcome, 'loadAverage' | 'durationSeconds'>> {
  const section = 'growth';
  const concurrency = context.options.batchConcurrency;
  const sizes = [...context.options.sizes].sort((a, b) => a - b);
  const runs: SizeRun[] = [];
  for (const jobs of sizes) {
    const taskQueue = `bench-growth-${jobs}-${context.runId}`;
    const batchId = `bench-growth-${jobs}-${context.runId}`;
    const jobsFile = path.join(context.dataDir, `growth-${jobs}.jsonl`);
    fs.writeFileSync(jobsFile, `${triageJobs(batchId, jobs).map((job) => JSON.stringify(job)).join('\n')}\n`);
    const worker = await startBenchWorker(context, 'conveyor', taskQueue);
    try {
      const before = rssBytes(worker.pid);
      const sampler = sampleRss({ server: context.serverPid });
      const client = context.clientOn(taskQueue);
      const start = process.hrtime.bigint();
      await client.startBatch({ batchId, jobsFile, concurrency, jobsPerRun });
      const result = await client.getBatchResult(batchId);
      const seconds = elapsedMs(start) / 1000;
      const peaks = sampler.stop();
      if (result.completed !== jobs) throw new Error(`growth batch of ${jobs}: ${result.completed} completed, ${result.failed} failed, ${result.duplicates} duplicates`);
      const workerPeak = worker.peakRssBytes();
      const run: SizeRun = {
        jobs,
        seconds,
        msPerJob: (seconds * 1000) / jobs,
        jobsPerSecond: jobs / seconds,
        batchRuns: result.runs,
        workerRssBeforeMb: before === undefined ? undefined : before / MB,
        workerPeakRssMb: workerPeak === undefined ? undefined : workerPeak / MB,
        serverPeakRssMb: peaks.server === undefined ? undefined : peaks.server / MB,
      };
      runs.push(run);
      context.log(
        `  ${jobs} jobs: ${seconds.toFixed(1)} s (${run.msPerJob.toFixed(2)} ms/job), worker peak RSS ${run.workerPeakRssMb?.toFixed(0) ?? '?'} MB, server peak RSS ${run.serverPeakRssMb?.toFixed(0) ?? '?'} MB`,
      );
    } finally {
      await worker.stop();
      fs.rmSync(jobsFile, { force: true });
    }
  }

  const figures: Figure[] = [];
  for (const run of runs) {
    figures.push(
      figure({
        key: `growth.${run.jobs}.msPerJob`,
        section,
        label: `${run.jobs.toLocaleString('en-US')} jobs: ms per job`,
        value: run.msPerJob,
        unit: 'ms/job',
        measures: `Seconds from startBatch to the batch result (${run.seconds.toFixed(1)} s, ${run.batchRuns} batch run(s)) × 1000 / ${run.jobs} triage jobs from a JSONL file, concurrency ${concurrency}, ${jobsPerRun} jobs per run.`,
      }),
    );
    if (run.workerPeakRssMb !== undefined) {
      figures.push(
        figure({
          key: `growth.${run.jobs}.workerPeakRssMb`,
          section,
          label: `${run.jobs.toLocaleString('en-US')} jobs: worker peak RSS`,
          value: run.workerPeakRssMb,
          unit: 'MB',
          measures: 'Highest RSS of the worker process (VmHWM) over its life: start, bundle load, the whole batch.',
        }),
      );
    }
    if (run.serverPeakRssMb !== undefined) {
      figures.push(
        figure({
          key: `growth.${run.jobs}.serverPeakRssMb`,
          section,
          label: `${run.jobs.toLocaleString('en-US')} jobs: server peak RSS`,
          value: run.serverPeakRssMb,
          unit: 'MB',
          measures: 'Highest RSS of the embedded Temporal server sampled every 250 ms during the batch (the server also holds every earlier section\'s data).',
        }),
      );
    }
  }
  const largest = runs[runs.length - 1];
  const previous = runs[runs.length - 2];
  if (largest && previous) {
    const sizeRatio = largest.jobs / previous.jobs;
    figures.push(
      figure({
        key: 'growth.timeRatio',
        section,
        label: `time ${largest.jobs.toLocaleString('en-US')} / ${previous.jobs.toLocaleString('en-US')} jobs (linear = ${sizeRatio})`,
        value: largest.seconds / previous.seconds,
        unit: '×',
        measures: `Batch time of ${largest.jobs} jobs over batch time of ${previous.jobs} jobs; ${sizeRatio} is linear growth, less is better than linear.`,
        goal: { comparator: '<=', target: sizeRatio, text: `≤ ${sizeRatio} (no worse than linear)` },
      }),
    );
  }
  return { section, figures, details: { concurrency, jobsPerRun, runs } };
}
