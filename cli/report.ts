/**
 * `conveyor report`: what the factory did over a window — jobs by status, cost per job and per tier,
 * escalations per tier, approval decisions and latency — read from Temporal visibility (which jobs
 * ran) and the results of closed jobs (what they cost and why). `buildReport` is the pure arithmetic;
 * `collectReport` does the queries; `reportCommand` prints markdown, JSON or a self-contained HTML page.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ConveyorClient, type JobResult } from '../client';
import { factoryFromSettings } from '../workers/worker';
import { loadSettings } from '../platform/settings';
import { tiers, type Tier } from '../domain/models';
import { ConveyorStatus, jobWorkflowTypeClause } from '../domain/search-attributes';
import { percentile, runAsScript, usd } from './output';
import { ms, percent, renderReportHtml } from './report-html';

// ---- the JSON contract -------------------------------------------------------------------------

/**
 * What `conveyor report --format json` prints. Field names and meanings are stable: new fields may be
 * added, and `schemaVersion` changes only when an existing field changes meaning or goes away.
 * Money is in US dollars, durations in milliseconds, rates between 0 and 1 (null when nothing to divide).
 */
export interface ConveyorReport {
  schemaVersion: 1;
  /** When the report was made (ISO 8601). */
  generatedAt: string;
  filter: ReportFilter;
  jobs: JobCounts;
  cost: CostFigures;
  escalations: EscalationFigures;
  approvals: ApprovalFigures;
  latency: LatencyFigures;
}

/** Which jobs the report covers: `jobWorkflow` runs that closed (or, if still open, started) at or after `since`. */
export interface ReportFilter {
  since: string;
  /** ConveyorJobType; absent means every job type. */
  type?: string;
  /** Temporal task queue; absent means every queue. */
  taskQueue?: string;
}

export interface JobCounts {
  /** Every job in the window: closed and still open. */
  total: number;
  completed: number;
  /** Ended by a reviewer's rejection or an approval timeout. */
  rejected: number;
  /** Closed without a result: failed, timed out, cancelled or terminated. */
  failed: number;
  /** Open and working (ConveyorStatus planning or running). */
  running: number;
  /** Open and waiting for a person (ConveyorStatus awaiting_approval, or action_failed: a failed action waits for a decision). */
  awaitingApproval: number;
  /** completed / (completed + rejected + failed); open jobs are not counted. */
  completionRate: number | null;
}

/** Cost of the jobs that closed with a result (completed and rejected); failed and open jobs are not priced. */
export interface CostFigures {
  totalUsd: number;
  /** How many jobs the per-job figures are over. */
  jobsCosted: number;
  perJob: { meanUsd: number; p50Usd: number; p95Usd: number; maxUsd: number };
  /** Sum of the ledger's costUsd per model tier. */
  byTier: Record<Tier, number>;
  /** Spend outside the ledger (a model planner's calls): totalUsd minus the tiers' sum. */
  outsideLedgerUsd: number;
  /**
   * The ledger's tokens as they were billed: every input token (cached ones among them) and every output
   * token (reasoning ones among them); each kind has its own price in the model registry.
   */
  tokens: { input: number; cachedInput: number; output: number; reasoning: number };
  /** Models passed over within a tier (cooling down after an outage) before another of the tier answered. */
  failovers: number;
}

export interface EscalationFigures {
  /** Ledger entries with outcome "escalated": a model answer (or failure) that sent the step one tier up. */
  total: number;
  /** Per tier: model calls in the ledger, how many escalated, and their ratio. */
  byTier: Record<Tier, { calls: number; escalated: number; rate: number | null }>;
  /** Jobs whose top tier was a person (a step that no model tier could settle). */
  jobsToHuman: number;
  /** jobsToHuman / jobs with a result. */
  toHumanRate: number | null;
}

/** Decisions recorded in the jobs' results (a two-person approval contributes two decisions). */
export interface ApprovalFigures {
  /** Accepted "approve" decisions from reviewers (update or signal). */
  approved: number;
  /** Accepted "reject" decisions from reviewers. */
  rejected: number;
  /** Decisions the workflow refused (e.g. an unauthorised reviewer signalling). */
  refused: number;
  /** Approval timeouts, whether they escalated, rejected or approved by policy. */
  timeouts: number;
}

