/**
 * Test plumbing around the suite's real Temporal server: settings pointing at it, a typed client,
 * and a Conveyor worker (real gateway, real outbox) started and stopped by each test file.
 */
import type { Factory } from '../../factory/define';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inject } from 'vitest';
import { findTemporalCli } from '../../platform/temporal-cli';
import type { NativeConnection, Worker, WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { ConveyorClient } from '../../client';
import type { ActionReceiptStore } from '../../activities/outbox';
import { openClaimStore } from '../../platform/claims';
import { connectWorkerConnection } from '../../platform/connection';
import { loadSettings, type ConveyorSettings } from '../../platform/settings';
import { createModelGateway, type ModelGatewayOptions } from '../../providers/gateway';
import type { ModelGateway } from '../../providers/gateway-types';
import { createConveyorWorker, defaultOutbox } from '../../workers/worker';
import type { ExampleRepository } from '../../learning/example-repository';
import { collectAudit, type AuditRecord } from '../../client/audit';

export function testSettings(taskQueue: string): ConveyorSettings {
  return loadSettings({
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    TEMPORAL_NAMESPACE: inject('temporalNamespace'),
    CONVEYOR_TASK_QUEUE: taskQueue,
    CONVEYOR_DATA_DIR: tempDir('data'),
    CONVEYOR_UI_URL: inject('temporalUiUrl') || undefined,
  });
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `conveyor-${prefix}-`));
}

export function uniqueId(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

export interface RunningWorker {
  worker: Worker;
  gateway: ModelGateway;
  outbox: ActionReceiptStore;
  connection: NativeConnection;
  stop(): Promise<void>;
}

export async function startWorker(options: {
  settings: ConveyorSettings;
  bundle: WorkflowBundleWithSourceMap;
  gateway?: ModelGatewayOptions;
  outboxFile?: string;
  exampleStore?: ExampleRepository;
  /** `patched()` ids left inactive for new runs: the worker takes their old branch, as code predating them did. */
  inactivePatches?: string[];
  /** The factory the worker runs (default: the built-in support factory). */
  factory?: Factory;
  /** Where actions read their secrets (default: the process's environment). */
  env?: Record<string, string | undefined>;
}): Promise<RunningWorker> {
  const connection = await connectWorkerConnection(options.settings, options.settings.address!);
  const gateway = createModelGateway({ cache: null, ...options.gateway });
  // The settings' stores: the data dir's outbox and claims, or PostgreSQL when they have a database URL.
  const outbox = defaultOutbox(options.outboxFile ? { ...options.settings, outboxFile: options.outboxFile } : options.settings);
  const claims = openClaimStore(options.settings);
  const worker = await createConveyorWorker({
    connection,
    namespace: options.settings.namespace,
    taskQueue: options.settings.taskQueue,
    gateway,
    outbox,
    claims,
    workflowBundle: options.bundle,
    dataDir: options.settings.dataDir,
    settings: options.settings,
    exampleStore: options.exampleStore,
    ...(options.factory ? { factory: options.factory } : {}),
    ...(options.env ? { env: options.env } : {}),
    ...(options.inactivePatches ? { patchActivationCallback: ({ patchId }) => !options.inactivePatches!.includes(patchId) } : {}),
  });
  const running = worker.run();
  return {
    worker,
    gateway,
    outbox,
    connection,
    async stop() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
      await gateway.close();
      await outbox.close();
      await claims.close();
      await connection.close();
    },
  };
}

export async function testClient(settings: ConveyorSettings): Promise<ConveyorClient> {
  return ConveyorClient.connect({ settings });
}

/** Polls until `check` returns a value (visibility is eventually consistent). */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** The job's pending approvals, once it has any. */
export async function waitForPending(client: ConveyorClient, jobId: string, timeoutMs = 60_000) {
  return eventually(async () => {
    const status = await client.getStatus(jobId);
    return status.pendingApprovals.length > 0 ? status.pendingApprovals : undefined;
  }, timeoutMs);
}

/**
 * A finished run's audit trail, once the export can see all of it: the export lists completed runs through
 * visibility, which learns of a run's end a moment after the result is in, so this waits for the trail's
 * `outcome` record.
 */
export async function finishedAuditTrail(client: ConveyorClient, options: Parameters<typeof collectAudit>[1], jobId: string): Promise<AuditRecord[]> {
  return eventually(async () => {
    const records: AuditRecord[] = [];
    for await (const record of collectAudit(client, options)) if (record.jobId === jobId) records.push(record);
    return records.some((record) => record.kind === 'outcome') ? records : undefined;
  }, 30_000);
}

/**
 * With CONVEYOR_RECORD_HISTORIES=1, saves a finished workflow's history as a replay fixture
 * (test/fixtures/histories/<name>.json, or <name>.<tag>.json with CONVEYOR_RECORD_HISTORIES=<tag>); test/replay.test.ts
 * replays every fixture on each run.
 * A workflow that continued as new is saved run by run (<name>-run-1.json, <name>-run-2.json, …), so
 * the runs that end in continue-as-new are replayed too, not only the last one.
 */
export async function recordHistory(client: ConveyorClient, workflowId: string, baseName: string): Promise<void> {
  const tag = process.env.CONVEYOR_RECORD_HISTORIES;
  if (!tag) return;
  // A tag other than 1 names a generation of fixtures (e.g. `factory`): <name>.<tag>.json, beside the older ones.
  const name = tag === '1' ? baseName : `${baseName}.${tag}`;
  // The Temporal CLI writes the canonical proto-JSON history that historyFromJSON reads back.
  const show = (runId?: string) =>
    execFileSync(
      findTemporalCli()!.path,
      ['workflow', 'show', '--address', inject('temporalAddress'), '--namespace', client.temporal.options.namespace, '--workflow-id', workflowId, ...(runId ? ['--run-id', runId] : []), '--output', 'json'],
      { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 },
    );
  const runs = [show()];
  for (;;) {
    const started = (JSON.parse(runs[0]!) as { events: { workflowExecutionStartedEventAttributes?: { continuedExecutionRunId?: string } }[] }).events[0];
    const previous = started?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId;
    if (!previous) break;
    runs.unshift(show(previous));
  }
  const dir = path.resolve(__dirname, '..', 'fixtures', 'histories');
  fs.mkdirSync(dir, { recursive: true });
  for (const stale of fs.readdirSync(dir).filter((file) => file === `${name}.json` || new RegExp(`^${name}-run-\\d+\\.json$`).test(file))) fs.rmSync(path.join(dir, stale));
  runs.forEach((history, index) => {
    const file = runs.length === 1 ? `${name}.json` : `${name}-run-${index + 1}.json`;
    fs.writeFileSync(path.join(dir, file), history.endsWith('\n') ? history : `${history}\n`);
  });
}

/** The most of these workflows that were running at one time, from their start and close times. */
export async function maxRunningAtOnce(client: ConveyorClient, workflowIds: readonly string[]): Promise<number> {
  const changes: { at: number; delta: number }[] = [];
  for (const workflowId of workflowIds) {
    const { startTime, closeTime } = await client.temporal.workflow.getHandle(workflowId).describe();
    if (!closeTime) throw new Error(`workflow ${workflowId} is still running`);
    changes.push({ at: startTime.getTime(), delta: 1 }, { at: closeTime.getTime(), delta: -1 });
  }
  // A close and a start at the same millisecond: the close counts first (a freed slot, then a new job).
  changes.sort((a, b) => a.at - b.at || a.delta - b.delta);
  let running = 0;
  let most = 0;
  for (const change of changes) most = Math.max(most, (running += change.delta));
  return most;
}
