/**
 * What a chaos worker process leaves behind for the runner, and the keys both sides derive: the worker
 * config, the executions and received-answers logs (appended synchronously, so they survive a SIGKILL)
 * and the cache-counter file. Shared by chaos/worker-process.ts and chaos/harness.ts.
 */
export interface ChaosWorkerConfig {
  name: string;
  address: string;
  namespace: string;
  taskQueue: string;
  dataDir: string;
  bundleFile: string;
  /** Shared by every worker of a scenario: one JSON line per outbox write. */
  executionsLog: string;
  /** This worker's latest gateway cache counters. */
  statsFile: string;
  /** Shared by every worker of a scenario: one JSON line per model answer a worker actually received. */
  receivedLog: string;
}

export interface ReceivedLogLine {
  /** job order number | station | provider model — the same step key the runner derives from the wire. */
  stepKey: string;
  repair: boolean;
  at: number;
  worker: string;
}

/** The step key of a provider request: the job's order number (every prompt carries it), the station, the model. */
export function stepKeyOf(jobToken: string | undefined, station: string, model: string): string {
  return `${jobToken ?? '?'}|${station}|${model}`;
}

export const jobTokenPattern = /#?D(1\d{5})\b/;
export const repairMarker = 'Your previous answer was rejected';

export interface ExecutionLogLine {
  idempotencyKey: string;
  firstExecution: boolean;
  worker: string;
  pid: number;
}

export interface WorkerStatsFile {
  worker: string;
  pid: number;
  hits: number;
  misses: number;
  cacheErrors: number;
}