export interface LatencyFigures {
  /** Wall time of jobs with a result, from startedAt to finishedAt (approval waits included). */
  job: { count: number; meanMs: number; p50Ms: number; p95Ms: number; maxMs: number };
  /** Job wall times in equal-width buckets [fromMs, toMs); empty when no job has a result. */
  histogram: { fromMs: number; toMs: number; count: number }[];
  /** Model-call latency per station, over every call in the ledgers, sorted by station. */
  byStation: { station: string; calls: number; p50Ms: number; p95Ms: number }[];
}

/** The figures `buildReport` computes; `collectReport` adds when and what they were collected for. */
export type ReportFigures = Omit<ConveyorReport, 'schemaVersion' | 'generatedAt' | 'filter'>;

/** Jobs visibility knows about that have no result to read. */
export interface JobsWithoutResult {
  running: number;
  awaitingApproval: number;
  failed: number;
}

// ---- the arithmetic ----------------------------------------------------------------------------

/** Pure: the report's figures from closed jobs' results and the counts of jobs without one. */
export function buildReport(results: readonly JobResult[], runningCounts: JobsWithoutResult): ReportFigures {
  const completed = results.filter((result) => result.status === 'completed').length;
  const rejected = results.filter((result) => result.status === 'rejected').length;
  const failed = runningCounts.failed + results.filter((result) => result.status === 'failed').length;
  const closed = completed + rejected + failed;
  const ledger = results.flatMap((result) => result.ledger);

  const jobCosts = results.map((result) => result.costUsd);
  const totalUsd = roundUsd(sum(jobCosts));
  const byTierCost = Object.fromEntries(
    tiers.map((tier) => [tier, roundUsd(sum(ledger.filter((entry) => entry.tier === tier).map((entry) => entry.costUsd)))]),
  ) as Record<Tier, number>;

  const escalationsByTier = Object.fromEntries(
    tiers.map((tier) => {
      const calls = ledger.filter((entry) => entry.tier === tier);
      const escalated = calls.filter((entry) => entry.outcome === 'escalated').length;
      return [tier, { calls: calls.length, escalated, rate: ratio(escalated, calls.length) }];
    }),
  ) as EscalationFigures['byTier'];
  const jobsToHuman = results.filter((result) => result.topTier === 'human').length;

  const decisions = results.flatMap((result) => result.approvals);
  const byReviewer = decisions.filter((decision) => decision.accepted && decision.via !== 'timeout');

  const wallTimes = results.map((result) => Math.max(0, Date.parse(result.finishedAt) - Date.parse(result.startedAt)));
  const stations = [...new Set(ledger.map((entry) => entry.station))].sort();

  return {
    jobs: {
      total: results.length + runningCounts.running + runningCounts.awaitingApproval + runningCounts.failed,
      completed,
      rejected,
      failed,
      running: runningCounts.running,
      awaitingApproval: runningCounts.awaitingApproval,
      completionRate: ratio(completed, closed),
    },
    cost: {
      totalUsd,
      jobsCosted: results.length,
      perJob: {
        meanUsd: roundUsd(mean(jobCosts)),
        p50Usd: percentile(jobCosts, 50),
        p95Usd: percentile(jobCosts, 95),
        maxUsd: jobCosts.length ? Math.max(...jobCosts) : 0,
      },
      byTier: byTierCost,
      outsideLedgerUsd: Math.max(0, roundUsd(totalUsd - sum(Object.values(byTierCost)))),
      tokens: {
        input: sum(ledger.map((entry) => entry.inputTokens)),
        cachedInput: sum(ledger.map((entry) => entry.cachedInputTokens ?? 0)),
        output: sum(ledger.map((entry) => entry.outputTokens)),
        reasoning: sum(ledger.map((entry) => entry.reasoningTokens ?? 0)),
      },
      failovers: sum(ledger.map((entry) => entry.failover?.length ?? 0)),
    },
    escalations: {
      total: ledger.filter((entry) => entry.outcome === 'escalated').length,
      byTier: escalationsByTier,
      jobsToHuman,
      toHumanRate: ratio(jobsToHuman, results.length),
    },
    approvals: {
      approved: byReviewer.filter((decision) => decision.decision === 'approve').length,
      rejected: byReviewer.filter((decision) => decision.decision === 'reject').length,
      refused: decisions.filter((decision) => !decision.accepted).length,
      timeouts: decisions.filter((decision) => decision.via === 'timeout').length,
    },
    latency: {
      job: {
        count: wallTimes.length,
        meanMs: Math.round(mean(wallTimes)),
        p50Ms: percentile(wallTimes, 50),
        p95Ms: percentile(wallTimes, 95),
        maxMs: wallTimes.length ? Math.max(...wallTimes) : 0,
      },
      histogram: histogram(wallTimes),
      byStation: stations.map((station) => {
        const latencies = ledger.filter((entry) => entry.station === station).map((entry) => entry.latencyMs);
        return { station, calls: latencies.length, p50Ms: percentile(latencies, 50), p95Ms: percentile(latencies, 95) };
      }),
    },
  };
}

