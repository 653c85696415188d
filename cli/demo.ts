/**
 * `conveyor demo` (what `npm start` runs): the main job on the embedded default. Starts the server and
 * a worker, runs the demo batch of support tickets with a live progress view, lists what waits for a
 * reviewer with the exact commands to decide it, and keeps the UI up until Ctrl-C (unless --once).
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import readline from 'node:readline/promises';
import { ConveyorClient, type PendingItem } from '../client';
import { ConveyorBatchId, ConveyorStatus, jobWorkflowTypeClause } from '../domain/search-attributes';
import type { JobResult } from '../domain/job';
import { connectWorkerConnection } from '../platform/connection';
import { installRuntimeLogging } from '../platform/logging';
import { ensureTemporal } from '../platform/embedded-server';
import { loadSettings } from '../platform/settings';
import { createModelGateway } from '../providers/gateway';
import { batchProgressQuery, type BatchTotals, type batchWorkflow } from '../workflows/batch';
import { createConveyorWorker, defaultOutbox } from '../workers/worker';
import { readJobsFile } from './jobs-file';
import { progressBar, table, usd } from './output';

export const demoJobsFile = path.join(__dirname, '..', 'data', 'jobs', 'support-tickets.jsonl');
const DEMO_REVIEWERS = ['demo-reviewer', 'demo-reviewer-2'];

export interface DemoOptions {
  once: boolean;
  autoApprove: boolean;
  jobsFile: string;
  out: (line: string) => void;
}

export async function runDemo(options: DemoOptions): Promise<number> {
  const { out } = options;
  const stdoutDisplay: ProgressDisplay = { tty: Boolean(process.stdout.isTTY), write: (text) => process.stdout.write(text) };
  const startedAt = Date.now();
  const settings = loadSettings();
  out('Conveyor demo — support tickets on the embedded default (local Temporal dev server, offline models)');
  const endpoint = await ensureTemporal(settings, { log: out });
  out(`Temporal ${endpoint.started ? 'started' : 'reused'} at ${endpoint.address}; Web UI ${endpoint.uiUrl ?? '(configured cluster)'}`);

  installRuntimeLogging();
  const connection = await connectWorkerConnection(settings, endpoint.address);
  const gateway = createModelGateway();
  const outbox = defaultOutbox(settings);
  out('Bundling workflows and starting a worker…');
  const worker = await createConveyorWorker({ connection, namespace: settings.namespace, taskQueue: settings.taskQueue, gateway, outbox, dataDir: settings.dataDir });
  const workerRun = worker.run();
  const client = await ConveyorClient.connect({ settings, address: endpoint.address, uiUrl: endpoint.uiUrl });

  const shutdown = async () => {
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await workerRun.catch(() => undefined);
    await client.close();
    await gateway.close();
    await outbox.close();
    await connection.close();
    await endpoint.stop();
  };

  try {
    // The stamp is for people; the random suffix keeps two demos started within one second apart (a
    // batch id already taken would report the earlier batch instead of starting this one).
    const stamp = new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14);
    const batchId = `demo-${stamp}-${randomBytes(3).toString('hex')}`;
    const { jobs, problems } = readJobsFile(options.jobsFile);
    for (const problem of problems) out(`  skipped line ${problem.line}: ${problem.reason}`);
    const demoJobs = jobs.map((job) => ({ ...job, id: `${batchId}-${job.id.replace(/^demo-/, '')}` }));
    await client.startBatch({ batchId, jobs: demoJobs, concurrency: 8 });
    out(`Started batch ${batchId}: ${demoJobs.length} support tickets.`);
    if (client.uiLink(batchId)) out(`  watch it in the UI: ${client.uiLink(batchId)}`);

    await watchBatch(client, batchId, demoJobs.length, stdoutDisplay);
    await printSummary(client, batchId, demoJobs.length, startedAt, out);

    let pending = await pendingOf(client, batchId);
    if (pending.length > 0) {
      if (options.autoApprove) {
        out(`\n--auto-approve: approving ${pending.length} item(s) as the demo reviewers ${DEMO_REVIEWERS.join(' and ')} (a real deployment never does this).`);
        pending = await autoApprove(client, batchId, pending, out);
      } else {
        printPending(pending, out);
        if (process.stdin.isTTY && process.stdout.isTTY) await decideInline(client, pending, out);
      }
      if (pending.length === 0 || options.autoApprove) {
        await watchBatch(client, batchId, demoJobs.length, stdoutDisplay);
        await printSummary(client, batchId, demoJobs.length, startedAt, out);
      }
    }
    if (options.once) return 0;
    out(`\nServer and worker keep running. Temporal Web UI: ${endpoint.uiUrl ?? '(configured cluster)'} — Ctrl-C to stop.`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    return 0;
  } finally {
    await shutdown();
  }
}

async function pendingOf(client: ConveyorClient, batchId: string): Promise<PendingItem[]> {
  return (await client.listPending()).filter((item) => item.jobId.startsWith(`${batchId}-`));
}

/** Where a batch's progress is drawn: a bar redrawn in place on a TTY, a plain line per change otherwise. */
export interface ProgressDisplay {
  tty: boolean;
  write: (text: string) => void;
}

