/**
 * The bad-input corpus: malformed JSONL, wrong types, missing fields, empty and whitespace-only text, a
 * 5 MB input, control characters, mixed scripts, an unknown job type, bad job ids, unknown fields, nested
 * arrays and null input — each with the exact error it must produce, or accepted and run end to end on
 * the real server. Three doors: the typed client (InvalidJobInputError with issues), the jobs file reader
 * (problems with line numbers, test/fixtures/bad-input/jobs.jsonl) and the workflow itself started raw,
 * past the client (a non-retryable ApplicationFailure of type InvalidJobInputError). The worker survives
 * all of it and still completes a valid job afterwards.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ApplicationFailure, WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidJobInputError, type ConveyorClient } from '../client';
import { readJobsFile } from '../cli/jobs-file';
import { bundleConveyorWorkflows } from '../workers/worker';
import { startFakeOpenAI, type FakeServer } from '../fakes/openai-server';
import { registryWithFakeTiers } from './support/models';
import { supportTicketAnswer } from '../fakes/station-answers';
import { startWorker, tempDir, testClient, testSettings, uniqueId, type RunningWorker } from './support/temporal';

type Issue = { field: string; problem: string };

interface BadCase {
  name: string;
  /** The job as a backend would send it (ids made unique per run where the case allows). */
  job: Record<string, unknown>;
  /** The exact InvalidJobInputError issues; the message is "Invalid job: field: problem; …". */
  issues: Issue[];
}

const run = uniqueId('bad');
const fiveMegabytes = 'x'.repeat(5 * 1024 * 1024);
const ticket = (text: string) => ({ text });

const refused: BadCase[] = [
  { name: 'text is a number', job: { id: `${run}-number`, type: 'support-ticket', input: { text: 42 } }, issues: [{ field: 'input.text', problem: 'Invalid input: expected string, received number' }] },
  { name: 'id is a number', job: { id: 7, type: 'support-ticket', input: ticket('Please cancel my order #A1') }, issues: [{ field: 'id', problem: 'Invalid input: expected string, received number' }] },
  { name: 'missing id', job: { type: 'support-ticket', input: ticket('Please cancel my order #A1') }, issues: [{ field: 'id', problem: 'Invalid input: expected string, received undefined' }] },
  // zod's wording for a missing z.unknown() field; "Required" would read better (see the report).
  { name: 'missing input', job: { id: `${run}-no-input`, type: 'support-ticket' }, issues: [{ field: 'input', problem: 'Invalid input: expected nonoptional, received undefined' }] },
  { name: 'missing text', job: { id: `${run}-no-text`, type: 'support-ticket', input: {} }, issues: [{ field: 'input.text', problem: 'Invalid input: expected string, received undefined' }] },
  { name: 'empty text', job: { id: `${run}-empty`, type: 'support-ticket', input: ticket('') }, issues: [{ field: 'input.text', problem: 'must not be empty' }] },
  { name: 'whitespace-only text', job: { id: `${run}-blank`, type: 'support-ticket', input: ticket(' \t\u00a0\n\u2003 ') }, issues: [{ field: 'input.text', problem: 'must not be empty' }] },
  { name: '5 MB text', job: { id: `${run}-huge`, type: 'support-ticket', input: ticket(fiveMegabytes) }, issues: [{ field: 'input.text', problem: 'longer than 100,000 characters' }] },
  { name: 'id with a slash and spaces', job: { id: 'bad id/with slash', type: 'support-ticket', input: ticket('Please cancel my order #A1') }, issues: [{ field: 'id', problem: 'use letters, digits and . _ : @ - only' }] },
  {
    name: 'empty id',
    job: { id: '', type: 'support-ticket', input: ticket('Please cancel my order #A1') },
    issues: [
      { field: 'id', problem: 'must not be empty' },
      { field: 'id', problem: 'use letters, digits and . _ : @ - only' },
    ],
  },
  { name: 'id of 201 characters', job: { id: 'a'.repeat(201), type: 'support-ticket', input: ticket('Please cancel my order #A1') }, issues: [{ field: 'id', problem: 'longer than 200 characters' }] },
  // The unknown key is named in the problem, not in the field (the request object itself is the field).
  { name: 'unknown top-level field', job: { id: `${run}-extra`, type: 'support-ticket', input: ticket('Please cancel my order #A1'), priority: 'urgent' }, issues: [{ field: 'request', problem: 'Unrecognized key: "priority"' }] },
  { name: 'nested arrays for text', job: { id: `${run}-nested`, type: 'support-ticket', input: { text: [['Please'], ['cancel']] } }, issues: [{ field: 'input.text', problem: 'Invalid input: expected string, received array' }] },
  { name: 'null input', job: { id: `${run}-null`, type: 'support-ticket', input: null }, issues: [{ field: 'input', problem: 'Invalid input: expected object, received null' }] },
];