/** Equal buckets of a "nice" width (1, 2 or 5 × 10^n ms), about eight of them, from 0 to past the maximum. */
export function histogram(values: readonly number[], targetBuckets = 8): LatencyFigures['histogram'] {
  if (values.length === 0) return [];
  const max = Math.max(...values);
  const width = niceWidth(max / targetBuckets);
  const bucketCount = Math.floor(max / width) + 1;
  const buckets = Array.from({ length: bucketCount }, (_, index) => ({ fromMs: index * width, toMs: (index + 1) * width, count: 0 }));
  for (const value of values) buckets[Math.min(bucketCount - 1, Math.floor(value / width))]!.count++;
  return buckets;
}

function niceWidth(rough: number): number {
  if (rough <= 1) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].find((candidate) => candidate * magnitude >= rough) ?? 10;
  return step * magnitude;
}

const sum = (values: readonly number[]) => values.reduce((total, value) => total + value, 0);
const mean = (values: readonly number[]) => (values.length ? sum(values) / values.length : 0);
const ratio = (part: number, whole: number) => (whole === 0 ? null : part / whole);
const roundUsd = (value: number) => Math.round(value * 1e8) / 1e8;

// ---- collecting from Temporal ------------------------------------------------------------------

export interface CollectOptions {
  since: Date;
  type?: string;
  taskQueue?: string;
  /** How many results to fetch at once. */
  concurrency?: number;
}

const closedWithoutResult = new Set(['FAILED', 'TERMINATED', 'TIMED_OUT', 'CANCELLED']);

/** The visibility query for job runs matching the filter (without the open/closed and time clauses). */
export function jobsQuery(filter: { type?: string; taskQueue?: string }): string {
  const clauses = [jobWorkflowTypeClause];
  if (filter.type) clauses.push(`ConveyorJobType = "${queryValue(filter.type, '--type')}"`);
  if (filter.taskQueue) clauses.push(`TaskQueue = "${queryValue(filter.taskQueue, '--task-queue')}"`);
  return clauses.join(' AND ');
}

/** Lists the matching jobs, reads each closed job's result, and builds the report. */
export async function collectReport(client: ConveyorClient, options: CollectOptions): Promise<ConveyorReport> {
  const since = options.since.toISOString();
  const base = jobsQuery(options);
  const runningCounts: JobsWithoutResult = { running: 0, awaitingApproval: 0, failed: 0 };
  const completedRuns: { workflowId: string; runId: string }[] = [];

  // A running execution's CloseTime is not empty in every visibility store, so the status is explicit.
  for await (const execution of client.temporal.workflow.list({ query: `${base} AND ExecutionStatus != "Running" AND CloseTime >= "${since}"` })) {
    if (execution.status.name === 'COMPLETED') completedRuns.push({ workflowId: execution.workflowId, runId: execution.runId });
    else if (closedWithoutResult.has(execution.status.name)) runningCounts.failed++;
  }
  for await (const execution of client.temporal.workflow.list({ query: `${base} AND ExecutionStatus = "Running" AND StartTime >= "${since}"` })) {
    // Waiting for a person: an approval, or a failed action's decision.
    const status = execution.typedSearchAttributes.get(ConveyorStatus);
    if (status === 'awaiting_approval' || status === 'action_failed') runningCounts.awaitingApproval++;
    else runningCounts.running++;
  }

  const results = await mapConcurrently(completedRuns, options.concurrency ?? 8, ({ workflowId, runId }) =>
    client.temporal.workflow.getHandle(workflowId, runId).result() as Promise<JobResult>,
  );
  return {
    schemaVersion: 1,
    generatedAt: new Date().toISOString(),
    filter: { since, ...(options.type ? { type: options.type } : {}), ...(options.taskQueue ? { taskQueue: options.taskQueue } : {}) },
    ...buildReport(results, runningCounts),
  };
}

