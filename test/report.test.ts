/**
 * `conveyor report` against real jobs on the suite's server: a handful of jobs that complete, escalate
 * to a person, get approved, rejected, time out, fail and wait, on a task queue of their own; the
 * report's numbers must equal what those jobs' results say. Then the CLI's JSON and HTML output, bad
 * flags, and the HTML charts rendered in headless Chromium.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { ConveyorClient, JobRequest, JobResult } from '../client';
import { buildReport, collectReport, parseSince, renderReport, reportCommand, type ConveyorReport } from '../cli/report';
import { tiers } from '../domain/models';
import { decideSignal } from '../workflows/messages';
import { bundleConveyorWorkflows } from '../workers/worker';
import { launchBrowser } from './support/browser';
import { eventually, startWorker, testClient, testSettings, uniqueId, waitForPending, type RunningWorker } from './support/temporal';
import { chromiumMissing } from './support/prerequisites';

const outputDir = path.resolve('test-output');

let bundle: WorkflowBundleWithSourceMap;
let worker: RunningWorker;
let client: ConveyorClient;
let taskQueue: string;
let since: Date;
/** Results of the jobs that closed with one, and the ids of the one that failed and the one left waiting. */
let results: JobResult[];
let failedJobId: string;
let waitingJobId: string;

async function approveOnly(jobId: string, reviewer: string) {
  const [approval] = await waitForPending(client, jobId);
  await client.decide(jobId, { approvalId: approval!.approvalId, decision: 'approve', reviewer });
}

beforeAll(async () => {
  bundle = await bundleConveyorWorkflows();
  taskQueue = uniqueId('report');
  const settings = testSettings(taskQueue);
  worker = await startWorker({ settings, bundle });
  client = await testClient(settings);
  since = new Date(Date.now() - 1000);

  const job = (prefix: string, request: Omit<JobRequest, 'id'>) => ({ id: uniqueId(prefix), ...request });
  const triage = job('report-triage', { type: 'triage', input: { text: 'Where is my order #A10001? It has not arrived yet.' } });
  // No model can reach a confidence of 1, so the step climbs every tier and ends with a person.
  const toHuman = job('report-human', { type: 'triage', policy: { confidenceThresholds: { 'classify-intent': 1 } }, input: { text: 'my card got eaten' } });
  const callReview = job('report-call', {
    type: 'call-review',
    input: {
      accountName: 'Acme Freight',
      transcript:
        'Rep: Thanks for joining. Customer (Jo, Acme Freight): Our dispatch team loses about ten hours a week re-keying orders from email. Our budget is around $40,000 this year. Next step: send us a proposal by Friday.',
    },
  });
  const approved = job('report-approved', { type: 'support-ticket', input: { text: 'I want a full refund of $849.00 for the laptop from order #F90001. It stopped working after two days.' } });
  const rejected = job('report-rejected', { type: 'support-ticket', input: { text: 'Refund $500.00 for order #Z10001 now, the sofa is broken.' } });
  const timedOut = job('report-timeout', { type: 'support-ticket', policy: { approvalTimeoutMs: 1500 }, input: { text: 'Refund $900.00 for order #W40004 please.' } });
  const failing = job('report-failed', { type: 'triage', policy: { budgetUsd: 0.000001, overBudget: 'fail' }, input: { text: 'Where is order #V50005?' } });
  const waiting = job('report-waiting', { type: 'support-ticket', input: { text: 'Please refund $320.00 for order #Y20002, the headphones never arrived.' } });
  failedJobId = failing.id;
  waitingJobId = waiting.id;
  for (const request of [triage, toHuman, callReview, approved, rejected, timedOut, failing, waiting]) await client.startJob(request);

  await Promise.all([
    approveOnly(toHuman.id, 'alice'),
    (async () => {
      const [approval] = await waitForPending(client, approved.id);
      // A reviewer outside the policy signals first: the workflow records the refusal.
      await client.jobHandle(approved.id).signal(decideSignal, { approvalId: approval!.approvalId, decision: 'approve', reviewer: 'mallory' });
      await client.decide(approved.id, { approvalId: approval!.approvalId, decision: 'approve', reviewer: 'bob' });
    })(),
    (async () => {
      const [approval] = await waitForPending(client, rejected.id);
      await client.decide(rejected.id, { approvalId: approval!.approvalId, decision: 'reject', reviewer: 'carol', comment: 'no evidence' });
    })(),
  ]);
  results = await Promise.all([triage, toHuman, callReview, approved, rejected, timedOut].map((request) => client.getResult(request.id)));
  await client.getResult(failing.id).catch(() => undefined);
  await waitForPending(client, waiting.id);
}, 240_000);

