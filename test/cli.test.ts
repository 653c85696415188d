/**
 * The `conveyor` command as a user runs it: a subprocess against the suite's real Temporal server,
 * with a worker in this file on a task queue of its own. What is checked is what a script relies on:
 * the `--json` shapes, the exit codes and the messages on stderr. Also the reviewer flow from outside
 * our code, with nothing but the Temporal CLI.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { ConveyorClient, JobResult, PendingApproval } from '../client';
import type { ConveyorSettings } from '../platform/settings';
import { findTemporalCli } from '../platform/temporal-cli';
import { bundleConveyorWorkflows } from '../workers/worker';
import { cliEnvironment, conveyor, conveyorInTerminal, repoRoot, runProcess, type CliResult } from './support/cli';
import { eventually, startWorker, tempDir, testClient, testSettings, uniqueId, type RunningWorker } from './support/temporal';

let bundle: WorkflowBundleWithSourceMap;
let settings: ConveyorSettings;
let worker: RunningWorker;
let client: ConveyorClient;
let env: NodeJS.ProcessEnv;
let dir: string;
/** Every job this file starts, for the report's totals. */
const startedJobs: string[] = [];

beforeAll(async () => {
  bundle = await bundleConveyorWorkflows();
  settings = testSettings(uniqueId('cli'));
  worker = await startWorker({ settings, bundle });
  client = await testClient(settings);
  env = cliEnvironment(settings);
  dir = tempDir('cli');
});

afterAll(async () => {
  await client?.close();
  await worker?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const triage = (id: string, text: string) => ({ id, type: 'triage', input: { text }, policy: { confidenceThresholds: { 'classify-intent': 0 } } });
const refund = (id: string, amountUsd: number, order: string) => ({
  id,
  type: 'support-ticket',
  requestedBy: 'backend',
  input: { text: `Please refund $${amountUsd}.00 for order #${order}, the headphones never arrived.` },
});

/** Writes a JSONL file: objects become JSON lines, strings are written as they are (malformed lines). */
function jobsFile(name: string, lines: (object | string)[]): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, `${lines.map((line) => (typeof line === 'string' ? line : JSON.stringify(line))).join('\n')}\n`);
  for (const line of lines) if (typeof line === 'object' && 'id' in line) startedJobs.push(String(line.id));
  return file;
}

const sortedKeys = (value: object) => Object.keys(value).sort();

describe('the command line', () => {
  it('works as `npx conveyor` and documents every command, exit codes and the reviewer default', async () => {
    // npm_config_yes=false: npx must find the project's own bin, never download a package of that name.
    const help = await runProcess('npx', ['conveyor', '--help'], { env: { ...env, npm_config_yes: 'false' }, cwd: repoRoot });
    expect(help.code).toBe(0);
    for (const command of ['server', 'worker', 'demo', 'run', 'status', 'inspect', 'pending', 'approve', 'reject', 'eval', 'report', 'train']) {
      expect(help.stdout).toMatch(new RegExp(`conveyor ${command}\\b`));
    }
    expect(help.stdout).toMatch(/--by defaults to \$CONVEYOR_REVIEWER/);
    expect(help.stdout).toMatch(/Exit codes: 0 ok; 1 [\s\S]*; 2 bad usage/);
  });

  it('refuses bad input with exit code 2 and a message naming the problem', async () => {
    const unknownJob = uniqueId('no-such-job');
    const cases: [string[], RegExp][] = [
      [['frobnicate'], /unknown command "frobnicate"/],
      [['status', unknownJob, '--verbose'], /Unknown option '--verbose'[\s\S]*usage: conveyor status <jobId>/],
      [['approve', unknownJob], /missing --by <reviewer> \(or set CONVEYOR_REVIEWER\)/],
      [['approve', unknownJob, '--by', 'alice', '--edit', '{amountUsd: 150'], /--edit is not valid JSON/],
      [['reject', unknownJob, '--by', 'alice'], /missing --reason/],
      [['run', path.join(dir, 'missing.jsonl')], /cannot read jobs file ".*missing\.jsonl": no such file/],
      [['run', path.join(dir, 'x.jsonl'), '--type', 'nonsense'], /--type: .*nonsense/],
      [['status', unknownJob, '--json'], new RegExp(`No job with id "${unknownJob}"`)],
      [['approve', unknownJob, '--approval', 'act-action-1', '--by', 'alice'], new RegExp(`No job with id "${unknownJob}"`)],
    ];
    const results: CliResult[] = [];
    for (let index = 0; index < cases.length; index += 3) {
      results.push(...(await Promise.all(cases.slice(index, index + 3).map(([args]) => conveyor(args, env)))));
    }
    results.forEach((result, index) => {
      const [args, message] = cases[index]!;
      expect({ args, code: result.code, stdout: result.stdout }).toEqual({ args, code: 2, stdout: '' });
      expect(result.stderr).toMatch(message);
    });
  });
});