const unknownType: BadCase = {
  name: 'unknown job type',
  job: { id: `${run}-unknown-type`, type: 'refund-magic', input: ticket('Please refund me') },
  issues: [{ field: 'type', problem: 'Unknown job type "refund-magic"; known: support-ticket, call-review, triage' }],
};

const messageOf = (badCase: BadCase) =>
  badCase === unknownType ? `type: ${badCase.issues[0]!.problem}` : `Invalid job: ${badCase.issues.map((issue) => `${issue.field}: ${issue.problem}`).join('; ')}`;

/** Accepted as they are and run to the end: the text reaches the models unchanged (after trimming). */
const accepted = [
  { name: 'control characters', id: `${run}-control`, text: 'Please cancel my order #A3001\u0000\u0007\u001b[31m now\u202e please', orderId: 'A3001' },
  { name: 'mixed scripts', id: `${run}-scripts`, text: 'Please cancel my order #A3002 — Пожалуйста, отмените заказ. 请取消我的订单。 الرجاء إلغاء طلبي 🙏🏽', orderId: 'A3002' },
  { name: 'unknown field inside input (dropped)', id: `${run}-input-extra`, text: 'Please cancel my order #A3003', orderId: 'A3003', extra: { color: 'red' } },
];

let fake: FakeServer;
let worker: RunningWorker;
let client: ConveyorClient;

beforeAll(async () => {
  fake = await startFakeOpenAI(supportTicketAnswer);
  const settings = testSettings(uniqueId('bad-input'));
  worker = await startWorker({
    settings,
    bundle: await bundleConveyorWorkflows(),
    gateway: { registry: registryWithFakeTiers(fake.url, ['small', 'medium']), cache: null },
  });
  client = await testClient(settings);
});

afterAll(async () => {
  await client?.close();
  await worker?.stop();
  await fake?.close();
});

async function refusal(promise: Promise<unknown>): Promise<InvalidJobInputError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof InvalidJobInputError) return error;
    throw error;
  }
  throw new Error('the job was accepted');
}

async function workflowExists(workflowId: string): Promise<boolean> {
  try {
    await client.temporal.workflow.getHandle(workflowId).describe();
    return true;
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return false;
    throw error;
  }
}

describe('bad input through the typed client', () => {
  for (const badCase of [...refused, unknownType]) {
    it(`refuses ${badCase.name} with InvalidJobInputError naming ${badCase.issues[0]!.field}, and starts nothing`, async () => {
      const error = await refusal(client.startJob(badCase.job as never));
      expect({ name: error.name, message: error.message, issues: error.issues }).toEqual({ name: 'InvalidJobInputError', message: messageOf(badCase), issues: badCase.issues });
      if (typeof badCase.job.id === 'string' && /^[\w.:@-]{1,200}$/.test(badCase.job.id)) expect(await workflowExists(badCase.job.id)).toBe(false);
    });
  }

  for (const good of accepted) {
    it(`accepts ${good.name} and runs the job to its action`, async () => {
      const started = await client.startJob({ id: good.id, type: 'support-ticket', input: { text: good.text, ...good.extra } });
      expect(started.created).toBe(true);
      const result = await client.getResult(good.id);
      expect(result.status).toBe('completed');
      expect(result.actions).toHaveLength(1);
      expect((await worker.outbox.rows(good.id)).map((row) => row.action)).toEqual([expect.objectContaining({ action: 'cancel-order', orderId: good.orderId })]);
      // The models saw the text as sent, control characters and all scripts intact.
      const prompts = fake.requests.map((request) => JSON.stringify(request.body));
      expect(prompts.some((prompt) => prompt.includes(JSON.stringify(good.text.trim()).slice(1, -1)))).toBe(true);
      if (good.extra) expect(JSON.stringify(result)).not.toContain('color');
    });
  }
});