afterAll(async () => {
  await client?.jobHandle(waitingJobId).terminate('report test finished').catch(() => undefined);
  await client?.close();
  await worker?.stop();
});

/** Waits until visibility has caught up with every job this file started. */
async function settledReport(): Promise<ConveyorReport> {
  return eventually(async () => {
    const report = await collectReport(client, { since, taskQueue });
    return report.jobs.total === results.length + 2 && report.jobs.awaitingApproval === 1 && report.jobs.failed === 1 ? report : undefined;
  }, 30_000);
}

describe('collectReport on real jobs', () => {
  it('counts jobs by status as the results say', async () => {
    const report = await settledReport();
    const byStatus = (status: string) => results.filter((result) => result.status === status).length;
    expect(byStatus('completed')).toBe(4);
    expect(byStatus('rejected')).toBe(2);
    expect(report.jobs).toEqual({
      total: 8,
      completed: byStatus('completed'),
      rejected: byStatus('rejected'),
      failed: 1,
      running: 0,
      awaitingApproval: 1,
      completionRate: byStatus('completed') / 7,
    });
    expect((await client.getStatus(failedJobId)).status).toBe('failed');
  });

  it('totals cost as the sum of the results, per job and per tier', async () => {
    const report = await settledReport();
    const costs = results.map((result) => result.costUsd);
    const total = costs.reduce((sum, cost) => sum + cost, 0);
    expect(total).toBeGreaterThan(0);
    expect(report.cost.totalUsd).toBeCloseTo(total, 8);
    expect(report.cost.jobsCosted).toBe(results.length);
    expect(report.cost.perJob.meanUsd).toBeCloseTo(total / results.length, 8);
    expect(report.cost.perJob.maxUsd).toBe(Math.max(...costs));
    expect(costs).toContain(report.cost.perJob.p50Usd);
    expect(report.cost.perJob.p95Usd).toBe(Math.max(...costs)); // nearest rank over six jobs
    for (const tier of tiers) {
      const tierCost = results.flatMap((result) => result.ledger).filter((entry) => entry.tier === tier).reduce((sum, entry) => sum + entry.costUsd, 0);
      expect(tierCost, tier).toBeGreaterThan(0); // call-review and the escalating triage touch every tier
      expect(report.cost.byTier[tier], tier).toBeCloseTo(tierCost, 8);
    }
    expect(report.cost.outsideLedgerUsd).toBeCloseTo(0, 8); // recipes only: no planner spend
  });

  it('counts escalations per tier from the ledgers and jobs that reached a person', async () => {
    const report = await settledReport();
    const ledger = results.flatMap((result) => result.ledger);
    for (const tier of tiers) {
      const calls = ledger.filter((entry) => entry.tier === tier);
      const escalated = calls.filter((entry) => entry.outcome === 'escalated').length;
      expect(escalated, tier).toBeGreaterThanOrEqual(1);
      expect(report.escalations.byTier[tier]).toEqual({ calls: calls.length, escalated, rate: escalated / calls.length });
    }
    expect(report.escalations.total).toBe(results.reduce((sum, result) => sum + result.escalations, 0));
    expect(report.escalations.jobsToHuman).toBe(1);
    expect(report.escalations.toHumanRate).toBeCloseTo(1 / results.length, 10);
  });

  it('counts approval decisions: approved, rejected, refused and timeouts', async () => {
    const report = await settledReport();
    // The person-reviewed triage step and the refund by bob; carol's rejection; mallory's refused signal;
    // the timed-out refund escalated once and then rejected.
    expect(report.approvals).toEqual({ approved: 2, rejected: 1, refused: 1, timeouts: 2 });
  });

  it('reports job wall time and per-station model latency', async () => {
    const report = await settledReport();
    const wallTimes = results.map((result) => Date.parse(result.finishedAt) - Date.parse(result.startedAt)).sort((a, b) => a - b);
    expect(report.latency.job.count).toBe(results.length);
    expect(report.latency.job.maxMs).toBe(wallTimes.at(-1));
    expect(wallTimes).toContain(report.latency.job.p50Ms);
    expect(report.latency.job.p50Ms).toBeLessThanOrEqual(report.latency.job.p95Ms);
    expect(report.latency.histogram.reduce((sum, bucket) => sum + bucket.count, 0)).toBe(results.length);
    expect(report.latency.histogram.at(-1)!.toMs).toBeGreaterThan(wallTimes.at(-1)!);
    const ledger = results.flatMap((result) => result.ledger);
    expect(report.latency.byStation.map((row) => row.station)).toEqual([...new Set(ledger.map((entry) => entry.station))].sort());
    for (const row of report.latency.byStation) {
      expect(row.calls, row.station).toBe(ledger.filter((entry) => entry.station === row.station).length);
    }
  });

  it('filters by job type', async () => {
    await settledReport();
    const report = await collectReport(client, { since, taskQueue, type: 'triage' });
    expect(report.filter).toMatchObject({ type: 'triage', taskQueue });
    expect(report.jobs).toMatchObject({ total: 3, completed: 2, failed: 1, rejected: 0, awaitingApproval: 0 });
    const triageCost = results.filter((result) => result.type === 'triage').reduce((sum, result) => sum + result.costUsd, 0);
    expect(report.cost.totalUsd).toBeCloseTo(triageCost, 8);
  });

  it('sees nothing from before --since', async () => {
    const report = await collectReport(client, { since: new Date(), taskQueue });
    expect(report.jobs.total).toBe(0);
    expect(report.cost.totalUsd).toBe(0);
    expect(report.latency.histogram).toEqual([]);
  });
});