describe('jobs from a JSONL file, their status, and the reviewer commands', () => {
  const triageId = uniqueId('cli-triage');
  const approveId = uniqueId('cli-approve');
  const rejectId = uniqueId('cli-reject');
  let approvalIds: Record<string, string[]> = {};

  it('run --wait --json: a malformed line is reported by number, the valid lines still run, exit code 1', async () => {
    const file = jobsFile('mixed.jsonl', [triage(triageId, 'where is my parcel'), '{"id": "half-a-line", "type": ', refund(approveId, 320, 'Y20002'), refund(rejectId, 500, 'Z10001')]);
    const run = await conveyor(['run', file, '--wait', '--json'], env, 90_000);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`${file}:2: malformed JSON`);
    const report = run.json<{ jobs: Record<string, unknown>[]; invalid: { line: number; reason: string }[] }>();
    expect(sortedKeys(report)).toEqual(['invalid', 'jobs']);
    expect(report.invalid).toEqual([{ line: 2, reason: expect.stringMatching(/^malformed JSON/) as unknown }]);
    expect(report.jobs.map((job) => job.jobId)).toEqual([triageId, approveId, rejectId]);

    const triageResult = await client.getResult(triageId);
    expect(report.jobs[0]).toEqual({ jobId: triageId, runId: expect.any(String) as unknown, created: true, status: 'completed', costUsd: triageResult.costUsd, pendingApprovalIds: [] });
    approvalIds = {};
    for (const [index, jobId] of [approveId, rejectId].entries()) {
      const waiting = await client.getStatus(jobId);
      expect(waiting.status).toBe('awaiting_approval');
      approvalIds[jobId] = waiting.pendingApprovals.map((approval) => approval.approvalId);
      expect(report.jobs[index + 1]).toEqual({ jobId, runId: expect.any(String) as unknown, created: true, status: 'awaiting_approval', costUsd: waiting.costUsd, pendingApprovalIds: approvalIds[jobId] });
    }
    expect(approvalIds[approveId]).toHaveLength(1);
  });

  it('status --json: { id, type, status, result?, costUsd, ledger, pendingApprovals }', async () => {
    const [done, waiting] = await Promise.all([conveyor(['status', triageId, '--json'], env), conveyor(['status', approveId, '--json'], env)]);
    expect([done.code, waiting.code]).toEqual([0, 0]);

    const result = await client.getResult(triageId);
    const doneView = done.json<Record<string, unknown>>();
    expect(doneView).toEqual({ id: triageId, type: 'triage', status: 'completed', result, costUsd: result.costUsd, ledger: result.ledger, pendingApprovals: [] });
    expect(result.ledger.length).toBeGreaterThan(0);

    const waitingView = waiting.json<{ status: string; costUsd: number; pendingApprovals: PendingApproval[] }>();
    expect(sortedKeys(waitingView)).toEqual(['costUsd', 'id', 'ledger', 'pendingApprovals', 'status', 'type']);
    expect(waitingView).toMatchObject({ id: approveId, type: 'support-ticket', status: 'awaiting_approval', ledger: [] });
    expect(waitingView.costUsd).toBeGreaterThan(0);
    expect(waitingView.pendingApprovals).toEqual([
      expect.objectContaining({ approvalId: approvalIds[approveId]![0], kind: 'action', station: 'act', proposedAction: expect.objectContaining({ action: 'refund', orderId: 'Y20002', amountUsd: 320 }) as unknown }),
    ]);
  });

  it('inspect --json: plan, ledger, decisions, cost and the link to the run in the UI', async () => {
    const inspect = await conveyor(['inspect', triageId, '--json'], env);
    expect(inspect.code).toBe(0);
    const view = inspect.json<Record<string, unknown>>();
    const result = await client.getResult(triageId);
    const { runId } = await client.temporal.workflow.getHandle(triageId).describe();
    expect(sortedKeys(view)).toEqual(['actions', 'approvals', 'costUsd', 'decisions', 'id', 'ledger', 'pendingApprovals', 'plan', 'screening', 'status', 'type', 'uiLink']);
    expect(view).toMatchObject({ id: triageId, type: 'triage', status: 'completed', plan: result.plan, ledger: result.ledger, decisions: result.decisions, costUsd: result.costUsd });
    const uiUrl = inject('temporalUiUrl');
    expect(view.uiLink).toBe(uiUrl ? `${uiUrl}/namespaces/${settings.namespace}/workflows/${triageId}/${runId}/history` : null);

    // A job still waiting shows its live record (query `record`): the plan, ledger, decisions and screening so far.
    const waiting = (await conveyor(['inspect', approveId, '--json'], env)).json<{ plan: { steps: { id: string }[] }; ledger: unknown[]; decisions: { kind: string; reason: string }[]; pendingApprovals: unknown[]; screening: unknown }>();
    expect(waiting.plan.steps.map((step) => step.id)).toEqual(['intent', 'entities', 'risk', 'reply', 'action', 'act']);
    expect(waiting.pendingApprovals).toHaveLength(1);
    expect(waiting.ledger.length).toBeGreaterThanOrEqual(5);
    expect(waiting.decisions).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'approval', reason: expect.stringMatching(/^waiting for 1 approval/) as unknown })]));
    expect(waiting.screening).toMatchObject({ flagged: false });
  });

  it('pending --json: [{ jobId, approvalId, station, proposedAction, evidence, requestedAt, … }]', async () => {
    const items = await eventually(async () => {
      const pending = await conveyor(['pending', '--type', 'support-ticket', '--json'], env);
      expect(pending.code).toBe(0);
      const list = pending.json<Record<string, unknown>[]>();
      return [approveId, rejectId].every((jobId) => list.some((item) => item.jobId === jobId)) ? list : undefined;
    }, 30_000);
    const item = items.find((candidate) => candidate.jobId === approveId)!;
    expect(sortedKeys(item)).toEqual(['approvalId', 'evidence', 'jobId', 'kind', 'proposedAction', 'requestedAt', 'reviewers', 'station']);
    expect(item).toMatchObject({ approvalId: approvalIds[approveId]![0], kind: 'action', station: 'act', proposedAction: { action: 'refund', amountUsd: 320 } });
    const evidence = item.evidence as PendingApproval['evidence'];
    expect(evidence.reason).toMatch(/refund of \$320 is above the \$100 threshold/);
    expect(Object.keys(evidence.modelOutputs)).toEqual(expect.arrayContaining(['intent', 'entities', 'risk', 'reply', 'action']));
    expect(Number.isNaN(Date.parse(String(item.requestedAt)))).toBe(false);
    expect(item.reviewers).toContain('alice');
  });

  it('approve: a refused reviewer exits 2; --edit and --comment as $CONVEYOR_REVIEWER settle it and the edited action runs; a completed job says so', async () => {
    const refused = await conveyor(['approve', approveId, '--by', 'mallory', '--json'], env);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/reviewer mallory may not decide/);

    // an edit to $80 is below the refund threshold: the edited proposal needs no further approval
    const approved = await conveyor(['approve', approveId, '--edit', '{"amountUsd":80}', '--comment', 'partial refund', '--json'], { ...env, CONVEYOR_REVIEWER: 'alice' });
    expect(approved.code).toBe(0);
    expect(approved.json()).toEqual({ jobId: approveId, approvalId: approvalIds[approveId]![0], decision: 'approve', reviewer: 'alice', accepted: true, settled: true });

    const result: JobResult = await client.getResult(approveId);
    expect(result.status).toBe('completed');
    expect(result.approvals.filter((decision) => decision.accepted)).toEqual([expect.objectContaining({ reviewer: 'alice', comment: 'partial refund', edits: { amountUsd: 80 }, via: 'update', accepted: true })]);
    expect(await worker.outbox.rows(approveId)).toEqual([expect.objectContaining({ approvedBy: ['alice'], action: expect.objectContaining({ action: 'refund', amountUsd: 80 }) as unknown })]);

    for (const args of [[], ['--approval', approvalIds[approveId]![0]!]]) {
      const again = await conveyor(['approve', approveId, '--by', 'bob', ...args], env);
      expect(again.code).toBe(2);
      expect(again.stderr).toMatch(new RegExp(`Job "${approveId}" is completed.*: nothing waits for approval`));
      expect(again.stderr).not.toMatch(/No job with id/);
    }
  });

  it('approve with no worker running exits 2 and names the job and the task queue nobody serves', { timeout: 120_000 }, async () => {
    const orphanSettings = testSettings(uniqueId('cli-no-worker'));
    const orphans = await testClient(orphanSettings);
    const jobId = uniqueId('no-worker');
    try {
      await orphans.startJob(refund(jobId, 320, 'N10001'));
      const run = await conveyor(['approve', jobId, '--approval', 'act-action-1', '--by', 'alice'], cliEnvironment(orphanSettings), 100_000);
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(new RegExp(`no worker answered job "${jobId}" on task queue "${orphanSettings.taskQueue}"`));
      expect(run.stderr).not.toMatch(/ServiceError/);
    } finally {
      await orphans.temporal.workflow.getHandle(jobId).terminate('test over').catch(() => undefined);
      await orphans.close();
    }
  });

  it('reject --reason ends the job as rejected and nothing is executed', async () => {
    const rejected = await conveyor(['reject', rejectId, '--approval', approvalIds[rejectId]![0]!, '--by', 'bob', '--reason', 'no proof of loss', '--json'], env);
    expect(rejected.code).toBe(0);
    expect(rejected.json()).toEqual({ jobId: rejectId, approvalId: approvalIds[rejectId]![0], decision: 'reject', reviewer: 'bob', accepted: true, settled: true });
    const result = await client.getResult(rejectId);
    expect(result).toMatchObject({ status: 'rejected', actions: [], reason: expect.stringMatching(/rejected by bob/) as unknown });
    expect(result.approvals.filter((decision) => decision.accepted)).toEqual([expect.objectContaining({ decision: 'reject', reviewer: 'bob', comment: 'no proof of loss' })]);
    expect(await worker.outbox.rows(rejectId)).toEqual([]);
    const status = (await conveyor(['status', rejectId, '--json'], env)).json<{ status: string }>();
    expect(status.status).toBe('rejected');
  });
});

