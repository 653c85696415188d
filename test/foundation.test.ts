/**
 * Foundation: the real embedded Temporal server, the connection settings, the CLI finder, and one job
 * end to end through the typed client and the single worker.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { ConveyorClient } from '../client';
import { ConveyorCostUsd, ConveyorJobType, ConveyorStatus } from '../domain/search-attributes';
import { ensureTemporal, freePort } from '../platform/embedded-server';
import { InvalidSettingsError, loadSettings } from '../platform/settings';
import { ensureTemporalCli, findTemporalCli, TemporalCliNotFoundError } from '../platform/temporal-cli';
import { bundleConveyorWorkflows } from '../workers/worker';
import { eventually, startWorker, tempDir, testClient, testSettings, uniqueId, type RunningWorker } from './support/temporal';

let bundle: WorkflowBundleWithSourceMap;
let worker: RunningWorker;
let client: ConveyorClient;
const settings = testSettings(uniqueId('foundation'));

beforeAll(async () => {
  bundle = await bundleConveyorWorkflows();
  worker = await startWorker({ settings, bundle });
  client = await testClient(settings);
});

afterAll(async () => {
  await client?.close();
  await worker?.stop();
});

describe('a job end to end on the real server', () => {
  it('starts through the client, runs an activity on the worker, and is found by a visibility query on its search attributes', async () => {
    const jobId = uniqueId('triage');
    const started = await client.startJob({ id: jobId, type: 'triage', input: { text: 'I want my money back for order #A12345, it never arrived' } });
    expect(started).toMatchObject({ jobId, created: true });

    const result = await client.getResult(jobId);
    expect(result.status).toBe('completed');
    expect(result.ledger[0]).toMatchObject({ stepId: 'intent', station: 'classify-intent', outcome: 'accepted' });
    expect(result.outputs.intent).toMatchObject({ intent: expect.any(String) as unknown });

    const found = await eventually(async () => {
      const executions = [];
      for await (const execution of client.temporal.workflow.list({ query: `WorkflowId = "${jobId}" AND ConveyorJobType = "triage" AND ConveyorStatus = "completed"` })) {
        executions.push(execution);
      }
      return executions.length === 1 ? executions[0] : undefined;
    });
    expect(found.searchAttributes).toBeDefined();
    expect(found.typedSearchAttributes.get(ConveyorJobType)).toBe('triage');
    expect(found.typedSearchAttributes.get(ConveyorStatus)).toBe('completed');
    expect(found.typedSearchAttributes.get(ConveyorCostUsd)).toBeCloseTo(result.costUsd, 10);
  });

  it('starting the same job id again returns the existing run', async () => {
    const jobId = uniqueId('same');
    const first = await client.startJob({ id: jobId, type: 'triage', input: { text: 'Where is my parcel?' } });
    await client.getResult(jobId);
    const second = await client.startJob({ id: jobId, type: 'triage', input: { text: 'Where is my parcel?' } });
    expect(second).toEqual({ jobId, runId: first.runId, created: false });
  });
});

describe('the embedded server', () => {
  it('serves the Temporal Web UI', async () => {
    const uiUrl = inject('temporalUiUrl');
    expect(uiUrl).toMatch(/^http:\/\/localhost:\d+$/);
    const response = await fetch(uiUrl.replace('localhost', '127.0.0.1'));
    expect(response.status).toBe(200);
    const html = await response.text();
    expect(html).toMatch(/<!doctype html>/i);
    expect(html).toContain('<html');
  });

  it('keeps a completed workflow visible across a restart on the same data dir (SQLite)', async () => {
    const dataDir = tempDir('restart');
    const env = { CONVEYOR_DATA_DIR: dataDir, CONVEYOR_GRPC_PORT: String(await freePort()), CONVEYOR_UI_PORT: String(await freePort()) };
    const ownSettings = loadSettings({ ...env, CONVEYOR_TASK_QUEUE: 'restart-test' });
    const jobId = uniqueId('persisted');

    let server = await ensureTemporal(ownSettings, { fresh: true });
    try {
      const connected = { ...ownSettings, address: server.address };
      const ownWorker = await startWorker({ settings: connected, bundle });
      const ownClient = await ConveyorClient.connect({ settings: connected });
      try {
        await ownClient.startJob({ id: jobId, type: 'triage', input: { text: 'Please cancel my order ORD-2024-0042' } });
        expect((await ownClient.getResult(jobId)).status).toBe('completed');
      } finally {
        await ownClient.close();
        await ownWorker.stop();
      }
    } finally {
      await server.stop();
    }
    expect(fs.existsSync(path.join(dataDir, 'temporal.sqlite'))).toBe(true);

    server = await ensureTemporal(ownSettings, { fresh: true });
    try {
      const ownClient = await ConveyorClient.connect({ settings: { ...ownSettings, address: server.address } });
      try {
        const description = await ownClient.temporal.workflow.getHandle(jobId).describe();
        expect(description.status.name).toBe('COMPLETED');
        const found = await eventually(async () => {
          for await (const execution of ownClient.temporal.workflow.list({ query: `WorkflowId = "${jobId}" AND ConveyorStatus = "completed"` })) {
            return execution.workflowId;
          }
          return undefined;
        });
        expect(found).toBe(jobId);
      } finally {
        await ownClient.close();
      }
    } finally {
      await server.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('settings and the Temporal CLI finder', () => {
  it('names the variable that is wrong', () => {
    expect(() => loadSettings({ TEMPORAL_ADDRESS: 'not an address' })).toThrow(InvalidSettingsError);
    expect(() => loadSettings({ TEMPORAL_ADDRESS: 'not an address' })).toThrow(/TEMPORAL_ADDRESS: expected host:port/);
    expect(() => loadSettings({ CONVEYOR_UI_PORT: '99999' })).toThrow(/CONVEYOR_UI_PORT/);
    expect(() => loadSettings({ CONVEYOR_NON_STICKY_POLL_RATIO: '2' })).toThrow(/CONVEYOR_NON_STICKY_POLL_RATIO: must be at most 1/);
    expect(() => loadSettings({ CONVEYOR_NON_STICKY_POLL_RATIO: '0' })).toThrow(/CONVEYOR_NON_STICKY_POLL_RATIO: must be above 0/);
    expect(loadSettings({ CONVEYOR_NON_STICKY_POLL_RATIO: '0.5' }).nonStickyPollRatio).toBe(0.5);
  });

  it('prefers TEMPORAL_CLI_PATH and refuses one that is not executable', () => {
    const existing = findTemporalCli();
    expect(existing).toBeDefined();
    expect(findTemporalCli({ ...process.env, TEMPORAL_CLI_PATH: existing!.path })).toEqual({ path: existing!.path, source: 'env' });
    expect(() => findTemporalCli({ TEMPORAL_CLI_PATH: '/nonexistent/temporal' })).toThrow(/TEMPORAL_CLI_PATH=\/nonexistent\/temporal is not an executable/);
  });

  it('says what to install when there is neither a binary nor Go', async () => {
    const emptyHome = tempDir('no-cli');
    await expect(ensureTemporalCli({ env: { PATH: emptyHome, XDG_CACHE_HOME: emptyHome }, log: () => {} })).rejects.toThrow(TemporalCliNotFoundError);
    await expect(ensureTemporalCli({ env: { PATH: emptyHome, XDG_CACHE_HOME: emptyHome }, log: () => {} })).rejects.toThrow(/Install Go/);
  });

  it('finds the per-user cache shared by all clones', () => {
    const cacheHome = tempDir('cache');
    const dir = path.join(cacheHome, 'conveyor', 'temporal-v1.5.1');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'temporal'), '#!/bin/sh\n', { mode: 0o755 });
    expect(findTemporalCli({ PATH: '', XDG_CACHE_HOME: cacheHome })).toEqual({ path: path.join(dir, 'temporal'), source: 'cache' });
  });
});
