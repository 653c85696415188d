/**
 * A worker that stops closes what its activities opened: with a database URL in the settings they are
 * given (`settings`; CONVEYOR_DATABASE_URL for `conveyor worker`), the learning registry's and
 * observations' PostgreSQL pools and the claim store's (createConveyorWorker does it when
 * `run()` ends; a worker of one's own calls openConveyorActivities(...).close()). Checked on a real
 * PostgreSQL: while a worker runs jobs its process holds connections to the database, and once `run()` has
 * returned it holds none, so a process that goes on (a test runner, a host that restarts its worker) does
 * not keep pools open until they time out.
 */
import path from 'node:path';
import { Worker, type NativeConnection, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createModelGateway, Outbox, supportFactory } from '../index';
import { connectWorkerConnection } from '../platform/connection';
import type { ConveyorSettings } from '../platform/settings';
import type { ModelGateway } from '../providers/gateway-types';
import { bundleConveyorWorkflows, createConveyorWorker, openConveyorActivities } from '../workers/worker';
import { conveyorSinks } from '../workers/metrics-sink';
import { startTestPostgres, type TestPostgres } from './support/postgres';
import { eventually, tempDir, testClient, testSettings, uniqueId } from './support/temporal';

let postgres: TestPostgres;
let databaseUrl: string;
let observer: pg.Client;
let bundle: WorkflowBundleWithSourceMap;

beforeAll(async () => {
  postgres = await startTestPostgres();
  databaseUrl = await postgres.createDatabase('worker_stores');
  observer = new pg.Client({ connectionString: databaseUrl });
  await observer.connect();
  bundle = await bundleConveyorWorkflows();
}, 120_000);

afterAll(async () => {
  await observer?.end();
  await postgres?.dispose();
});

/**
 * Connections to the test database other than the observer's own. The checks after a stop wait 3 s,
 * well under the pools' 10 s idle timeout (platform/postgres.ts), so only closing the stores empties them.
 */
async function workerConnections(): Promise<number> {
  const { rows } = await observer.query<{ n: string }>('SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()');
  return Number(rows[0]!.n);
}

/** Triage jobs run to the end: their learnable step reads the registry, and settling it writes observations. */
async function runTriageJobs(settings: ConveyorSettings, count: number): Promise<void> {
  const client = await testClient(settings);
  try {
    const ids = Array.from({ length: count }, () => uniqueId('stores-job'));
    for (const [index, id] of ids.entries()) await client.startJob({ id, type: 'triage', input: { text: `Where is my parcel? Order #S${index} is late.` } });
    for (const id of ids) expect((await client.getResult(id)).status).toBe('completed');
  } finally {
    await client.close();
  }
}

/** A worker's parts the test owns (its connection, gateway and outbox, closed after it), for `body`. */
async function withWorkerParts(prefix: string, body: (parts: { settings: ConveyorSettings; stores: ConveyorSettings; connection: NativeConnection; gateway: ModelGateway; outbox: Outbox }) => Promise<void>): Promise<void> {
  const settings = testSettings(uniqueId(prefix));
  // The database reaches the activities through the settings given to them, not the environment; the
  // test's client keeps to the data dir, so every connection to the database is the worker's.
  const stores = { ...settings, databaseUrl };
  const connection = await connectWorkerConnection(settings, settings.address!);
  const gateway = createModelGateway({ cache: null, env: {} });
  const outbox = new Outbox(path.join(tempDir(`${prefix}-outbox`), 'outbox.sqlite'));
  try {
    await body({ settings, stores, connection, gateway, outbox });
  } finally {
    await gateway.close();
    await outbox.close();
    await connection.close();
  }
}

/** Runs triage jobs on the worker, checks its process holds database connections, then stops it. */
async function runThenStop(worker: Worker, settings: ConveyorSettings): Promise<void> {
  const running = worker.run();
  await runTriageJobs(settings, 3);
  expect(await workerConnections()).toBeGreaterThan(0);
  worker.shutdown();
  await running;
}

async function expectNoConnectionsLeft(): Promise<void> {
  expect(await eventually(async () => ((await workerConnections()) === 0 ? true : undefined), 3_000).catch(async () => `still ${await workerConnections()} connections`)).toBe(true);
}

describe('a stopped worker', () => {
  it('createConveyorWorker: holds database connections while it runs jobs, none once run() has returned', async () => {
    await withWorkerParts('worker-stores', async ({ settings, stores, connection, gateway, outbox }) => {
      const worker = await createConveyorWorker({ connection, namespace: settings.namespace, taskQueue: settings.taskQueue, gateway, outbox, workflowBundle: bundle, settings: stores });
      await runThenStop(worker, settings);
      await expectNoConnectionsLeft();
    });
  }, 120_000);

  it('a worker of one’s own: openConveyorActivities(...).close() after run() closes the same pools', async () => {
    await withWorkerParts('own-worker-stores', async ({ settings, stores, connection, gateway, outbox }) => {
      const conveyor = openConveyorActivities({ factory: supportFactory, gateway, outbox, settings: stores });
      const worker = await Worker.create({ connection, namespace: settings.namespace, taskQueue: settings.taskQueue, workflowBundle: bundle, activities: conveyor.activities, sinks: conveyorSinks() });
      await runThenStop(worker, settings);
      // The SDK's worker knows nothing of these stores: without close() they would stay open.
      expect(await workerConnections()).toBeGreaterThan(0);
      await conveyor.close();
      await expectNoConnectionsLeft();
    });
  }, 120_000);
});