describe('batches', () => {
  it('run --batch --wait --json: the summary on stdout, a plain progress line per change on stderr', async () => {
    const batchId = uniqueId('cli-batch');
    const ids = [uniqueId('cli-b'), uniqueId('cli-b')];
    const file = jobsFile('batch.jsonl', [triage(ids[0]!, 'where is my parcel'), triage(ids[1]!, 'I want my money back')]);
    const run = await conveyor(['run', file, '--batch', '--batch-id', batchId, '--concurrency', '2', '--wait', '--json'], env, 90_000);
    expect(run.code).toBe(0);
    const results = await Promise.all(ids.map((id) => client.getResult(id)));
    const report = run.json<{ summary: { costUsd: number } }>();
    expect(report).toEqual({
      batchId,
      runId: expect.any(String) as unknown,
      created: true,
      jobIds: ids,
      invalid: [],
      summary: {
        finished: true,
        total: 2,
        completed: 2,
        rejected: 0,
        failed: 0,
        duplicates: 0,
        awaitingApproval: 0,
        costUsd: expect.any(Number) as unknown,
        escalations: 0,
        byTopTier: { small: 2 },
        failures: [],
      },
    });
    expect(report.summary.costUsd).toBeCloseTo(results.reduce((sum, result) => sum + result.costUsd, 0), 8);
    expect(results.map((result) => result.status)).toEqual(['completed', 'completed']);
    const progress = run.stderr.split('\n').filter((line) => line.startsWith('['));
    expect(progress.at(-1)).toMatch(/^\[█{30}\] 2\/2 · 0 awaiting approval · \$/);
    expect(new Set(progress).size).toBe(progress.length);
    expect(run.stderr).not.toContain('\r');
  });

  it('run --batch --wait on a terminal redraws one progress bar in place', async () => {
    const ids = [uniqueId('cli-tty'), uniqueId('cli-tty')];
    const file = jobsFile('tty.jsonl', [triage(ids[0]!, 'cancel my subscription'), triage(ids[1]!, 'where is my parcel')]);
    const run = await conveyorInTerminal(['run', file, '--batch', '--wait'], env, 90_000);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/\r\[[█░]{30}\] [0-2]\/2 · 0 awaiting approval/);
    expect(run.stdout).toMatch(/\r\[█{30}\] 2\/2 · 0 awaiting approval · \$[\d.]+\r?\n/);
    expect(run.stdout).toMatch(/completed\s+2/);
    await Promise.all(ids.map((id) => client.getResult(id)));
  });
});