async function mapConcurrently<T, R>(items: readonly T[], limit: number, map: (item: T) => Promise<R>): Promise<R[]> {
  const output: R[] = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const index = next++;
      output[index] = await map(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return output;
}

function queryValue(value: string, flag: string): string {
  if (/["\\]/.test(value)) throw new ReportUsageError(`${flag} may not contain quotes or backslashes: ${value}`);
  return value;
}

// ---- text output ---------------------------------------------------------------------------------

function markdownTable(header: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.map((cell) => String(cell).replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

export function renderReportMarkdown(report: ConveyorReport): string {
  const { jobs, cost, escalations, approvals, latency } = report;
  const scope = [`since ${report.filter.since}`, `type ${report.filter.type ?? 'all'}`, ...(report.filter.taskQueue ? [`task queue ${report.filter.taskQueue}`] : [])].join(', ');
  return [
    '# Conveyor report',
    '',
    `Jobs ${scope}. Generated ${report.generatedAt}.`,
    '',
    '## Jobs',
    '',
    markdownTable(
      ['Total', 'Completed', 'Rejected', 'Failed', 'Running', 'Awaiting approval', 'Completion rate'],
      [[jobs.total, jobs.completed, jobs.rejected, jobs.failed, jobs.running, jobs.awaitingApproval, percent(jobs.completionRate)]],
    ),
    '',
    '## Cost',
    '',
    markdownTable(
      ['Total', 'Jobs priced', 'Mean per job', 'p50 per job', 'p95 per job', 'Max per job', 'Outside the ledger'],
      [[usd(cost.totalUsd), cost.jobsCosted, usd(cost.perJob.meanUsd), usd(cost.perJob.p50Usd), usd(cost.perJob.p95Usd), usd(cost.perJob.maxUsd), usd(cost.outsideLedgerUsd)]],
    ),
    '',
    markdownTable(['Input tokens', 'of which cached', 'Output tokens', 'of which reasoning', 'Failovers'], [[cost.tokens.input, cost.tokens.cachedInput, cost.tokens.output, cost.tokens.reasoning, cost.failovers]]),
    '',
    '## Tiers',
    '',
    markdownTable(
      ['Tier', 'Cost', 'Model calls', 'Escalated', 'Escalation rate'],
      [
        ...tiers.map((tier) => [tier, usd(cost.byTier[tier]), escalations.byTier[tier].calls, escalations.byTier[tier].escalated, percent(escalations.byTier[tier].rate)]),
        ['human', '–', '–', `${escalations.jobsToHuman} job(s)`, percent(escalations.toHumanRate)],
      ],
    ),
    '',
    '## Approvals',
    '',
    markdownTable(['Approved', 'Rejected', 'Refused', 'Timeouts'], [[approvals.approved, approvals.rejected, approvals.refused, approvals.timeouts]]),
    '',
    '## Latency',
    '',
    markdownTable(
      ['Jobs', 'p50', 'p95', 'Mean', 'Max'],
      [[latency.job.count, ms(latency.job.p50Ms), ms(latency.job.p95Ms), ms(latency.job.meanMs), ms(latency.job.maxMs)]],
    ),
    '',
    latency.byStation.length
      ? markdownTable(['Station', 'Model calls', 'p50', 'p95'], latency.byStation.map((row) => [row.station, row.calls, ms(row.p50Ms), ms(row.p95Ms)]))
      : '(no model calls)',
    '',
  ].join('\n');
}

// ---- the command ---------------------------------------------------------------------------------

/** A bad flag: exit code 2 with a message naming it. */
export class ReportUsageError extends Error {
  override readonly name = 'ReportUsageError';
}

const formats = ['md', 'json', 'html'] as const;
type ReportFormat = (typeof formats)[number];

const usage =
  'usage: conveyor report [--since <ISO date | 30m | 24h | 7d | 2w>] [--type <jobType>] [--task-queue <queue>] [--format md|json|html] [--json] [--out <file>]\n' +
  '  --since defaults to 24h; --json is short for --format json; without --out the report goes to stdout.';

const durationUnitsMs: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `--since`: an ISO 8601 date (2026-03-01, 2026-03-01T12:00:00Z) or a duration back from `now` (90m, 24h, 7d, 2w). */
export function parseSince(text: string, now: Date = new Date()): Date {
  const duration = /^(\d+(?:\.\d+)?)([mhdw])$/.exec(text.trim());
  if (duration) return new Date(now.getTime() - Number(duration[1]) * durationUnitsMs[duration[2]!]!);
  const date = /^\d{4}-\d{2}-\d{2}/.test(text) ? new Date(text) : undefined;
  if (!date || Number.isNaN(date.getTime())) {
    throw new ReportUsageError(`--since must be an ISO date (2026-03-01 or 2026-03-01T12:00:00Z) or a duration like 30m, 24h, 7d, 2w, not "${text}"`);
  }
  if (date.getTime() > now.getTime()) throw new ReportUsageError(`--since ${text} is in the future`);
  return date;
}

interface ReportArguments {
  since: Date;
  type?: string;
  taskQueue?: string;
  format: ReportFormat;
  out?: string;
}

export function parseReportArguments(argv: string[], now: Date = new Date()): ReportArguments {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        since: { type: 'string' },
        type: { type: 'string' },
        'task-queue': { type: 'string' },
        format: { type: 'string' },
        json: { type: 'boolean' },
        out: { type: 'string' },
      },
      allowPositionals: false,
      strict: true,
    }));
  } catch (error) {
    throw new ReportUsageError((error as Error).message);
  }
  const text = (flag: string): string | undefined => {
    const value = values[flag];
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || !value.trim()) throw new ReportUsageError(`--${flag} needs a value`);
    return value.trim();
  };
  const format = text('format') ?? (values.json === true ? 'json' : 'md');
  if (!(formats as readonly string[]).includes(format)) throw new ReportUsageError(`--format must be md, json or html, not "${format}"`);
  if (values.json === true && format !== 'json') throw new ReportUsageError(`--json contradicts --format ${format}`);
  const type = text('type');
  if (type) {
    // The job types of the factory the CLI runs with (CONVEYOR_FACTORY, else the built-in one).
    const factory = factoryFromSettings(loadSettings());
    if (!factory.jobTypes.has(type)) throw new ReportUsageError(`--type: Unknown job type "${type}"; known: ${[...factory.jobTypes.keys()].join(', ')}`);
  }
  const taskQueue = text('task-queue');
  if (taskQueue) queryValue(taskQueue, '--task-queue');
  return { since: parseSince(text('since') ?? '24h', now), type, taskQueue, format: format as ReportFormat, out: text('out') };
}

