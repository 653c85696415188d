/**
 * The `conveyor` command line: run the server and worker, start jobs and batches, inspect them,
 * review what waits for approval, and train local models. Tables by default, `--json` for scripts.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import {
  ConveyorClient,
  DecisionRefusedError,
  WorkerUnavailableError,
  InvalidJobInputError,
  JobNotFoundError,
  type JobRequest,
  type JobStatusView,
} from '../client';
import { jobIdSchema } from '../domain/job';
import { FactoryDefinitionError } from '../factory/validate';
import { FactoryModuleError } from '../platform/factory-module';
import type { Plan } from '../domain/plan';
import { ensureTemporal, TemporalUnavailableError } from '../platform/embedded-server';
import { InvalidSettingsError, loadSettings } from '../platform/settings';
import { factoryFromSettings, runWorker } from '../workers/worker';
import { demoJobsFile, runDemo, watchBatch, type BatchSettlement } from './demo';
import { JobsFileError, readJobsFile } from './jobs-file';
import { table, usd } from './output';
import { evalCommand } from './eval';
import { reportCommand } from './report';
import { trainCommand } from './train';
import { auditCommand } from './audit';
import { factoryCommand, factoryUsage } from './factory';
import { replayPolicyCommand } from './replay-policy';
import { routerCommand, routerUsage } from './router';
import { scorerCommand, scorerUsage } from './scorer';
import { distillCommand, distillUsage, modelsCommand, modelsUsage, rollbackCommand, rollbackUsage, shadowCommand, shadowUsage } from './learning';
import { runCodecServer } from '../platform/codec-server';
import { clusterCommand, clusterUsage } from './cluster';

/** A usage error: exit code 2 with a message naming what was wrong and the command's usage. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  constructor(
    message: string,
    readonly command?: string,
  ) {
    super(message);
  }
}

const out = (line: string) => process.stdout.write(`${line}\n`);
const err = (line: string) => process.stderr.write(`${line}\n`);
/** For commands that end their own lines (the learning commands). */
const rawIo = { stdout: (text: string) => void process.stdout.write(text), stderr: (text: string) => void process.stderr.write(text) };

const commandUsage: Record<string, string> = {
  server: 'conveyor server [--json]',
  worker: 'conveyor worker [--factory MODULE]   (default: CONVEYOR_FACTORY, else the built-in support factory)',
  demo: 'conveyor demo [--once] [--auto-approve] [--jobs FILE]',
  run: 'conveyor run <jobs.jsonl> [--type T] [--batch [--batch-id ID] [--concurrency N]] [--wait] [--json]',
  status: 'conveyor status <jobId> [--json]',
  inspect: 'conveyor inspect <jobId> [--json]',
  pending: 'conveyor pending [--type T] [--json]',
  approve: 'conveyor approve <jobId> [--approval ID] [--by REVIEWER] [--comment C] [--edit JSON] [--key PEM] [--json]',
  reject: 'conveyor reject <jobId> [--approval ID] [--by REVIEWER] --reason R [--key PEM] [--json]',
  retry: 'conveyor retry <jobId> [--approval ID] [--by REVIEWER] [--comment C] [--edit JSON] [--key PEM] [--json]',
  skip: 'conveyor skip <jobId> [--approval ID] [--by REVIEWER] --reason R [--key PEM] [--json]',
  eval: 'conveyor eval (--dataset banking77|clinc150|bitext-customer-support | --data FILE) [--factory MODULE] [--station NAME] [--job-type NAME] [--model FILE] [--threshold T] [--limit N] [--durable] [--out DIR] [--json] [--schedule CRON [--schedule-id ID] [--baseline A] [--tolerance T]]',
  report: 'conveyor report [--since 24h|7d|ISO] [--type T] [--task-queue Q] [--format md|json|html | --json] [--out FILE]',
  train: 'conveyor train --data FILE [--text-column text] [--label-column label] [--model-size small|medium|large] --out MODEL [--json]',
  audit: 'conveyor audit export [--since 24h|7d|ISO] [--type T] [--task-queue Q] [--out FILE]',
  factory: factoryUsage,
  bench: 'conveyor bench [--quick] [--sizes 100,1000,10000] [--sections cache,overhead,remote,throughput,growth,memory] [--servers embedded,cluster]   (= npm run bench)',
  'replay-policy': 'conveyor replay-policy --policy FILE [--since 24h|7d|ISO] [--type T] [--task-queue Q] [--no-calls | --max-calls 1000] [--json]',
  router: routerUsage,
  scorer: scorerUsage,
  distill: distillUsage,
  rollback: rollbackUsage,
  models: modelsUsage,
  shadow: shadowUsage,
  'codec-server': 'conveyor codec-server   (CONVEYOR_ENCRYPTION_KEY[_FILE], CONVEYOR_CODEC_PORT, CONVEYOR_CODEC_TOKEN)',
  cluster: clusterUsage,
};

