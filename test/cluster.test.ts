/**
 * The production-like cluster `conveyor cluster up` starts (platform/cluster.ts): the real Temporal
 * Server on PostgreSQL, no Docker. A Conveyor worker runs jobs on it; their history and visibility rows
 * are in PostgreSQL; a batch started before the server is SIGKILLed completes after it is restarted;
 * `conveyor cluster up|status|down` prints the export lines and stops cleanly. The server binaries come
 * from the per-user cache, which `npm test` fills before vitest starts (scripts/ensure-temporal-server.ts).
 */
import fs from 'node:fs';
import { Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConveyorClient } from '../client';
import { clusterStatus, findTemporalServer, startCluster, TEMPORAL_SERVER_VERSION, type Cluster } from '../platform/cluster';
import { isPortFree } from '../platform/embedded-server';
import { openDatabase } from '../platform/postgres';
import { loadSettings, type ConveyorSettings } from '../platform/settings';
import { bundleConveyorWorkflows } from '../workers/worker';
import { cliEnvironment, conveyor } from './support/cli';
import { eventually, startWorker, tempDir, testClient, uniqueId, type RunningWorker } from './support/temporal';

let cluster: Cluster;
let settings: ConveyorSettings;
let worker: RunningWorker;
let client: ConveyorClient;
let startSeconds = 0;

beforeAll(async () => {
  if (!findTemporalServer()) throw new Error(`no Temporal Server ${TEMPORAL_SERVER_VERSION} in the per-user cache: run npm test (or npx tsx scripts/ensure-temporal-server.ts) to build it first`);
  const startedAt = Date.now();
  cluster = await startCluster({ dir: tempDir('cluster'), fast: true, log: () => {} });
  startSeconds = (Date.now() - startedAt) / 1000;
  settings = loadSettings({
    TEMPORAL_ADDRESS: cluster.temporalAddress,
    TEMPORAL_NAMESPACE: cluster.namespace,
    CONVEYOR_TASK_QUEUE: uniqueId('cluster'),
    CONVEYOR_DATA_DIR: tempDir('cluster-data'),
    CONVEYOR_DATABASE_URL: cluster.databaseUrl,
  });
  worker = await startWorker({ settings, bundle: await bundleConveyorWorkflows() });
  client = await testClient(settings);
});

afterAll(async () => {
  await client?.close();
  await worker?.stop();
  await cluster?.stop();
  if (cluster) fs.rmSync(cluster.dir, { recursive: true, force: true });
});

const triage = (id: string, text: string) => ({ id, type: 'triage', input: { text } });

describe('the cluster (Temporal Server on PostgreSQL)', () => {
  it(`runs the Temporal Server ${TEMPORAL_SERVER_VERSION}, not the dev server, with the namespace and Conveyor's search attributes registered`, async () => {
    console.log(`cluster: started in ${startSeconds.toFixed(1)} s (PostgreSQL initdb, schemas, server, namespace, search attributes)`);
    const connection = await Connection.connect({ address: cluster.temporalAddress });
    try {
      const info = await connection.workflowService.getSystemInfo({});
      expect(`v${info.serverVersion}`).toBe(TEMPORAL_SERVER_VERSION);
      const attributes = await connection.operatorService.listSearchAttributes({ namespace: cluster.namespace });
      expect(Object.keys(attributes.customAttributes ?? {})).toEqual(expect.arrayContaining(['ConveyorStatus', 'ConveyorJobType', 'ConveyorBatchId', 'ConveyorCostUsd']));
    } finally {
      await connection.close();
    }
    expect(cluster.databaseUrl).toMatch(/^postgres:\/\/conveyor:[^@]+@127\.0\.0\.1:\d+\/conveyor$/);
    expect(cluster.databaseLabel).not.toContain(new URL(cluster.databaseUrl).password);
  });

  it('runs a job whose history and visibility rows live in PostgreSQL', async () => {
    const jobId = uniqueId('cluster-job');
    await client.startJob(triage(jobId, 'Where is my order #A123?'));
    const result = await client.getResult(jobId);
    expect(result.ledger.length).toBeGreaterThan(0);
    const found = await eventually(async () => {
      for await (const execution of client.temporal.workflow.list({ query: `ConveyorJobType = "triage" AND WorkflowId = "${jobId}"` })) return execution;
      return undefined;
    });
    expect(found.status.name).toBe('COMPLETED');

    const temporalDb = openDatabase(cluster.postgres.urlFor('temporal'), { max: 1 });
    const visibilityDb = openDatabase(cluster.postgres.urlFor('temporal_visibility'), { max: 1 });
    try {
      const executions = await temporalDb.query<{ count: string }>('SELECT count(*) FROM executions');
      expect(Number(executions.rows[0]?.count)).toBeGreaterThan(0);
      const visible = await visibilityDb.query<{ status: number }>('SELECT status FROM executions_visibility WHERE workflow_id = $1', [jobId]);
      expect(visible.rows).toHaveLength(1);
    } finally {
      await temporalDb.close();
      await visibilityDb.close();
    }
  });

  it('completes a batch started before the Temporal Server was SIGKILLed, once it is restarted', async () => {
    const batchId = uniqueId('cluster-batch');
    const jobs = Array.from({ length: 100 }, (_, index) => triage(`${batchId}-${index}`, `Please cancel order #B${index}`));
    await client.startBatch({ batchId, jobs, concurrency: 5 });
    // In flight: the first job is done, the rest are running or waiting for a slot.
    await eventually(() => client.getResult(jobs[0]!.id).catch(() => undefined), 30_000);
    expect((await client.temporal.workflow.getHandle(batchId).describe()).status.name).toBe('RUNNING');
    const pid = cluster.temporalPid();
    expect(pid).toBeDefined();
    await cluster.killTemporal();
    expect(cluster.temporalPid()).toBeUndefined();
    const restartedAt = Date.now();
    await cluster.startTemporal();
    expect(cluster.temporalPid()).not.toBe(pid);
    const result = await client.getBatchResult(batchId);
    console.log(`cluster: server SIGKILLed and restarted; the 100-job batch completed ${((Date.now() - restartedAt) / 1000).toFixed(1)} s after the restart`);
    expect({ total: result.total, completed: result.completed, failed: result.failed }).toEqual({ total: 100, completed: 100, failed: 0 });
  });
});

