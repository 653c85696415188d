/**
 * The growth section: how time and memory grow with batch size. Each size runs as a triage batch from a
 * JSONL file (startBatch({ jobsFile, concurrency: 200, jobsPerRun: 500 }), threshold 0 so nothing
 * escalates, the no-op model) on a fresh worker process, so each size's peak memory is its own. It
 * reports seconds and milliseconds per job for each size, the worker's peak RSS and the embedded server's
 * sampled peak RSS, the CPU time per job of each, the time ratio of the two largest sizes against their
 * size ratio (linear), and their ratio of CPU per job (flat = 1).
 */
import fs from 'node:fs';
import path from 'node:path';
import { figure, type BenchContext, type Figure, type SectionOutcome } from './figures';
import { cpuSeconds, elapsedMs, MB, rssBytes, sampleRss } from './measure';
import { batchProgressQuery } from '../../workflows/batch';
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
  /** CPU milliseconds per job the worker process used from startBatch to the batch result. */
  workerCpuMsPerJob?: number;
  /** The same for the embedded server (its background work included). */
  serverCpuMsPerJob?: number;
  /** Worker + server CPU ms per job over each fifth of the batch's jobs, from the progress samples. */
  cpuMsPerJobByFifth?: number[];
}

/** One reading while a batch runs: its completed jobs and both processes' CPU seconds so far. */
interface ProgressSample {
  completed: number;
  cpuSeconds: number;
}

/** How often the growth section reads the batch's progress (its `progress` query) and the CPU times. */
const sampleEveryMs = 5_000;

/**
 * Worker + server CPU ms per job over each fifth of the batch, from samples of (completed, CPU): each fifth
 * runs from the first sample at or past its start to the first at or past its end. A fifth with fewer than
 * two samples in it (a short batch) is left out, and so is the whole list then.
 */
function cpuByFifth(samples: readonly ProgressSample[], jobs: number): number[] | undefined {
  const at = (count: number) => samples.find((sample) => sample.completed >= count);
  const fifths: number[] = [];
  for (let fifth = 0; fifth < 5; fifth++) {
    const [from, to] = [at((jobs * fifth) / 5), at((jobs * (fifth + 1)) / 5)];
    if (!from || !to || to.completed - from.completed < jobs / 10) return undefined;
    fifths.push(((to.cpuSeconds - from.cpuSeconds) * 1000) / (to.completed - from.completed));
  }
  return fifths;
}

/** CPU milliseconds per job between two readings of a process's CPU seconds, if both were read. */
const cpuMsPerJob = (before: number | undefined, after: number | undefined, jobs: number) =>
  before === undefined || after === undefined ? undefined : ((after - before) * 1000) / jobs;

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
      const readCpu = () => ({ worker: cpuSeconds(worker.pid), server: context.serverPid === undefined ? undefined : cpuSeconds(context.serverPid) });
      const samples: ProgressSample[] = [];
      const addSample = (completed: number, cpu: ReturnType<typeof readCpu>) => {
        if (cpu.worker !== undefined && cpu.server !== undefined) samples.push({ completed, cpuSeconds: cpu.worker + cpu.server });
      };
      const cpuBefore = readCpu();
      addSample(0, cpuBefore);
      const start = process.hrtime.bigint();
      await client.startBatch({ batchId, jobsFile, concurrency, jobsPerRun });
      const sampling = setInterval(() => {
        // The query may land between two runs of the batch (continue-as-new): that sample is skipped.
        context.temporal.workflow
          .getHandle(batchId)
          .query(batchProgressQuery)
          .then((progress) => addSample(progress.completed, readCpu()))
          .catch(() => undefined);
      }, sampleEveryMs);
      const result = await client.getBatchResult(batchId).finally(() => clearInterval(sampling));
      const seconds = elapsedMs(start) / 1000;
      const cpuAfter = readCpu();
      addSample(jobs, cpuAfter);
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
        workerCpuMsPerJob: cpuMsPerJob(cpuBefore.worker, cpuAfter.worker, jobs),
        serverCpuMsPerJob: cpuMsPerJob(cpuBefore.server, cpuAfter.server, jobs),
        cpuMsPerJobByFifth: cpuByFifth(samples, jobs),
      };
      runs.push(run);
      context.log(
        `  ${jobs} jobs: ${seconds.toFixed(1)} s (${run.msPerJob.toFixed(2)} ms/job), worker peak RSS ${run.workerPeakRssMb?.toFixed(0) ?? '?'} MB, server peak RSS ${run.serverPeakRssMb?.toFixed(0) ?? '?'} MB, CPU per job: worker ${run.workerCpuMsPerJob?.toFixed(1) ?? '?'} ms, server ${run.serverCpuMsPerJob?.toFixed(1) ?? '?'} ms${run.cpuMsPerJobByFifth ? `, both by fifth of the batch ${run.cpuMsPerJobByFifth.map((value) => value.toFixed(1)).join(' / ')} ms` : ''}`,
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
    for (const [owner, value] of [['worker', run.workerCpuMsPerJob], ['server', run.serverCpuMsPerJob]] as const) {
      if (value === undefined) continue;
      figures.push(
        figure({
          key: `growth.${run.jobs}.${owner}CpuMsPerJob`,
          section,
          label: `${run.jobs.toLocaleString('en-US')} jobs: ${owner} CPU per job`,
          value,
          unit: 'ms/job',
          measures: `CPU time (user + system, /proc) the ${owner === 'worker' ? 'worker process' : 'embedded Temporal server'} used from startBatch to the batch result, over ${run.jobs} jobs.`,
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
    const fifths = largest.cpuMsPerJobByFifth;
    if (fifths) {
      figures.push(
        figure({
          key: `growth.${largest.jobs}.cpuLastOverFirstFifth`,
          section,
          label: `${largest.jobs.toLocaleString('en-US')} jobs: CPU per job, last fifth / first (flat = 1)`,
          value: fifths[4]! / fifths[0]!,
          unit: '×',
          measures: `Worker + server CPU ms per job over each fifth of the ${largest.jobs}-job batch, in one run on one worker: ${fifths.map((value) => value.toFixed(1)).join(' / ')} (from the batch's progress query every ${sampleEveryMs / 1000} s). Whether a job costs more as the batch goes on and the server fills; the first fifth includes the fresh worker's warm-up.`,
        }),
      );
    }
    const cpuPerJob = (run: SizeRun) => (run.workerCpuMsPerJob === undefined || run.serverCpuMsPerJob === undefined ? undefined : run.workerCpuMsPerJob + run.serverCpuMsPerJob);
    const [largestCpu, previousCpu] = [cpuPerJob(largest), cpuPerJob(previous)];
    if (largestCpu !== undefined && previousCpu !== undefined) {
      figures.push(
        figure({
          key: 'growth.cpuPerJobRatio',
          section,
          label: `CPU per job ${largest.jobs.toLocaleString('en-US')} / ${previous.jobs.toLocaleString('en-US')} jobs (flat = 1)`,
          value: largestCpu / previousCpu,
          unit: '×',
          measures: `Worker and server CPU ms per job at ${largest.jobs} jobs (${largestCpu.toFixed(1)}) over the same at ${previous.jobs} (${previousCpu.toFixed(1)}): whether each job costs more work in a larger batch on a fuller server. It moves much less than the time ratio with what else the machine does while one size runs and not the other.`,
        }),
      );
    }
  }
  return { section, figures, details: { concurrency, jobsPerRun, runs } };
}