const usage = `conveyor — a durable AI factory on Temporal

  conveyor server [--json]                          run the embedded Temporal server (foreground)
  conveyor worker                                   run a worker
  conveyor demo [--once] [--auto-approve] [--jobs FILE]  the npm start demo
  ${commandUsage.run}
  ${commandUsage.status}
  ${commandUsage.inspect}
  ${commandUsage.pending}
  ${commandUsage.approve}
  ${commandUsage.reject}
  ${commandUsage.retry}
  ${commandUsage.skip}
  ${commandUsage.eval}
  ${commandUsage.report}
  ${commandUsage.train}
  ${commandUsage.audit}
  ${commandUsage.factory}
  ${commandUsage.bench}
  ${commandUsage['replay-policy']}
  ${commandUsage.router}
  ${commandUsage.scorer}
  ${commandUsage.distill}
  ${commandUsage.rollback}
  ${commandUsage.models}
  ${commandUsage.shadow}
  ${commandUsage['codec-server']}
  ${commandUsage.cluster}

run: each line of the file is {"id", "type", "input", "requestedBy"?, "policy"?}; invalid lines are reported
  on stderr as FILE:LINE: reason and skipped, valid ones still run. --wait waits until every job has
  finished or waits for a person (a batch draws a progress bar when the output is a terminal).
approve/reject: --by defaults to $CONVEYOR_REVIEWER (your configured reviewer identity); without --approval
  the job's only pending approval is decided.
retry/skip: decide a failed action (status action_failed, kind action-failed): retry it under the same
  idempotency key, retry with --edit (a new revision, approved again when sensitive), or skip it --reason R.
factory check/show: <module> is a .ts or .js file whose default export (or export named "factory") is a
  defineFactory(...); without it, the built-in support factory. check exits 2 and lists every problem on stderr.
--json prints one JSON document on stdout (shapes in the README). Exit codes: 0 ok; 1 some lines invalid
  or some jobs failed; 2 bad usage, unknown job, refused decision or unreachable Temporal.

Connection: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*, CONVEYOR_TASK_QUEUE,
CONVEYOR_UI_URL; without TEMPORAL_ADDRESS the embedded server on 127.0.0.1:7233 (UI :8233) is used.`;

type Values = Record<string, string | boolean | undefined>;

function parse(command: string, args: string[], options: ParseArgsConfig['options'], { json = false } = {}): { values: Values; positionals: string[] } {
  try {
    const parsed = parseArgs({ args, options: { ...(json ? { json: { type: 'boolean' } } : {}), ...options }, allowPositionals: true, strict: true });
    return { values: parsed.values, positionals: parsed.positionals };
  } catch (error) {
    throw new UsageError((error as Error).message, command);
  }
}

const text = (values: Values, flag: string): string | undefined => {
  const value = values[flag];
  return typeof value === 'string' ? value : undefined;
};

function required(command: string, value: string | undefined, flag: string): string {
  if (!value?.trim()) throw new UsageError(`missing ${flag}`, command);
  return value;
}