describe('a reviewer with nothing but the Temporal CLI', () => {
  it('finds the waiting job by its search attribute, reads the approval id by query and approves by signal', async () => {
    const temporal = findTemporalCli()!.path;
    const connection = ['--address', settings.address!, '--namespace', settings.namespace];
    const jobId = uniqueId('cli-signal');
    startedJobs.push(jobId);
    await client.startJob(refund(jobId, 275, 'S40004'));

    const listed = await eventually(async () => {
      const list = await runProcess(temporal, ['workflow', 'list', ...connection, '--query', 'ConveyorStatus="awaiting_approval"', '-o', 'json']);
      expect(list.code).toBe(0);
      const executions = JSON.parse(list.stdout) as { execution: { workflowId: string }; taskQueue: string }[];
      return executions.find((execution) => execution.execution.workflowId === jobId);
    }, 60_000);
    expect(listed.taskQueue).toBe(settings.taskQueue);

    const query = await runProcess(temporal, ['workflow', 'query', ...connection, '--workflow-id', jobId, '--type', 'pendingApprovals', '-o', 'json']);
    expect(query.code).toBe(0);
    const [pending] = (JSON.parse(query.stdout) as { queryResult: PendingApproval[][] }).queryResult;
    expect(pending).toEqual([expect.objectContaining({ kind: 'action', proposedAction: expect.objectContaining({ amountUsd: 275 }) as unknown })]);

    const decision = { approvalId: pending![0]!.approvalId, decision: 'approve', reviewer: 'carol', comment: 'checked with the courier' };
    const signal = await runProcess(temporal, ['workflow', 'signal', ...connection, '--workflow-id', jobId, '--name', 'decide', '--input', JSON.stringify(decision)]);
    expect(signal.code).toBe(0);

    const result = await client.getResult(jobId);
    expect(result.status).toBe('completed');
    expect(result.approvals).toEqual([expect.objectContaining({ ...decision, via: 'signal', accepted: true })]);
    expect(await worker.outbox.rows(jobId)).toEqual([expect.objectContaining({ approvedBy: ['carol'] })]);
  });
});