describe('buildReport arithmetic', () => {
  it('handles no jobs without dividing by zero', () => {
    const figures = buildReport([], { running: 2, awaitingApproval: 0, failed: 0 });
    expect(figures.jobs).toMatchObject({ total: 2, running: 2, completionRate: null });
    expect(figures.escalations.byTier.small.rate).toBeNull();
    expect(figures.cost.perJob).toEqual({ meanUsd: 0, p50Usd: 0, p95Usd: 0, maxUsd: 0 });
  });

  it('counts a failure without a result against the completion rate', () => {
    const figures = buildReport([], { running: 0, awaitingApproval: 0, failed: 3 });
    expect(figures.jobs).toMatchObject({ total: 3, failed: 3, completionRate: 0 });
  });
});

describe('parseSince', () => {
  const now = new Date('2026-03-10T12:00:00Z');
  it('reads durations back from now and ISO dates', () => {
    expect(parseSince('24h', now).toISOString()).toBe('2026-03-09T12:00:00.000Z');
    expect(parseSince('7d', now).toISOString()).toBe('2026-03-03T12:00:00.000Z');
    expect(parseSince('90m', now).toISOString()).toBe('2026-03-10T10:30:00.000Z');
    expect(parseSince('2026-03-01T00:00:00Z', now).toISOString()).toBe('2026-03-01T00:00:00.000Z');
  });
  it('refuses words and the future', () => {
    expect(() => parseSince('yesterday', now)).toThrow(/--since must be an ISO date/);
    expect(() => parseSince('2026-04-01', now)).toThrow(/in the future/);
  });
});

