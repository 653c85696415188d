/**
 * The chaos suite's report: one table row per scenario (the same numbers for stdout, Markdown and JSON),
 * the definitions the numbers follow, and the verdict — a run passes only when no job was lost, no
 * action ran twice and no completed model step was paid twice.
 */
import fs from 'node:fs';
import path from 'node:path';
import { definitions } from './harness';
import type { ChaosSize, ChaosSuite, ScenarioRow } from './scenarios';

const columns: { title: string; value: (row: ScenarioRow) => string; shownWhen?: (rows: ScenarioRow[]) => boolean }[] = [
  { title: 'scenario', value: (row) => row.scenario },
  { title: 'submitted', value: (row) => String(row.submitted) },
  { title: 'completed', value: (row) => String(row.completed) },
  { title: 'rejected', value: (row) => String(row.rejected) },
  {
    title: 'failed (typed)',
    value: (row) => `${row.failedTyped}${row.failedTyped ? ` (${Object.entries(row.failureTypes).map(([type, count]) => `${type} ${count}`).join(', ')})` : ''}`,
  },
  { title: 'lost', value: (row) => String(row.lost) },
  { title: 'actions twice', value: (row) => String(row.duplicateActions) },
  { title: 'absorbed action retries', value: (row) => String(row.absorbedActionRetries) },
  { title: 'repeated paid calls', value: (row) => String(row.repeatedPaidCalls) },
  { title: 'answers lost with a killed worker', value: (row) => String(row.answersLostWithWorker) },
  {
    title: 'answers lost with the database',
    value: (row) => (row.answersLostWithDatabase === undefined ? '–' : String(row.answersLostWithDatabase)),
    shownWhen: (rows) => rows.some((row) => row.answersLostWithDatabase !== undefined),
  },
  { title: 'provider calls (paid)', value: (row) => `${row.providerCalls} (${row.paidCalls})` },
  { title: 'cache-hit steps', value: (row) => String(row.cacheHitSteps) },
  { title: 'cache errors', value: (row) => String(row.cache.cacheErrors) },
  { title: 'duration', value: (row) => `${(row.durationMs / 1000).toFixed(0)} s` },
];

export function verdictOf(rows: ScenarioRow[]): { passed: boolean; problems: string[] } {
  const problems = rows.flatMap((row) => [
    ...(row.lost > 0 ? [`${row.scenario}: ${row.lost} job(s) lost`] : []),
    ...(row.duplicateActions > 0 ? [`${row.scenario}: ${row.duplicateActions} action(s) executed more than once`] : []),
    ...(row.repeatedPaidCalls > 0 ? [`${row.scenario}: ${row.repeatedPaidCalls} repeated paid call(s)`] : []),
  ]);
  return { passed: problems.length === 0, problems };
}

export function renderTable(rows: ScenarioRow[]): string {
  const shown = columns.filter((column) => column.shownWhen?.(rows) ?? true);
  const header = `| ${shown.map((column) => column.title).join(' | ')} |`;
  const rule = `| ${shown.map(() => '---').join(' | ')} |`;
  return [header, rule, ...rows.map((row) => `| ${shown.map((column) => column.value(row)).join(' | ')} |`)].join('\n');
}

function renderDetails(rows: ScenarioRow[]): string {
  return rows
    .map((row) =>
      [
        `- **${row.scenario}** — ${row.description}.`,
        ...row.events.map((event) => `  - event: ${event}`),
        ...row.notes.map((note) => `  - ${note}`),
        `  - batch workflow's own totals: ${row.batch ? `completed ${row.batch.completed}, failed ${row.batch.failed}, rejected ${row.batch.rejected}, duplicates ${row.batch.duplicates}` : 'no result'}`,
        ...(row.dataDir ? [`  - logs kept in ${row.dataDir}`] : []),
      ].join('\n'),
    )
    .join('\n');
}

export function renderDefinitions(): string {
  return [
    `- **lost** = ${definitions.lost}.`,
    `- **actions twice** = ${definitions.duplicateActions}. **absorbed action retries**: executeAction attempts that found their row already written (firstExecution false) — a retry the idempotency key made harmless.`,
    `- **repeated paid calls** = ${definitions.repeatedPaidCalls}.`,
    `- **answers lost with a killed worker** = ${definitions.answersLostWithWorker}.`,
    `- **answers lost with the database** = ${definitions.answersLostWithDatabase}.`,
    '- **cache errors**: the workers\' gateway counter of cache operations that failed or timed out (the calls went on uncached).',
  ].join('\n');
}

const setups: Record<ChaosSuite, string> = {
  embedded: 'Each scenario: its own embedded Temporal server, support-ticket jobs whose small and medium tiers are a fake OpenAI-protocol server.',
  cluster:
    "Each scenario: its own cluster (platform/cluster.ts: the Temporal Server, not the dev server, on PostgreSQL 15: the cluster's fast mode, no fsync, except in cluster-postgres-sigkill, which keeps PostgreSQL's durable defaults), two worker processes each with a data dir of its own and nothing shared but CONVEYOR_DATABASE_URL (action receipts, model cache, claims, rate limits and the learning registry in PostgreSQL; the accounting reads the receipts there), support-ticket jobs whose small and medium tiers are a fake OpenAI-protocol server.",
};

/** The results' file name: the size for the embedded suite (small, full), cluster or cluster-<size> for the cluster suite. */
export function resultsName(suite: ChaosSuite, size: ChaosSize): string {
  if (suite === 'embedded') return size;
  return size === 'small' ? 'cluster' : `cluster-${size}`;
}

export function renderMarkdown(size: ChaosSize, rows: ScenarioRow[], startedAt: string, suite: ChaosSuite = 'embedded'): string {
  const verdict = verdictOf(rows);
  return [
    `# Chaos suite — ${suite === 'cluster' ? `cluster, ${size}` : size}`,
    '',
    `Run ${startedAt} on ${process.platform}/${process.arch}, Node ${process.version}. ${setups[suite]}`,
    '',
    renderTable(rows),
    '',
    `Verdict: ${verdict.passed ? 'PASS — nothing lost, no action twice, no completed step paid twice' : `FAIL — ${verdict.problems.join('; ')}`}.`,
    '',
    '## What happened',
    '',
    renderDetails(rows),
    '',
    '## Definitions',
    '',
    renderDefinitions(),
    '',
  ].join('\n');
}

export function writeResults(dir: string, size: ChaosSize, rows: ScenarioRow[], startedAt: string, suite: ChaosSuite = 'embedded'): { json: string; markdown: string } {
  fs.mkdirSync(dir, { recursive: true });
  const json = path.join(dir, `${resultsName(suite, size)}.json`);
  const markdown = path.join(dir, `${resultsName(suite, size)}.md`);
  fs.writeFileSync(json, `${JSON.stringify({ ...(suite === 'embedded' ? {} : { suite }), size, startedAt, verdict: verdictOf(rows), definitions, rows }, null, 2)}\n`);
  fs.writeFileSync(markdown, renderMarkdown(size, rows, startedAt, suite));
  return { json, markdown };
}
