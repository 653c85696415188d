/**
 * The vocabulary of the engine benchmark's results: a figure (one measured number with its unit, what it
 * measures, and the goal it is held to), a section's outcome, and the context every section runs in —
 * the server's address, the client, the bundles and the options of this run.
 */
import type { Client } from '@temporalio/client';
import type { ConveyorClient } from '../../client';

export interface Goal {
  comparator: '<=' | '>=' | '<';
  target: number;
  /** The goal as a reader says it, e.g. "≤ 15 ms per step". */
  text: string;
}

/** Where a figure was measured: the embedded dev server (SQLite) or the cluster (Temporal Server on PostgreSQL). */
export type BenchServer = 'embedded' | 'cluster';

export interface Figure {
  key: string;
  section: string;
  /** Set by the run for every figure it reports. */
  server?: BenchServer;
  label: string;
  value: number;
  unit: string;
  /** What exactly was measured, in one or two sentences. */
  measures: string;
  goal?: Goal;
  pass?: boolean;
}

export function figure(fields: Omit<Figure, 'pass'>): Figure {
  if (!fields.goal) return fields;
  const { comparator, target } = fields.goal;
  const value = fields.value;
  const pass = Number.isFinite(value) && (comparator === '<=' ? value <= target : comparator === '>=' ? value >= target : value < target);
  return { ...fields, pass };
}

export interface SectionOutcome {
  section: string;
  server?: BenchServer;
  figures: Figure[];
  /** Everything measured, for the JSON file (samples summarised, counts, checks). */
  details: Record<string, unknown>;
  /** Load average (1, 5, 15 min) when the section started and ended. */
  loadAverage: { start: [number, number, number]; end: [number, number, number] };
  durationSeconds: number;
  error?: string;
}

export interface BenchOptions {
  quick: boolean;
  /** Batch sizes of the growth section. */
  sizes: number[];
  /** Sequential jobs timed per kind in the overhead section. */
  overheadJobs: number;
  /** Support-ticket jobs (and raw workflows) of the remote-like section. */
  remoteJobs: number;
  /** Jobs in one throughput batch, and rounds of (raw, factory). */
  throughputJobs: number;
  throughputRounds: number;
  batchConcurrency: number;
  /** Workflows held in the worker's cache in the memory section. */
  memoryWorkflows: number;
  /** Lookups in the cache section. */
  cacheLookups: number;
  /** Modules bundled as shared across workflows (bundler preloadModules); empty: the worker's own bundle. */
  preloadModules: string[];
}

export interface BenchContext {
  options: BenchOptions;
  temporal: Client;
  /** A Conveyor client on the run's connection that starts jobs on `taskQueue`. */
  clientOn(taskQueue: string): ConveyorClient;
  server: BenchServer;
  address: string;
  namespace: string;
  /** The shared stores' database the workers use (the cluster's); undefined: each worker's data-dir stores. */
  databaseUrl?: string;
  /** Temporary directory of this run: server database, bundles, job files, worker outboxes. */
  dataDir: string;
  conveyorBundleFile: string;
  rawBundleFile: string;
  /** A short id unique to this run, for task queues and workflow ids. */
  runId: string;
  serverPid?: number;
  log(line: string): void;
}
