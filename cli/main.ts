/**
 * The `conveyor` command line: run the server and worker, start jobs and batches, inspect them,
 * review what waits for approval, and train local models. Tables by default, `--json` for scripts.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConveyorClient, DecisionRefusedError, InvalidJobInputError, JobNotFoundError } from '../client';
import { ensureTemporal, TemporalUnavailableError } from '../platform/embedded-server';
import { InvalidSettingsError, loadSettings } from '../platform/settings';
import { runWorker } from '../workers/worker';
import { demoJobsFile, runDemo } from './demo';
import { readJobsFile } from './jobs-file';
import { table, usd } from './output';
import { evalCommand } from './eval';
import { reportCommand } from './report';
import { trainCommand } from './train';

/** A usage error: exit code 2 with a message naming what was wrong. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

const out = (line: string) => process.stdout.write(`${line}\n`);
const err = (line: string) => process.stderr.write(`${line}\n`);

const usage = `conveyor — a durable AI factory on Temporal

  conveyor server                                   run the embedded Temporal server (foreground)
  conveyor worker                                   run a worker
  conveyor demo [--once] [--auto-approve]           the npm start demo
  conveyor run <jobs.jsonl> [--type T] [--batch] [--wait] [--json]
  conveyor status <jobId> [--json]
  conveyor inspect <jobId> [--json]
  conveyor pending [--type T] [--json]
  conveyor approve <jobId> [--approval ID] --by REVIEWER [--comment C] [--edit JSON] [--json]
  conveyor reject <jobId> [--approval ID] --by REVIEWER --reason R [--json]
  conveyor eval (--dataset banking77|clinc150|bitext-customer-support | --data FILE) [--model FILE] [--threshold T] [--limit N] [--durable] [--out DIR] [--json]
  conveyor report [--since 24h|7d|ISO] [--type T] [--format md|json|html] [--out FILE]
  conveyor train --data FILE [--text-column text] [--label-column label] [--model-size small|medium|large] --out MODEL [--json]

Connection: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*; without
TEMPORAL_ADDRESS the embedded server on 127.0.0.1:7233 (UI :8233) is used.`;

function parse(args: string[], options: ParseArgsConfig['options']): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  try {
    const parsed = parseArgs({ args, options: { json: { type: 'boolean' }, ...options }, allowPositionals: true, strict: true });
    return { values: parsed.values, positionals: parsed.positionals };
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function required(value: string | boolean | undefined, flag: string): string {
  if (typeof value !== 'string' || !value.trim()) throw new UsageError(`missing ${flag}`);
  return value;
}

function onePositional(positionals: string[], what: string): string {
  if (positionals.length !== 1) throw new UsageError(`expected exactly one ${what}`);
  return positionals[0]!;
}

async function withClient<T>(use: (client: ConveyorClient) => Promise<T>): Promise<T> {
  const client = await ConveyorClient.connect();
  try {
    return await use(client);
  } finally {
    await client.close();
  }
}

const printJson = (value: unknown) => out(JSON.stringify(value, null, 2));

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
      parse(rest, {});
      const settings = loadSettings();
      const endpoint = await ensureTemporal(settings, { fresh: false, log: err });
      out(`Temporal gRPC: ${endpoint.address}  namespace: ${endpoint.namespace}`);
      out(`Temporal UI:   ${endpoint.uiUrl ?? '(configured cluster)'}`);
      if (!endpoint.started) {
        out('(already running; nothing started)');
        return 0;
      }
      out(`Data: ${endpoint.dbFile}. Ctrl-C to stop.`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await endpoint.stop();
      return 0;
    }

    case 'worker':
      parse(rest, {});
      await runWorker(loadSettings(), out);
      return 0;

    case 'demo': {
      const { values } = parse(rest, { once: { type: 'boolean' }, 'auto-approve': { type: 'boolean' }, jobs: { type: 'string' } });
      return runDemo({ once: Boolean(values.once), autoApprove: Boolean(values['auto-approve']), jobsFile: (values.jobs as string | undefined) ?? demoJobsFile, out });
    }

    case 'run': {
      const { values, positionals } = parse(rest, { type: { type: 'string' }, batch: { type: 'boolean' }, wait: { type: 'boolean' }, 'batch-id': { type: 'string' }, concurrency: { type: 'string' } });
      const file = onePositional(positionals, 'jobs JSONL file');
      const { jobs, problems } = readJobsFile(file, { type: values.type as string | undefined });
      for (const problem of problems) err(`${file}:${problem.line}: ${problem.reason}`);
      const report = await withClient(async (client) => {
        if (values.batch) {
          const batchId = (values['batch-id'] as string | undefined) ?? `batch-${Date.now().toString(36)}`;
          const started = await client.startBatch({ batchId, jobs: jobs.map((job) => ({ ...job, batchId })), concurrency: Number(values.concurrency ?? 20) });
          const result = values.wait ? await client.getBatchResult(batchId) : undefined;
          return { batch: started, result, started: jobs.length, invalid: problems };
        }
        const started = [];
        for (const job of jobs) started.push(await client.startJob(job));
        const results = values.wait ? await Promise.all(started.map(async (job) => client.getStatus(job.jobId).then(async (s) => (s.status === 'awaiting_approval' ? s : { ...s, result: await client.getResult(job.jobId) })))) : undefined;
        return { jobs: started, results: results?.map((r) => ({ id: r.id, status: r.result?.status ?? r.status, costUsd: r.result?.costUsd ?? r.costUsd })), invalid: problems };
      });
      if (values.json) printJson(report);
      else {
        out(`${jobs.length} job(s) started${problems.length ? `, ${problems.length} invalid line(s) skipped` : ''}.`);
        if ('jobs' in report && report.jobs) out(table(report.jobs.map((job) => ({ job: job.jobId, run: job.runId, new: job.created }))));
        if ('results' in report && report.results) out(table(report.results));
        if ('batch' in report && report.batch) out(`batch ${report.batch.jobId} (${report.batch.created ? 'started' : 'already existed'})`);
      }
      return problems.length > 0 ? 1 : 0;
    }

    case 'status': {
      const { values, positionals } = parse(rest, {});
      const jobId = onePositional(positionals, 'job id');
      const status = await withClient((client) => client.getStatus(jobId));
      const view = { id: status.id, type: status.type, status: status.status, result: status.result, costUsd: status.costUsd, ledger: status.ledger, pendingApprovals: status.pendingApprovals, failure: status.failure };
      if (values.json) printJson(view);
      else {
        out(`${view.id} (${view.type}): ${view.status} · ${usd(view.costUsd)}`);
        if (view.failure) out(`failure: ${view.failure}`);
        for (const approval of view.pendingApprovals) out(`waiting: ${approval.approvalId} — ${approval.evidence.reason}`);
      }
      return 0;
    }

    case 'inspect': {
      const { values, positionals } = parse(rest, {});
      const jobId = onePositional(positionals, 'job id');
      const view = await withClient(async (client) => {
        const status = await client.getStatus(jobId);
        const description = await client.temporal.workflow.getHandle(jobId).describe();
        return {
          id: jobId,
          type: status.type,
          status: status.status,
          plan: status.result?.plan ?? (description.memo?.plan),
          ledger: status.ledger,
          decisions: status.result?.decisions ?? [],
          approvals: status.result?.approvals ?? [],
          actions: status.result?.actions ?? [],
          pendingApprovals: status.pendingApprovals,
          costUsd: status.costUsd,
          uiLink: client.uiLink(jobId, description.runId),
        };
      });
      if (values.json) printJson(view);
      else {
        out(`${view.id} (${view.type}): ${view.status} · ${usd(view.costUsd)}`);
        out(`UI: ${view.uiLink ?? '(no UI URL configured: set CONVEYOR_UI_URL)'}`);
        out('\nPlan');
        out(table(((view.plan as { steps?: { id: string; station: string }[] } | undefined)?.steps ?? []).map((s) => ({ step: s.id, station: s.station }))));
        out('\nLedger');
        out(table(view.ledger.map((e) => ({ step: e.stepId, call: e.call, model: e.modelId, tier: e.tier, tokens: e.inputTokens + e.outputTokens, cost: usd(e.costUsd), ms: e.latencyMs, confidence: e.confidence?.toFixed(2), cache: e.cacheHit, outcome: e.outcome, reason: e.escalationReason }))));
        out('\nDecisions');
        out(table(view.decisions.map((d) => ({ step: d.stepId, kind: d.kind, model: d.modelId, reason: d.reason }))));
      }
      return 0;
    }

    case 'pending': {
      const { values } = parse(rest, { type: { type: 'string' } });
      const pending = await withClient((client) => client.listPending({ jobType: values.type as string | undefined }));
      const view = pending.map(({ jobId, approvalId, station, proposedAction, evidence, requestedAt }) => ({ jobId, approvalId, station, proposedAction, evidence, requestedAt }));
      if (values.json) printJson(view);
      else out(table(pending.map((p) => ({ job: p.jobId, approval: p.approvalId, kind: p.kind, reason: p.evidence.reason, proposed: p.proposedAction, reviewers: p.reviewers.join(' / '), since: p.requestedAt }))));
      return 0;
    }

    case 'approve':
    case 'reject': {
      const { values, positionals } = parse(rest, { approval: { type: 'string' }, by: { type: 'string' }, comment: { type: 'string' }, reason: { type: 'string' }, edit: { type: 'string' } });
      const jobId = onePositional(positionals, 'job id');
      const reviewer = required(values.by, '--by <reviewer>');
      let edits: Record<string, unknown> | undefined;
      if (values.edit !== undefined) {
        if (command === 'reject') throw new UsageError('--edit is only allowed with approve');
        try {
          edits = JSON.parse(values.edit as string) as Record<string, unknown>;
        } catch (error) {
          throw new UsageError(`--edit is not valid JSON: ${(error as Error).message}`);
        }
        if (edits === null || typeof edits !== 'object' || Array.isArray(edits)) throw new UsageError('--edit must be a JSON object');
      }
      const comment = command === 'reject' ? required(values.reason, '--reason <text>') : (values.comment as string | undefined);
      const result = await withClient((client) =>
        client.decide(jobId, { approvalId: values.approval as string | undefined, decision: command === 'approve' ? 'approve' : 'reject', reviewer, comment, edits }),
      );
      if (values.json) printJson({ jobId, ...result });
      else out(`${command === 'approve' ? 'approved' : 'rejected'} ${jobId} ${result.approvalId}${result.settled ? '' : ' (waiting for a second reviewer)'}`);
      return 0;
    }

    case 'eval':
      return evalCommand(rest, { stdout: out, stderr: err });

    case 'report':
      return reportCommand(rest, { stdout: out, stderr: err });

    case 'train': {
      return trainCommand(rest, { stdout: out, stderr: err });
    }

    default:
      throw new UsageError(`unknown command "${command}"\n\n${usage}`);
  }
}

const expectedErrors = [UsageError, InvalidJobInputError, JobNotFoundError, DecisionRefusedError, InvalidSettingsError, TemporalUnavailableError];

if (require.main === module || process.argv[1]?.endsWith('conveyor.js') || process.argv[1]?.endsWith('conveyor')) {
  main(process.argv.slice(2))
    .then((code) => process.exit(code))
    .catch((error: unknown) => {
      const known = expectedErrors.some((type) => error instanceof type);
      err(`conveyor: ${error instanceof Error ? `${known ? '' : `${error.name}: `}${error.message}` : String(error)}`);
      process.exit(known ? 2 : 1);
    });
}