export function renderReport(report: ConveyorReport, format: ReportFormat): string {
  if (format === 'json') return JSON.stringify(report, null, 2);
  if (format === 'html') return renderReportHtml(report);
  return renderReportMarkdown(report);
}

/** `conveyor report …`: 0 on success, 2 for a bad flag (the message names it); connection failures reject. */
export async function reportCommand(argv: string[], io: { stdout(s: string): void; stderr(s: string): void }): Promise<number> {
  let parsed: ReportArguments;
  try {
    parsed = parseReportArguments(argv);
  } catch (error) {
    if (error instanceof ReportUsageError) {
      io.stderr(`conveyor report: ${error.message}\n${usage}`);
      return 2;
    }
    throw error;
  }
  const client = await ConveyorClient.connect();
  let report: ConveyorReport;
  try {
    report = await collectReport(client, parsed);
  } finally {
    await client.close();
  }
  const rendered = renderReport(report, parsed.format);
  if (parsed.out) {
    const outPath = path.resolve(parsed.out);
    fs.mkdirSync(path.dirname(outPath), { recursive: true });
    fs.writeFileSync(outPath, rendered.endsWith('\n') ? rendered : `${rendered}\n`);
    io.stdout(`wrote ${outPath} (${report.jobs.total} jobs since ${report.filter.since})`);
  } else {
    io.stdout(rendered);
  }
  return 0;
}

if (require.main === module) runAsScript(reportCommand);