function onePositional(command: string, positionals: string[], what: string): string {
  if (positionals.length === 0) throw new UsageError(`missing the ${what}`, command);
  if (positionals.length > 1) throw new UsageError(`expected one ${what}, got ${positionals.length}: ${positionals.join(' ')}`, command);
  return positionals[0]!;
}

function noPositionals(command: string, positionals: string[]): void {
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`, command);
}

function positiveInteger(command: string, raw: string | undefined, flag: string): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw) || Number(raw) < 1) throw new UsageError(`${flag} must be a whole number above 0, not "${raw}"`, command);
  return Number(raw);
}

function knownJobType(command: string, type: string | undefined): string | undefined {
  if (type === undefined) return undefined;
  const factory = factoryFromSettings(loadSettings());
  if (!factory.jobTypes.has(type)) throw new UsageError(`--type: Unknown job type "${type}"; known: ${[...factory.jobTypes.keys()].join(', ')}`, command);
  return type;
}

async function withClient<T>(use: (client: ConveyorClient) => Promise<T>): Promise<T> {
  const settings = loadSettings();
  const address = settings.address ?? `127.0.0.1:${settings.embeddedGrpcPort}`;
  let client: ConveyorClient;
  try {
    client = await ConveyorClient.connect({ settings, factory: factoryFromSettings(settings) });
  } catch (error) {
    if (error instanceof FactoryDefinitionError || error instanceof FactoryModuleError) throw error;
    throw new TemporalUnavailableError(
      `cannot reach Temporal at ${address} (${(error as Error).message}). Start it with \`conveyor server\` or \`npm start\`, or set TEMPORAL_ADDRESS to a running cluster.`,
    );
  }
  try {
    return await use(client);
  } finally {
    await client.close();
  }
}

const printJson = (value: unknown) => out(JSON.stringify(value, null, 2));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A job's status as the CLI shows it (the client already reports a run closed without a result as failed). */
type StatusView = Omit<JobStatusView, 'executionStatus'>;

function statusView({ executionStatus, ...view }: JobStatusView): StatusView {
  const closedWithoutResult = executionStatus !== 'RUNNING' && executionStatus !== 'COMPLETED';
  return closedWithoutResult ? { ...view, failure: view.failure ?? `the run ended ${executionStatus.toLowerCase()}` } : view;
}

/** Polls until the job has finished or waits for a person. */
async function settle(client: ConveyorClient, jobId: string): Promise<StatusView> {
  for (let delay = 200; ; delay = Math.min(1000, Math.round(delay * 1.5))) {
    const status = await client.getStatus(jobId);
    if (status.executionStatus !== 'RUNNING' || status.status === 'awaiting_approval') return statusView(status);
    await sleep(delay);
  }
}

interface RunJobLine {
  jobId: string;
  runId: string;
  created: boolean;
  status?: StatusView['status'];
  costUsd?: number;
  pendingApprovalIds?: string[];
  reason?: string;
  failure?: string;
}

async function runJobs(client: ConveyorClient, jobs: JobRequest[], wait: boolean): Promise<RunJobLine[]> {
  const started: RunJobLine[] = [];
  for (const job of jobs) started.push(await client.startJob(job));
  if (!wait) return started;
  const lines: RunJobLine[] = [];
  // Jobs run in parallel on the workers; waiting for them one after the other costs no extra time.
  for (const job of started) {
    const view = await settle(client, job.jobId);
    lines.push({
      ...job,
      status: view.status,
      costUsd: view.costUsd,
      pendingApprovalIds: view.pendingApprovals.map((approval) => approval.approvalId),
      ...(view.result?.reason ? { reason: view.result.reason } : {}),
      ...(view.failure ? { failure: view.failure } : {}),
    });
  }
  return lines;
}

interface BatchSummary {
  finished: boolean;
  total: number;
  completed: number;
  rejected: number;
  failed: number;
  duplicates: number;
  awaitingApproval: number;
  costUsd: number;
  escalations: number;
  byTopTier: Record<string, number>;
  failures: { jobId: string; type: string; message: string }[];
}

