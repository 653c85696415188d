/**
 * Measuring helpers shared by the engine benchmark: timing summaries (mean, percentiles), process memory
 * and CPU time read from /proc (current and peak RSS of any process id, sampled over a run; CPU seconds
 * used so far), the load average, and the id of the embedded Temporal server this process started. Linux
 * only for the /proc readings; elsewhere they report undefined and the figures say so.
 */
import os from 'node:os';
import { percentile } from '../../domain/stats';
import { childProcesses, procMemoryBytes, procStat } from '../../platform/proc';

export const MB = 1024 * 1024;

export interface TimingSummary {
  count: number;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
  minMs: number;
  maxMs: number;
}


export function summarize(samplesMs: readonly number[]): TimingSummary {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  const total = sorted.reduce((sum, value) => sum + value, 0);
  return {
    count: sorted.length,
    meanMs: sorted.length ? total / sorted.length : Number.NaN,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    minMs: sorted[0] ?? Number.NaN,
    maxMs: sorted[sorted.length - 1] ?? Number.NaN,
  };
}

/** Milliseconds since `start` (from process.hrtime.bigint()), with sub-microsecond resolution. */
export function elapsedMs(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

export const rssBytes = (pid: number) => procMemoryBytes(pid, 'VmRSS');
export const peakRssBytes = (pid: number) => procMemoryBytes(pid, 'VmHWM');

/** CPU seconds (user + system, all threads) a process has used so far. */
export const cpuSeconds = (pid: number): number | undefined => procStat(pid)?.cpuSeconds;

/** The `temporal` process this process started (the embedded server), if there is one. */
export const embeddedServerPid = (): number | undefined => childProcesses().find((child) => child.comm === 'temporal')?.pid;

/** Samples the RSS of some processes every `intervalMs` and keeps each one's highest value. */
export function sampleRss(pids: Record<string, number | undefined>, intervalMs = 250) {
  const peaks: Record<string, number> = {};
  const sample = () => {
    for (const [label, pid] of Object.entries(pids)) {
      const rss = pid === undefined ? undefined : rssBytes(pid);
      if (rss !== undefined) peaks[label] = Math.max(peaks[label] ?? 0, rss);
    }
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  return {
    stop(): Record<string, number> {
      clearInterval(timer);
      sample();
      return peaks;
    },
  };
}

export function loadAverage(): [number, number, number] {
  const [one = 0, five = 0, fifteen = 0] = os.loadavg();
  return [round(one, 2), round(five, 2), round(fifteen, 2)];
}

export function round(value: number, digits: number): number {
  if (!Number.isFinite(value)) return value;
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/** Significant digits for display, e.g. 0.01234 → "0.0123", 1234.5 → "1235". */
export function formatNumber(value: number, digits = 3): string {
  if (!Number.isFinite(value)) return String(value);
  if (value === 0) return '0';
  const magnitude = Math.abs(value);
  if (magnitude >= 1000) return Math.round(value).toLocaleString('en-US');
  return Number(value.toPrecision(digits)).toString();
}
