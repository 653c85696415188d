/**
 * The same demo, two model back ends, no code change: offline it runs on the local provider; with
 * OPENAI_BASE_URL pointing at an OpenAI-compatible server (here a local fake that speaks the wire
 * protocol) every tier runs there instead.
 */
import { jobWorkflowTypeClause } from '../domain/search-attributes';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import type { ConveyorClient } from '../client';
import type { JobResult } from '../domain/job';
import { startFakeOpenAI, type FakeServer } from '../fakes/openai-server';
import { supportTicketAnswer } from '../fakes/station-answers';
import { tempDir, testClient, testSettings, uniqueId } from './support/temporal';

const repoRoot = path.resolve(__dirname, '..');
const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

function writeJobs(): string {
  const file = path.join(tempDir('demo-jobs'), 'jobs.jsonl');
  const texts = ['Please cancel my order #K10001, ordered by mistake.', 'Cancel order #K10002 please.', 'I want to cancel #K10003 before it ships.'];
  fs.writeFileSync(file, texts.map((text, index) => JSON.stringify({ id: `demo-${index + 1}`, type: 'support-ticket', input: { text } })).join('\n'));
  return file;
}

/** Runs `conveyor demo --once --auto-approve` against the suite's server; returns its output. */
async function runDemo(env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [path.join(repoRoot, 'bin', 'conveyor.js'), 'demo', '--once', '--auto-approve', '--jobs', writeJobs()], {
    cwd: repoRoot,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  return { code, output };
}

async function batchResults(client: ConveyorClient, output: string): Promise<JobResult[]> {
  const batchId = /Started batch (\S+):/.exec(output)?.[1];
  expect(batchId, output).toBeDefined();
  const results: JobResult[] = [];
  for await (const execution of client.temporal.workflow.list({ query: `ConveyorBatchId = "${batchId}" AND ${jobWorkflowTypeClause}` })) {
    results.push(await client.jobHandle(execution.workflowId).result());
  }
  return results;
}

describe('the demo on a configured OpenAI-compatible endpoint', () => {
  it('runs offline on the local models, and on the endpoint when OPENAI_BASE_URL is set', async () => {
    const settings = testSettings(uniqueId('demo-endpoint'));
    const client = await testClient(settings);
    cleanups.push(() => client.close());
    const { OPENAI_BASE_URL: _unsetUrl, OPENAI_API_KEY: _unsetKey, ...baseEnv } = process.env;
    const env = { ...baseEnv, TEMPORAL_ADDRESS: inject('temporalAddress'), CONVEYOR_TASK_QUEUE: settings.taskQueue, CONVEYOR_DATA_DIR: tempDir('demo-data'), CONVEYOR_CACHE: 'off' };

    const offline = await runDemo(env);
    expect(offline.code, offline.output).toBe(0);
    expect(offline.output).toMatch(/Summary of demo-/);
    const offlineResults = await batchResults(client, offline.output);
    expect(offlineResults).toHaveLength(3);
    const offlineModels = new Set(offlineResults.flatMap((result) => result.ledger.map((entry) => entry.modelId)));
    expect(offlineModels.size).toBeGreaterThan(0);
    expect([...offlineModels].filter((id) => !id.startsWith('local-'))).toEqual([]);

    const fake: FakeServer = await startFakeOpenAI(supportTicketAnswer);
    cleanups.push(() => fake.close());
    const online = await runDemo({ ...env, OPENAI_BASE_URL: fake.url, OPENAI_API_KEY: 'test-key-not-secret' });
    expect(online.code, online.output).toBe(0);
    const onlineResults = await batchResults(client, online.output);
    expect(onlineResults).toHaveLength(3);
    const onlineModels = new Set(onlineResults.flatMap((result) => result.ledger.map((entry) => entry.modelId)));
    expect([...onlineModels].some((id) => id.startsWith('local-'))).toBe(false);
    expect(fake.requests.length).toBe(onlineResults.reduce((sum, result) => sum + result.ledger.length, 0));
    expect(onlineResults.map((result) => ({ status: result.status, actions: result.actions.length }))).toEqual(Array.from({ length: 3 }, () => ({ status: 'completed', actions: 1 })));
    expect(online.output).not.toContain('test-key-not-secret');
  }, 180_000);
});