export interface BatchSettlement {
  /** The batch workflow has closed (false: it still runs, every open job waits for a person). */
  finished: boolean;
  /** Jobs finished so far: completed, rejected, failed or duplicates. */
  done: number;
  awaitingApproval: number;
  /** The batch's own totals (its result once finished, its progress query before); undefined if it failed. */
  totals?: BatchTotals;
}

/**
 * Waits until every job of a batch has finished or waits for a person, drawing progress as it goes.
 * Progress comes from the batch's `progress` query; jobs awaiting approval from visibility.
 */
export async function watchBatch(client: ConveyorClient, batchId: string, total: number, display: ProgressDisplay): Promise<BatchSettlement> {
  const batch = client.temporal.workflow.getHandle<typeof batchWorkflow>(batchId);
  let lastLine = '';
  for (;;) {
    const description = await batch.describe();
    const running = description.status.name === 'RUNNING';
    let totals: BatchTotals | undefined;
    if (running) totals = await batch.query(batchProgressQuery).catch(() => undefined);
    else if (description.status.name === 'COMPLETED') totals = await batch.result();
    const waiting = running ? await countWaiting(client, batchId) : 0;
    const done = totals ? totals.completed + totals.rejected + totals.failed + totals.duplicates : 0;
    const line = `${progressBar(done, total)} · ${waiting} awaiting approval · ${usd(totals?.costUsd ?? 0)}`;
    if (display.tty) display.write(`\r${line}`);
    else if (line !== lastLine) display.write(`${line}\n`);
    lastLine = line;
    // With nothing waiting, the batch closes right after its last job: wait for that, so `finished` is true.
    if (!running || (waiting > 0 && done + waiting >= total)) {
      if (display.tty) display.write('\n');
      return { finished: !running, done, awaitingApproval: waiting, totals };
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

async function countWaiting(client: ConveyorClient, batchId: string): Promise<number> {
  const { count } = await client.temporal.workflow.count(`${ConveyorBatchId.name} = "${batchId}" AND ${ConveyorStatus.name} = "awaiting_approval" AND ExecutionStatus = "Running"`);
  return count;
}

async function printSummary(client: ConveyorClient, batchId: string, total: number, startedAt: number, out: (line: string) => void): Promise<void> {
  const results: JobResult[] = [];
  let waiting = 0;
  for await (const execution of client.temporal.workflow.list({ query: `${ConveyorBatchId.name} = "${batchId}" AND ${jobWorkflowTypeClause}` })) {
    if (execution.status.name === 'COMPLETED') results.push(await client.jobHandle(execution.workflowId).result());
    else if (execution.status.name === 'RUNNING') waiting++;
  }
  const stepsByTier = new Map<string, number>();
  for (const entry of results.flatMap((result) => result.ledger)) {
    if (entry.outcome === 'accepted') stepsByTier.set(entry.tier, (stepsByTier.get(entry.tier) ?? 0) + 1);
  }
  const rows = [
    ...['small', 'medium', 'large'].map((tier) => ({ measure: `steps handled by the ${tier} tier`, value: stepsByTier.get(tier) ?? 0 })),
    { measure: 'steps decided by a person', value: results.flatMap((r) => r.ledger).filter((e) => e.decision).length },
    { measure: 'jobs with escalations', value: results.filter((r) => r.escalations > 0).length },
    { measure: 'completed', value: results.filter((r) => r.status === 'completed').length },
    { measure: 'rejected by a reviewer', value: results.filter((r) => r.status === 'rejected').length },
    { measure: 'awaiting approval', value: waiting },
    { measure: 'actions executed', value: results.reduce((sum, r) => sum + r.actions.length, 0) },
    { measure: 'total cost', value: usd(results.reduce((sum, r) => sum + r.costUsd, 0)) },
    { measure: 'elapsed', value: `${((Date.now() - startedAt) / 1000).toFixed(1)} s` },
  ];
  out(`\nSummary of ${batchId} (${total} jobs)`);
  out(table(rows));
}

function printPending(pending: PendingItem[], out: (line: string) => void): void {
  out(`\n${pending.length} item(s) wait for a reviewer:`);
  for (const item of pending) {
    const decision = JSON.stringify({ approvalId: item.approvalId, decision: 'approve', reviewer: 'alice' });
    out(`\n• ${item.jobId} — ${item.kind} ${item.approvalId}: ${item.evidence.reason}`);
    out(`  proposed: ${JSON.stringify(item.proposedAction)}`);
    out(`  approve:  npx conveyor approve ${item.jobId} --approval ${item.approvalId} --by alice`);
    out(`  reject:   npx conveyor reject ${item.jobId} --approval ${item.approvalId} --by alice --reason "…"`);
    out(`  signal:   temporal workflow signal --workflow-id ${item.jobId} --name decide --input '${decision}'`);
  }
}

async function autoApprove(client: ConveyorClient, batchId: string, pending: PendingItem[], out: (line: string) => void): Promise<PendingItem[]> {
  for (const item of pending) {
    for (const reviewer of DEMO_REVIEWERS) {
      const result = await client.decide(item.jobId, { approvalId: item.approvalId, decision: 'approve', reviewer, comment: 'demo auto-approve' });
      out(`  ✓ ${item.jobId} ${item.approvalId} approved by ${reviewer}${result.settled ? '' : ' (needs a second reviewer)'}`);
      if (result.settled) break;
    }
  }
  await new Promise((resolve) => setTimeout(resolve, 500));
  return pendingOf(client, batchId);
}

async function decideInline(client: ConveyorClient, pending: PendingItem[], out: (line: string) => void): Promise<void> {
  const prompt = readline.createInterface({ input: process.stdin, output: process.stdout });
  try {
    const reviewer = (await prompt.question('\nDecide now? Your reviewer name (empty to skip): ')).trim();
    if (!reviewer) return;
    for (const item of pending) {
      const answer = (await prompt.question(`${item.jobId} ${item.approvalId} — [a]pprove, [r]eject, [s]kip? `)).trim().toLowerCase();
      if (answer !== 'a' && answer !== 'r') continue;
      try {
        const result = await client.decide(item.jobId, {
          approvalId: item.approvalId,
          decision: answer === 'a' ? 'approve' : 'reject',
          reviewer,
          comment: 'decided in the demo',
        });
        out(`  recorded${result.settled ? '' : ' (a second reviewer is required)'}`);
      } catch (error) {
        out(`  refused: ${(error as Error).message}`);
      }
    }
  } finally {
    prompt.close();
  }
}