function batchSummary(settlement: BatchSettlement, total: number): BatchSummary {
  const totals = settlement.totals;
  return {
    finished: settlement.finished,
    total: totals?.total ?? total,
    completed: totals?.completed ?? 0,
    rejected: totals?.rejected ?? 0,
    failed: totals?.failed ?? 0,
    duplicates: totals?.duplicates ?? 0,
    awaitingApproval: settlement.awaitingApproval,
    costUsd: totals?.costUsd ?? 0,
    escalations: totals?.escalations ?? 0,
    byTopTier: totals?.byTopTier ?? {},
    failures: totals?.failures ?? [],
  };
}

async function runCommand(command: string, rest: string[]): Promise<number> {
  const { values, positionals } = parse(
    command,
    rest,
    { type: { type: 'string' }, batch: { type: 'boolean' }, wait: { type: 'boolean' }, 'batch-id': { type: 'string' }, concurrency: { type: 'string' } },
    { json: true },
  );
  const file = onePositional(command, positionals, 'jobs JSONL file');
  const json = values.json === true;
  if (!values.batch && (values['batch-id'] !== undefined || values.concurrency !== undefined)) {
    throw new UsageError('--batch-id and --concurrency apply to --batch runs only', command);
  }
  const concurrency = positiveInteger(command, text(values, 'concurrency'), '--concurrency') ?? 20;
  const batchId = text(values, 'batch-id') ?? `batch-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
  const badBatchId = jobIdSchema.safeParse(batchId);
  if (!badBatchId.success) throw new UsageError(`--batch-id "${batchId}": ${badBatchId.error.issues[0]?.message ?? 'invalid'}`, command);

  const { jobs, problems } = readJobsFile(file, { type: knownJobType(command, text(values, 'type')) }, factoryFromSettings(loadSettings()));
  for (const problem of problems) err(`${file}:${problem.line}: ${problem.reason}`);
  if (jobs.length === 0 && problems.length === 0) throw new UsageError(`${file} holds no jobs`, command);
  const invalid = problems.map(({ line, reason }) => ({ line, reason }));
  if (jobs.length === 0) {
    if (json) printJson(values.batch ? { batchId: null, runId: null, created: false, jobIds: [], invalid } : { jobs: [], invalid });
    else out(`no valid jobs in ${file}; nothing started.`);
    return 1;
  }

  if (!values.batch) {
    const lines = await withClient((client) => runJobs(client, jobs, values.wait === true));
    if (json) printJson({ jobs: lines, invalid });
    else {
      out(`${jobs.length} job(s) started${problems.length ? `, ${problems.length} invalid line(s) skipped` : ''}.`);
      out(
        table(
          lines.map((line) => ({
            job: line.jobId,
            new: line.created,
            ...(values.wait ? { status: line.status, cost: usd(line.costUsd ?? 0), waiting: line.pendingApprovalIds?.join(', '), why: line.failure ?? line.reason } : { run: line.runId }),
          })),
        ),
      );
    }
    const failed = lines.some((line) => line.status === 'failed');
    return problems.length > 0 || failed ? 1 : 0;
  }

  const { started, summary, uiLink } = await withClient(async (client) => {
    const batch = await client.startBatch({ batchId, jobs: jobs.map((job) => ({ ...job, batchId })), concurrency });
    if (!batch.created) err(`batch ${batchId} already existed; reporting its run`);
    if (!json) out(`batch ${batchId}: ${jobs.length} job(s) ${batch.created ? 'started' : 'already running'}${problems.length ? `, ${problems.length} invalid line(s) skipped` : ''}.`);
    if (!values.wait) return { started: batch, summary: undefined, uiLink: client.uiLink(batchId) };
    // With --json, stdout carries only the JSON document: progress goes to stderr.
    const stream = json ? process.stderr : process.stdout;
    const settlement = await watchBatch(client, batchId, jobs.length, { tty: Boolean(stream.isTTY), write: (chunk) => stream.write(chunk) });
    return { started: batch, summary: batchSummary(settlement, jobs.length), uiLink: client.uiLink(batchId) };
  });
  if (json) {
    printJson({ batchId, runId: started.runId, created: started.created, jobIds: jobs.map((job) => job.id), invalid, ...(summary ? { summary } : {}) });
  } else {
    if (uiLink) out(`UI: ${uiLink}`);
    if (summary) {
      const { byTopTier, failures, ...counts } = summary;
      out(table(Object.entries({ ...counts, costUsd: usd(counts.costUsd), byTopTier: Object.entries(byTopTier).map(([tier, n]) => `${tier} ${n}`).join(', ') }).map(([measure, value]) => ({ measure, value }))));
      for (const failure of failures) out(`failed: ${failure.jobId} — ${failure.type}: ${failure.message}`);
      if (summary.awaitingApproval > 0) out(`${summary.awaitingApproval} job(s) wait for a reviewer: conveyor pending`);
    }
  }
  return problems.length > 0 || (summary?.failed ?? 0) > 0 ? 1 : 0;
}

type DecideCommand = 'approve' | 'reject' | 'retry' | 'skip';

async function decideCommand(command: DecideCommand, rest: string[]): Promise<number> {
  // reject and skip take a reason (the comment they are recorded with); approve and retry an optional comment and edits.
  const withEdits = command === 'approve' || command === 'retry';
  const options: ParseArgsConfig['options'] = { approval: { type: 'string' }, by: { type: 'string' }, edit: { type: 'string' }, key: { type: 'string' }, ...(withEdits ? { comment: { type: 'string' } } : { reason: { type: 'string' } }) };
  const { values, positionals } = parse(command, rest, options, { json: true });
  const jobId = onePositional(command, positionals, 'job id');
  const reviewer = required(command, text(values, 'by') ?? loadSettings().reviewer, '--by <reviewer> (or set CONVEYOR_REVIEWER)');
  if (!withEdits && values.edit !== undefined) throw new UsageError('--edit is only allowed with approve or retry', command);
  let edits: Record<string, unknown> | undefined;
  const editText = text(values, 'edit');
  if (editText !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(editText);
    } catch (error) {
      throw new UsageError(`--edit is not valid JSON: ${(error as Error).message}`, command);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new UsageError('--edit must be a JSON object, e.g. \'{"amountUsd":150}\'', command);
    edits = parsed as Record<string, unknown>;
  }
  const comment = withEdits ? text(values, 'comment') : required(command, text(values, 'reason'), '--reason <text>');
  const decision = command;
  const result = await withClient((client) => client.decide(jobId, { approvalId: text(values, 'approval'), decision, reviewer, comment, edits }, { keyFile: text(values, 'key') }));
  const done = { approve: 'approved', reject: 'rejected', retry: 'retried', skip: 'skipped' }[decision];
  if (values.json) printJson({ jobId, approvalId: result.approvalId, decision, reviewer, accepted: result.accepted, settled: result.settled, ...(result.revisedTo ? { revisedTo: result.revisedTo } : {}) });
  else if (result.revisedTo) out(`edited ${jobId} ${result.approvalId} as ${reviewer}: the changed proposal is revision ${result.revisedTo}, waiting for its own approvals (see conveyor pending)`);
  else out(`${done} ${jobId} ${result.approvalId} as ${reviewer}${result.settled ? '' : ' (waiting for a second reviewer)'}`);
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      out(usage);
      return command === undefined ? 2 : 0;

    case 'server': {
      const { values, positionals } = parse(command, rest, {}, { json: true });
      noPositionals(command, positionals);
      const settings = loadSettings();
      const endpoint = await ensureTemporal(settings, { fresh: false, log: err });
      if (values.json) printJson({ address: endpoint.address, namespace: endpoint.namespace, uiUrl: endpoint.uiUrl ?? null, started: endpoint.started, dbFile: endpoint.dbFile ?? null });
      else {
        out(`Temporal gRPC: ${endpoint.address}  namespace: ${endpoint.namespace}`);
        out(`Temporal UI:   ${endpoint.uiUrl ?? '(configured cluster)'}`);
      }
      if (!endpoint.started) {
        if (!values.json) out('(already running; nothing started)');
        return 0;
      }
      if (!values.json) out(`Data: ${endpoint.dbFile}. Ctrl-C to stop.`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await endpoint.stop();
      return 0;
    }

    case 'worker': {
      const { values, positionals } = parse(command, rest, { factory: { type: 'string' } });
      noPositionals(command, positionals);
      const settings = loadSettings();
      await runWorker(settings, out, factoryFromSettings(settings, text(values, 'factory') ?? settings.factoryModule));
      return 0;
    }

    case 'demo': {
      const { values, positionals } = parse(command, rest, { once: { type: 'boolean' }, 'auto-approve': { type: 'boolean' }, jobs: { type: 'string' } });
      noPositionals(command, positionals);
      return runDemo({ once: Boolean(values.once), autoApprove: Boolean(values['auto-approve']), jobsFile: text(values, 'jobs') ?? demoJobsFile, out });
    }

    case 'run':
      return runCommand(command, rest);

    case 'status': {
      const { values, positionals } = parse(command, rest, {}, { json: true });
      const jobId = onePositional(command, positionals, 'job id');
      const view = statusView(await withClient((client) => client.getStatus(jobId)));
      if (values.json) printJson(view);
      else {
        out(`${view.id} (${view.type}): ${view.status} · ${usd(view.costUsd)}`);
        if (view.result?.reason) out(`reason: ${view.result.reason}`);
        if (view.failure) out(`failure: ${view.failure}`);
        for (const approval of view.pendingApprovals) out(`waiting: ${approval.approvalId} — ${approval.evidence.reason}`);
      }
      return 0;
    }

    case 'inspect': {
      const { values, positionals } = parse(command, rest, {}, { json: true });
      const jobId = onePositional(command, positionals, 'job id');
      const view = await withClient(async (client) => {
        const status = statusView(await client.getStatus(jobId));
        const description = await client.temporal.workflow.getHandle(jobId).describe();
        // A running or waiting job: its live record (query `record`), exactly when a reviewer needs the evidence.
        const record = status.result ?? (description.status.name === 'RUNNING' ? await client.getRecord(jobId) : undefined);
        return {
          id: jobId,
          type: status.type,
          status: status.status,
          plan: status.result?.plan ?? (description.memo?.plan as Plan | undefined) ?? null,
          ledger: record?.ledger ?? status.ledger,
          decisions: record?.decisions ?? [],
          approvals: record?.approvals ?? [],
          actions: record?.actions ?? [],
          screening: record?.screening ?? null,
          pendingApprovals: status.pendingApprovals,
          costUsd: status.costUsd,
          ...(status.failure ? { failure: status.failure } : {}),
          uiLink: client.uiLink(jobId, description.runId) ?? null,
        };
      });
      if (values.json) printJson(view);
      else {
        out(`${view.id} (${view.type}): ${view.status} · ${usd(view.costUsd)}`);
        out(`UI: ${view.uiLink ?? '(no UI URL configured: set CONVEYOR_UI_URL)'}`);
        if (view.failure) out(`failure: ${view.failure}`);
        out(`\nPlan${view.plan ? ` (${view.plan.strategy})` : ''}`);
        out(table((view.plan?.steps ?? []).map((s) => ({ step: s.id, station: s.station }))));
        out('\nLedger');
        out(table(view.ledger.map((e) => ({ step: e.stepId, call: e.call, model: e.modelId, tier: e.tier, tokens: e.inputTokens + e.outputTokens, cost: usd(e.costUsd), ms: e.latencyMs, confidence: e.confidence?.toFixed(2), cache: e.cacheHit, outcome: e.outcome, reason: e.escalationReason }))));
        out('\nDecisions');
        out(table(view.decisions.map((d) => ({ step: d.stepId, kind: d.kind, model: d.modelId, reason: d.reason }))));
        if (view.approvals.length) {
          out('\nApprovals');
          out(table(view.approvals.map((a) => ({ approval: a.approvalId, decision: a.decision, reviewer: a.reviewer, via: a.via, accepted: a.accepted, comment: a.comment ?? a.refusal }))));
        }
        for (const approval of view.pendingApprovals) out(`\nwaiting: ${approval.approvalId} — ${approval.evidence.reason}`);
      }
      return 0;
    }

    case 'pending': {
      const { values, positionals } = parse(command, rest, { type: { type: 'string' } }, { json: true });
      noPositionals(command, positionals);
      const jobType = knownJobType(command, text(values, 'type'));
      const pending = await withClient((client) => client.listPending({ jobType }));
      const view = pending.map(({ jobId, approvalId, kind, station, proposedAction, evidence, requestedAt, reviewers }) => ({ jobId, approvalId, kind, station, proposedAction, evidence, requestedAt, reviewers }));
      if (values.json) printJson(view);
      else out(table(view.map((p) => ({ job: p.jobId, approval: p.approvalId, kind: p.kind, reason: p.evidence.reason, proposed: p.proposedAction, reviewers: p.reviewers.join(' / '), since: p.requestedAt }))));
      return 0;
    }

    case 'approve':
    case 'reject':
    case 'retry':
    case 'skip':
      return decideCommand(command, rest);

    case 'eval':
      return evalCommand(rest, { stdout: out, stderr: err });

    case 'report':
      return reportCommand(rest, { stdout: out, stderr: err });

    case 'train':
      return trainCommand(rest, { stdout: out, stderr: err });

    case 'audit':
      return auditCommand(rest, { stdout: out, stderr: err });

    case 'factory':
      return factoryCommand(rest, { stdout: out, stderr: err });

    case 'bench': {
      // The engine benchmark runs in a process of its own: it starts servers and worker processes.
      const benchScript = path.join(__dirname, '..', 'bench', 'run.ts');
      if (!fs.existsSync(benchScript)) throw new UsageError('the benchmarks ship with the repository, not the package: run `npm run bench` in a checkout of Conveyor', command);
      const bench = spawnSync(process.execPath, ['--import', 'tsx', benchScript, ...rest], { stdio: 'inherit' });
      return bench.status ?? 1;
    }

    case 'replay-policy':
      return replayPolicyCommand(rest, { stdout: out, stderr: err });

    case 'router':
      return routerCommand(rest, rawIo);

    case 'scorer':
      return scorerCommand(rest, rawIo);

    case 'distill':
      return distillCommand(rest, rawIo);

    case 'rollback':
      return rollbackCommand(rest, rawIo);

    case 'models':
      return modelsCommand(rest, rawIo);

    case 'shadow':
      return shadowCommand(rest, rawIo);

    case 'cluster':
      return clusterCommand(rest, { stdout: out, stderr: err });

    case 'codec-server': {
      parse(command, rest, {});
      const running = await runCodecServer(process.env, out);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await running.close();
      return 0;
    }

    default:
      throw new UsageError(`unknown command "${command}" (commands: ${Object.keys(commandUsage).join(', ')}; conveyor --help for more)`);
  }
}

const expectedErrors = [UsageError, JobsFileError, InvalidJobInputError, JobNotFoundError, DecisionRefusedError, InvalidSettingsError, TemporalUnavailableError, WorkerUnavailableError, FactoryDefinitionError, FactoryModuleError];

if (require.main === module || process.argv[1]?.endsWith('conveyor.js') || process.argv[1]?.endsWith('conveyor')) {
  main(process.argv.slice(2))
    .then((code) => process.exit(code))
    .catch((error: unknown) => {
      const known = expectedErrors.some((type) => error instanceof type);
      if (error instanceof UsageError && error.command) {
        err(`conveyor ${error.command}: ${error.message}\nusage: ${commandUsage[error.command] ?? ''}`);
      } else {
        err(`conveyor: ${error instanceof Error ? `${known ? '' : `${error.name}: `}${error.message}` : String(error)}`);
      }
      process.exit(known ? 2 : 1);
    });
}