describe('reportCommand', () => {
  const savedEnv = { ...process.env };
  const run = async (argv: string[]) => {
    const stdout: string[] = [];
    const stderr: string[] = [];
    const code = await reportCommand(argv, { stdout: (text) => stdout.push(text), stderr: (text) => stderr.push(text) });
    return { code, stdout: stdout.join('\n'), stderr: stderr.join('\n') };
  };

  beforeAll(() => {
    // The command connects the way the CLI does: from the environment.
    const settings = testSettings(taskQueue);
    process.env.TEMPORAL_ADDRESS = settings.address;
    process.env.TEMPORAL_NAMESPACE = settings.namespace;
  });
  afterAll(() => {
    process.env = savedEnv;
  });

  it('--format json prints the documented shape with the same numbers as collectReport', async () => {
    const expected = await settledReport();
    const { code, stdout, stderr } = await run(['--format', 'json', '--since', since.toISOString(), '--task-queue', taskQueue]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const printed = JSON.parse(stdout) as ConveyorReport;
    expect(Object.keys(printed).sort()).toEqual(['approvals', 'cost', 'escalations', 'filter', 'generatedAt', 'jobs', 'latency', 'schemaVersion']);
    expect(Object.keys(printed.jobs).sort()).toEqual(['awaitingApproval', 'completed', 'completionRate', 'failed', 'rejected', 'running', 'total']);
    expect(Object.keys(printed.cost).sort()).toEqual(['byTier', 'failovers', 'jobsCosted', 'outsideLedgerUsd', 'perJob', 'tokens', 'totalUsd']);
    expect(Object.keys(printed.cost.tokens).sort()).toEqual(['cachedInput', 'input', 'output', 'reasoning']);
    expect(Object.keys(printed.escalations).sort()).toEqual(['byTier', 'jobsToHuman', 'toHumanRate', 'total']);
    expect(Object.keys(printed.latency).sort()).toEqual(['byStation', 'histogram', 'job']);
    expect(printed.schemaVersion).toBe(1);
    expect({ ...printed, generatedAt: 'x' }).toEqual({ ...expected, generatedAt: 'x' });
  });

  it('--format md prints tables', async () => {
    await settledReport();
    const { code, stdout } = await run(['--since', since.toISOString(), '--task-queue', taskQueue]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^# Conveyor report/);
    expect(stdout).toMatch(/\| 8 \| 4 \| 2 \| 1 \| 0 \| 1 \| 57\.1% \|/);
  });

  it('--format html --out writes a self-contained page', async () => {
    await settledReport();
    const file = path.join(outputDir, 'report.html');
    fs.rmSync(file, { force: true });
    const { code, stdout } = await run(['--format', 'html', '--out', file, '--since', since.toISOString(), '--task-queue', taskQueue]);
    expect(code).toBe(0);
    expect(stdout).toContain(`wrote ${file}`);
    const html = fs.readFileSync(file, 'utf8');
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).not.toMatch(/<script|<link|<img|\bsrc=|\bhref=|@import|url\(/i);
    expect(html.match(/<svg data-chart="/g)).toHaveLength(3);
  });

  it.each([
    [['--bogus'], /--bogus/],
    [['--format', 'pdf'], /--format must be md, json or html, not "pdf"/],
    [['--since', 'last week'], /--since must be an ISO date/],
    [['--type', 'nope'], /--type: Unknown job type "nope"/],
    [['--since'], /--since/],
    [['--json', '--format', 'md'], /--json contradicts --format md/],
  ])('bad flags %j exit 2 with a message naming the flag', async (argv, message) => {
    const { code, stderr, stdout } = await run(argv);
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
    expect(stderr).toContain('usage: conveyor report');
    expect(stdout).toBe('');
  });
});

describe.skipIf(chromiumMissing())('the HTML report in headless Chromium', () => {
  it('draws every chart with bars sized by their values, and loads nothing else', async () => {
    const report = await settledReport();
    const file = path.join(outputDir, 'report.html');
    fs.mkdirSync(outputDir, { recursive: true });
    fs.writeFileSync(file, renderReport(report, 'html'));

    const browser = await launchBrowser({ viewport: { width: 1100, height: 1200 } });
    try {
      const page = await browser.context.newPage();
      const requested: string[] = [];
      page.on('request', (request) => requested.push(request.url()));
      await page.goto(`file://${file}`);
      await page.locator('svg[data-chart="latency-histogram"]').waitFor({ timeout: 30_000 });

      // Sizes as laid out by the browser, not as written in the markup.
      const barsOf = async (chart: string) => {
        const bars: { label: string; value: number; width: number; height: number }[] = [];
        for (const rect of await page.locator(`svg[data-chart="${chart}"] rect.bar`).all()) {
          const box = await rect.boundingBox();
          bars.push({ label: (await rect.getAttribute('data-label')) ?? '', value: Number(await rect.getAttribute('data-value')), width: box?.width ?? 0, height: box?.height ?? 0 });
        }
        return bars;
      };
      const cost = await barsOf('cost-by-tier');
      expect(cost.map((bar) => bar.label)).toEqual([...tiers]);
      expect(cost.map((bar) => bar.value)).toEqual(tiers.map((tier) => report.cost.byTier[tier]));
      const escalation = await barsOf('escalation-rate');
      expect(escalation.map((bar) => bar.value)).toEqual(tiers.map((tier) => report.escalations.byTier[tier].rate));
      const latency = await barsOf('latency-histogram');
      expect(latency.map((bar) => bar.value)).toEqual(report.latency.histogram.map((bucket) => bucket.count));

      for (const [chart, bars] of Object.entries({ cost, escalation, latency })) {
        const tallest = bars.reduce((best, bar) => (bar.value > best.value ? bar : best));
        expect(tallest.width, chart).toBeGreaterThan(0);
        expect(tallest.height, chart).toBeGreaterThan(50);
        for (const bar of bars) {
          expect(bar.height / tallest.height, `${chart} ${bar.label}`).toBeCloseTo(bar.value / tallest.value, 1);
        }
      }
      expect(requested).toEqual([`file://${file}`]);
      await page.screenshot({ path: path.join(outputDir, 'report.png'), fullPage: true });
    } finally {
      await browser.close();
    }
  });
});