describe('report, train and eval', () => {
  it('report --format json counts exactly the jobs this file ran on its task queue, and what they cost', async () => {
    const results = await Promise.all(startedJobs.map((jobId) => client.getResult(jobId)));
    const expected = {
      total: results.length,
      completed: results.filter((result) => result.status === 'completed').length,
      rejected: results.filter((result) => result.status === 'rejected').length,
    };
    expect(expected.rejected).toBe(1);
    const report = await eventually(async () => {
      const run = await conveyor(['report', '--format', 'json', '--task-queue', settings.taskQueue], env);
      expect(run.code).toBe(0);
      const parsed = run.json<{ schemaVersion: number; jobs: Record<string, number>; cost: { totalUsd: number } }>();
      return parsed.jobs.total === expected.total && parsed.jobs.completed === expected.completed ? parsed : undefined;
    }, 30_000);
    expect(report.schemaVersion).toBe(1);
    expect(report.jobs).toMatchObject({ ...expected, failed: 0, running: 0, awaitingApproval: 0 });
    expect(report.cost.totalUsd).toBeCloseTo(results.reduce((sum, result) => sum + result.costUsd, 0), 8);
  });

  it('train --json saves a model and reports held-out accuracy; eval --json measures it on a small file', async () => {
    // Each label has a vocabulary no other label uses, and every row repeats its label's words: whatever
    // the held-out tenth is, each of its rows shares its words with training rows of its own label only,
    // so the known held-out accuracy is exactly 1 (and so is the model's accuracy on the whole file).
    const vocabulary: Record<string, string[]> = {
      track_order: ['parcel', 'tracking', 'courier', 'shipment', 'delivery', 'arrive'],
      refund_request: ['refund', 'money', 'reimburse', 'repayment', 'chargeback', 'returned'],
      cancel_subscription: ['cancel', 'subscription', 'membership', 'unsubscribe', 'plan', 'terminate'],
    };
    const rows = Object.entries(vocabulary).flatMap(([label, words]) =>
      Array.from({ length: 10 }, (_, index) => `"${words[index % words.length]} ${words[(index + 1) % words.length]} ${words[(index + 2) % words.length]} ${words.join(' ')}",${label}`),
    );
    const data = path.join(dir, 'intents.csv');
    fs.writeFileSync(data, `text,label\n${rows.join('\n')}\n`);
    const modelFile = path.join(dir, 'intents.model.json');

    const train = await conveyor(['train', '--data', data, '--out', modelFile, '--model-size', 'small', '--json'], env);
    expect(train.code).toBe(0);
    const summary = train.json<{ n: number; trainSize: number; testSize: number; labels: string[]; accuracy: number; accuracyAtTop80: number; out: string }>();
    expect(summary).toMatchObject({ n: rows.length, labels: Object.keys(vocabulary).sort(), out: modelFile });
    // a held-out tenth of 30 rows
    expect({ trainSize: summary.trainSize, testSize: summary.testSize }).toEqual({ trainSize: 27, testSize: 3 });
    expect({ accuracy: summary.accuracy, accuracyAtTop80: summary.accuracyAtTop80 }).toEqual({ accuracy: 1, accuracyAtTop80: 1 });
    expect(fs.existsSync(modelFile)).toBe(true);

    const evaluation = await conveyor(['eval', '--data', data, '--model', modelFile, '--json'], env);
    expect(evaluation.code).toBe(0);
    const measured = evaluation.json<{ n: number; accuracy: number; accuracyOnCovered: number; coverage: number; escalationRate: number; model: { file: string; labels: number } }>();
    expect(measured.n).toBe(rows.length);
    expect(measured.model).toMatchObject({ file: modelFile, labels: 3 });
    expect(measured.coverage + measured.escalationRate).toBeCloseTo(1, 12);
    expect(measured.accuracy).toBe(1);
    expect({ coverage: measured.coverage, accuracyOnCovered: measured.accuracyOnCovered }).toEqual({ coverage: 1, accuracyOnCovered: 1 });
  });
});

describe('conveyor server and conveyor worker', () => {
  it('`server --json` reports the configured server and starts nothing when one is reachable', async () => {
    const result = await conveyor(['server', '--json'], env);
    expect(result.code, result.stderr).toBe(0);
    expect(result.json()).toMatchObject({ address: inject('temporalAddress'), namespace: settings.namespace, started: false });
  });

  it('`worker` runs the jobs of its task queue until it is told to stop', async () => {
    const queueSettings = testSettings(uniqueId('cli-worker'));
    const workerEnv = cliEnvironment(queueSettings);
    const child = spawn(process.execPath, [path.join(repoRoot, 'bin', 'conveyor.js'), 'worker'], { env: workerEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const queueClient = await testClient(queueSettings);
    try {
      const jobId = uniqueId('cli-worker-job');
      await queueClient.startJob({ id: jobId, type: 'triage', policy: { confidenceThresholds: { 'classify-intent': 0 } }, input: { text: 'Where is my order #A77?' } });
      expect((await queueClient.getResult(jobId)).status).toBe('completed');
      expect(output).toContain(`task queue "${queueSettings.taskQueue}"`);
    } finally {
      child.kill('SIGTERM');
      await queueClient.close();
    }
    expect(await exited, output).toBe(0);
  });
});