describe('bad input in a jobs file', () => {
  it('reports each bad line with its number and reason, and keeps the good lines', () => {
    const { jobs, problems } = readJobsFile(path.join(__dirname, 'fixtures', 'bad-input', 'jobs.jsonl'));
    expect(jobs.map((job) => job.id)).toEqual(['file-ok-1', 'file-control-chars', 'file-mixed-scripts']);
    expect(problems.map((problem) => problem.line)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 16]);
    // JSON.parse's own words follow the prefix (Node 24 adds the line and column); the prefix and the line are Conveyor's contract.
    expect(problems[0]!.reason).toMatch(/^malformed JSON: Unterminated string in JSON at position \d+( \(line \d+ column \d+\))?$/);
    expect(problems[1]!.reason).toMatch(/^malformed JSON: Unexpected token 'h', "this line i"\.\.\. is not valid JSON$/);
    expect(problems.slice(2)).toEqual([
      { line: 4, reason: 'expected a JSON object {"id", "type", "input"}' },
      { line: 5, reason: 'expected a JSON object {"id", "type", "input"}' },
      { line: 6, reason: 'input.text: Invalid input: expected string, received number' },
      { line: 7, reason: 'id: Invalid input: expected string, received undefined' },
      { line: 8, reason: 'input.text: must not be empty' },
      { line: 9, reason: 'input.text: must not be empty' },
      { line: 10, reason: 'type: Unknown job type "refund-magic"; known: support-ticket, call-review, triage' },
      { line: 11, reason: 'id: use letters, digits and . _ : @ - only' },
      { line: 12, reason: 'request: Unrecognized key: "priority"' },
      { line: 13, reason: 'input.text: Invalid input: expected string, received array' },
      { line: 14, reason: 'input: Invalid input: expected object, received null' },
      { line: 16, reason: 'duplicate job id "file-ok-1" in this file' },
    ]);
    expect(jobs.find((job) => job.id === 'file-control-chars')?.input).toEqual({ text: 'Please cancel my order #A2005\u0000\u0007\u001b[31m now\u202e' });
  });

  it('refuses a line that sets batchId or a threshold for a station that does not exist (item 8 of issue 13)', () => {
    const file = path.join(tempDir('bad-input'), 'sneaky.jsonl');
    const lines = [
      { id: 'sneaky-batch', type: 'triage', batchId: 'someone-elses-batch', input: { text: 'hello' } },
      { id: 'sneaky-threshold', type: 'triage', policy: { confidenceThresholds: { 'classify-intnet': 0 } }, input: { text: 'hello' } },
      { id: 'fine-threshold', type: 'triage', policy: { confidenceThresholds: { 'classify-intent': 0 } }, input: { text: 'hello' } },
    ];
    fs.writeFileSync(file, `${lines.map((line) => JSON.stringify(line)).join('\n')}\n`);
    const { jobs, problems } = readJobsFile(file);
    expect(jobs.map((job) => job.id)).toEqual(['fine-threshold']);
    expect(problems).toEqual([
      { line: 1, reason: expect.stringMatching(/batchId is set by the batch/) as unknown },
      { line: 2, reason: expect.stringMatching(/confidenceThresholds names no station: classify-intnet/) as unknown },
    ]);
  });

  it('refuses a 5 MB line by field, not by crashing', () => {
    const file = path.join(tempDir('bad-input'), 'huge.jsonl');
    fs.writeFileSync(file, `${JSON.stringify({ id: 'huge', type: 'support-ticket', input: { text: fiveMegabytes } })}\n`);
    expect(readJobsFile(file)).toEqual({ jobs: [], problems: [{ line: 1, reason: 'input.text: longer than 100,000 characters' }] });
  });
});

describe('bad input started past the client, straight into the workflow', () => {
  // The 5 MB case is left out here: its payload is larger than the gRPC message limit (see below).
  for (const badCase of [...refused.filter((c) => c.name !== '5 MB text'), unknownType]) {
    it(`fails ${badCase.name} with a non-retryable InvalidJobInputError naming ${badCase.issues[0]!.field}`, async () => {
      const workflowId = `${run}-raw-${badCase.name.replace(/\W+/g, '-')}`;
      const handle = await client.temporal.workflow.start('jobWorkflow', { workflowId, taskQueue: client.taskQueue, args: [badCase.job] });
      const failure = await handle.result().then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(WorkflowFailedError);
      const cause = (failure as WorkflowFailedError).cause;
      expect(cause).toBeInstanceOf(ApplicationFailure);
      const application = cause as ApplicationFailure;
      expect({ type: application.type, nonRetryable: application.nonRetryable, message: application.message, details: application.details }).toEqual({
        type: 'InvalidJobInputError',
        nonRetryable: true,
        message: messageOf(badCase),
        details: [badCase.issues],
      });
      expect((await handle.describe()).status.name).toBe('FAILED');
    });
  }

  it('refuses a raw 5 MB start at the server door: nothing starts', { timeout: 180_000 }, async () => {
    const workflowId = `${run}-raw-huge`;
    const error = await client.temporal.workflow
      .start('jobWorkflow', { workflowId, taskQueue: client.taskQueue, args: [refused.find((c) => c.name === '5 MB text')!.job] })
      .then(
        () => undefined,
        (failure: unknown) => failure as Error,
      );
    expect(error, 'a 5 MB payload was accepted by the server').toBeDefined();
    // The gRPC message limit refuses it (after the client's own retries, ~40 s): an untyped ServiceError.
    expect({ name: error?.name, message: error?.message }).toEqual({ name: 'ServiceError', message: 'Failed to start Workflow' });
    expect(await workflowExists(workflowId)).toBe(false);
  });
});

describe('after the corpus', () => {
  it('the worker is still running and a valid job completes', async () => {
    expect(worker.worker.getState()).toBe('RUNNING');
    const id = `${run}-after`;
    await client.startJob({ id, type: 'support-ticket', input: { text: 'Please cancel my order #A3999, I ordered it by mistake.' } });
    const result = await client.getResult(id);
    expect(result.status).toBe('completed');
    expect(await worker.outbox.rows(id)).toHaveLength(1);
    expect(worker.worker.getState()).toBe('RUNNING');
  });
});