describe('conveyor cluster up|status|down', () => {
  it('refuses a bad verb or port with exit code 2, naming the problem', async () => {
    const env = cliEnvironment(loadSettings({ CONVEYOR_DATA_DIR: tempDir('cluster-cli-data') }));
    const sideways = await conveyor(['cluster', 'sideways'], env);
    expect(sideways.code).toBe(2);
    expect(sideways.stderr).toMatch(/unknown verb "sideways" \(up, down, status\)[\s\S]*usage: conveyor cluster/);
    const port = await conveyor(['cluster', 'up', '--port', '40000'], env);
    expect(port.code).toBe(2);
    expect(port.stderr).toMatch(/--port must be a port number from 1 to 32767/);
  });

  it('starts the cluster in the background, prints its export lines, reports it and stops it cleanly', async () => {
    const dir = tempDir('cluster-cli');
    const env = cliEnvironment(loadSettings({ CONVEYOR_DATA_DIR: tempDir('cluster-cli-data') }));
    delete env.TEMPORAL_ADDRESS;
    try {
      const up = await conveyor(['cluster', 'up', '--dir', dir], env, 120_000);
      expect(up.code, up.stderr).toBe(0);
      const exported: Record<string, string> = Object.fromEntries(
        [...up.stdout.matchAll(/^export (\w+)=(.*)$/gm)].map(([, name = '', value = '']) => [name, value.replace(/^'(.*)'$/, '$1')]),
      );
      expect(Object.keys(exported).sort()).toEqual(['CONVEYOR_DATABASE_URL', 'TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE']);
      expect(exported.TEMPORAL_NAMESPACE).toBe('default');
      const address = exported.TEMPORAL_ADDRESS ?? '';
      const databaseUrl = exported.CONVEYOR_DATABASE_URL ?? '';
      // The password is printed only in that export line, never in the progress on stderr.
      expect(up.stderr).not.toContain(new URL(databaseUrl).password);

      const connection = await Connection.connect({ address });
      await connection.workflowService.describeNamespace({ namespace: 'default' });
      await connection.close();
      const database = openDatabase(databaseUrl, { max: 1 });
      expect((await database.query<{ db: string }>('SELECT current_database() AS db')).rows[0]?.db).toBe('conveyor');
      await database.close();

      const status = await conveyor(['cluster', 'status', '--dir', dir, '--json'], env);
      const running = JSON.parse(status.stdout) as ReturnType<typeof clusterStatus>;
      expect(running).toMatchObject({ exists: true, temporalAddress: address, namespace: 'default' });
      expect(running.temporalPid).toBeGreaterThan(0);
      expect(running.postgresPid).toBeGreaterThan(0);
      expect(status.stdout).not.toContain(new URL(databaseUrl).password);

      const down = await conveyor(['cluster', 'down', '--dir', dir], env, 60_000);
      expect(down.code, down.stderr).toBe(0);
      expect(clusterStatus(dir)).toMatchObject({ exists: true });
      expect(clusterStatus(dir).temporalPid).toBeUndefined();
      expect(clusterStatus(dir).postgresPid).toBeUndefined();
      expect(await isPortFree(Number(address.split(':')[1]))).toBe(true);
    } finally {
      await conveyor(['cluster', 'down', '--dir', dir], env, 60_000);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
