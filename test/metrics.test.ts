/**
 * Operators' metrics (issue 21): two `conveyor worker` processes with CONVEYOR_METRICS_ADDRESS and a tiny
 * workflow cache (so jobs are evicted and replayed mid-batch), scraped by a real Prometheus during a
 * 200-job batch, the two sharing a Redis that counts each metric once across the fleet. Prometheus's
 * HTTP API must agree with the jobs' own ledgers: cost by tier within 1%, model calls, escalations and
 * finished jobs exactly (neither a replay nor a workflow task run again on the other worker counts
 * anything twice); the waiting gauge
 * equals `conveyor pending`; the GenAI metrics are there under the convention's names; every dashboard
 * panel's query returns data; the alert rules pass `promtool test rules`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConveyorClient, JobRecord } from '../index';
import { recordQuery } from '../workflow';
import { freePort } from '../platform/embedded-server';
import { startRedis } from '../fakes/redis-server';
import { cliEnvironment, conveyorBin, repoRoot, runProcess, startWorkerProcess } from './support/cli';
import { startPrometheus, type RunningPrometheus } from './support/prometheus';
import { eventually, testClient, testSettings, uniqueId } from './support/temporal';

const JOBS = 200;
const settings = testSettings(uniqueId('metrics'));
const alertRules = path.join(repoRoot, 'deploy', 'prometheus', 'conveyor-alerts.yml');
const dashboard = JSON.parse(fs.readFileSync(path.join(repoRoot, 'deploy', 'grafana', 'conveyor-dashboard.json'), 'utf8')) as {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: { id: number; type: string; title: string; gridPos: { h: number; w: number; x: number; y: number }; targets: { refId: string; expr: string }[] }[];
};
const cleanups: (() => Promise<unknown>)[] = [];
let prometheus: RunningPrometheus;
let client: ConveyorClient;
let targets: string[];
/** Jobs that wait for a person: the first test counts them, the second settles one. */
let waitingJobs: string[] = [];

beforeAll(async () => {
  targets = [`127.0.0.1:${await freePort()}`, `127.0.0.1:${await freePort()}`];
  const redis = await startRedis();
  cleanups.push(() => redis.stop());
  for (const target of targets) {
    const env = cliEnvironment(settings, { CONVEYOR_METRICS_ADDRESS: target, CONVEYOR_MAX_CACHED_WORKFLOWS: '3', CONVEYOR_METRICS_REDIS_URL: redis.url });
    const worker = await startWorkerProcess(conveyorBin, ['worker'], { cwd: repoRoot, env, readyLine: `metrics on http://${target}/metrics`, timeoutMs: 90_000 });
    cleanups.push(() => worker.stop());
  }
  prometheus = await startPrometheus(targets, { ruleFiles: [alertRules] });
  cleanups.push(() => prometheus.stop());
  client = await testClient(settings);
  cleanups.push(() => client.close());
}, 180_000);

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

const texts = [
  'Where is my package? Order #A1001 was due on Monday.',
  'Please cancel my order #A1002, I ordered the wrong size.',
  'I want a refund for order #A1003, the mug arrived broken.',
  'How do I change the email address on my account?',
  'My card was charged twice for order #A1005.',
  'Can you close my account please, I no longer need it.',
  'The app crashes every time I open my orders page.',
  'hmm not sure what happened with the thing',
];

describe('metrics scraped by a real Prometheus', () => {
  it('agree with the ledgers: cost by tier, calls, escalations and jobs; nothing counted twice through evictions and replays', async () => {
    // Jobs that wait for a person (a refund above the threshold) and jobs that act (a cancellation).
    const waiting = [0, 1, 2, 3].map((index) => ({ id: uniqueId(`metrics-refund-${index}`), type: 'support-ticket', input: { text: `I want a full refund of $849.00 for order #F9000${index}. It stopped working.` } }));
    const acting = [0, 1].map((index) => ({ id: uniqueId(`metrics-cancel-${index}`), type: 'support-ticket', input: { text: `Please cancel my order #C7000${index}` } }));
    for (const job of [...waiting, ...acting]) await client.startJob(job);
    waitingJobs = waiting.map((job) => job.id);
    const batchId = uniqueId('metrics-batch');
    const jobs = Array.from({ length: JOBS }, (_, index) => ({ id: `${batchId}-${index}`, type: 'triage', input: { text: `${texts[index % texts.length]!} (${index})` } }));
    await client.startBatch({ batchId, jobs, concurrency: 40 });
    const batch = await client.getBatchResult(batchId);
    expect(batch.completed).toBe(JOBS);
    for (const job of acting) expect((await client.getResult(job.id)).status).toBe('completed');
    await eventually(async () => ((await client.listPending()).length === waiting.length ? true : undefined), 60_000);

    // The ledgers: every finished job's result, and the live record of each waiting one.
    const records: JobRecord[] = [];
    for (const job of [...jobs, ...acting]) records.push(await client.getResult(job.id));
    for (const job of waiting) records.push(await client.jobHandle(job.id).query(recordQuery));
    const entries = records.flatMap((record) => record.ledger);
    const costByTier = new Map<string, number>();
    for (const entry of entries) costByTier.set(entry.tier, (costByTier.get(entry.tier) ?? 0) + entry.costUsd);
    const escalated = entries.filter((entry) => entry.outcome === 'escalated').length;
    expect(escalated).toBeGreaterThan(0);

    // Prometheus scrapes every second: wait until it has seen the last call, then every figure must agree.
    let scrapedCalls = 0;
    await eventually(async () => ((scrapedCalls = await prometheus.scalar('sum(conveyor_model_calls_total)')) === entries.length ? true : undefined), 30_000).catch(async (error: unknown) => {
      const byType = await prometheus.query('sum by (job_type, station) (conveyor_model_calls_total)');
      throw new Error(`prometheus counts ${scrapedCalls} model calls, the ledgers ${entries.length} (${JSON.stringify(byType.map((sample) => [sample.metric.job_type, sample.metric.station, sample.value]))}): ${String(error)}`);
    });
    const promCost = await prometheus.query('sum by (tier) (conveyor_model_cost_usd_sum)');
    const promEscalations = await prometheus.scalar('sum(conveyor_escalations_total)');
    const byCause = await prometheus.query('sum by (cause) (conveyor_escalations_total)');
    expect(byCause.map((sample) => sample.metric.cause).every((cause) => ['low-confidence', 'schema-violation', 'context-length', 'model-failure'].includes(cause!))).toBe(true);
    const promTriageEscalations = await prometheus.scalar('sum(conveyor_escalations_total{job_type="triage"})');
    const promCompleted = await prometheus.scalar('sum(conveyor_jobs_finished_total{job_type="triage", status="completed"})');
    const waitingGauge = await prometheus.scalar('max(conveyor_jobs_waiting{status="awaiting_approval"})');
    const pending = (await client.listPending()).length;
    const evictions = await prometheus.scalar('sum({__name__=~"temporal_sticky_cache_total_forced_eviction(_total)?"})');
    console.log(
      `metrics: ${records.length} jobs, ${entries.length} model calls, ${escalated} escalations, cost by tier ledger ${JSON.stringify(Object.fromEntries(costByTier))} ` +
        `prometheus ${JSON.stringify(Object.fromEntries(promCost.map((sample) => [sample.metric.tier, sample.value])))}; ${evictions} forced cache evictions; waiting gauge ${waitingGauge}, pending ${pending}`,
    );
    for (const [tier, cost] of costByTier) {
      const scraped = promCost.find((sample) => sample.metric.tier === tier)?.value ?? 0;
      expect(Math.abs(scraped - cost), `tier ${tier}: prometheus ${scraped}, ledger ${cost}`).toBeLessThanOrEqual(cost * 0.01 + 1e-12);
    }
    expect(promEscalations).toBe(escalated);
    expect(promTriageEscalations).toBe(batch.escalations);
    expect(promCompleted).toBe(batch.completed);
    expect(await prometheus.scalar('sum(conveyor_jobs_finished_total{job_type="support-ticket", status="completed"})')).toBe(acting.length);
    expect(await prometheus.scalar('sum(conveyor_action_attempts_total{outcome="executed"})')).toBe(acting.length);
    expect(evictions).toBeGreaterThan(0); // jobs were evicted and replayed, and still counted once
    expect(waitingGauge).toBe(pending);
    expect(pending).toBe(waiting.length);

    // The GenAI client metrics, as Prometheus exposes the convention's names and attributes.
    const tokens = await prometheus.query('sum by (gen_ai_token_type, gen_ai_operation_name, gen_ai_provider_name) (gen_ai_client_token_usage_count)');
    expect(tokens.map((sample) => sample.metric.gen_ai_token_type).sort()).toEqual(['input', 'output']);
    expect(tokens.every((sample) => sample.value === entries.length && sample.metric.gen_ai_operation_name === 'chat' && sample.metric.gen_ai_provider_name === 'local')).toBe(true);
    expect(await prometheus.scalar('sum(gen_ai_client_token_usage_sum{gen_ai_token_type="input"})')).toBe(entries.reduce((sum, entry) => sum + entry.inputTokens, 0));
    expect(await prometheus.scalar('sum(gen_ai_client_operation_duration_seconds_count)')).toBe(entries.length);
    expect((await prometheus.query('gen_ai_client_operation_duration_seconds_bucket')).length).toBeGreaterThan(0);
  }, 400_000);

  it('serves every dashboard panel with data, and the alert rules pass their promtool tests', async () => {
    // One approval settled, so the approval-wait panels have a sample.
    const [first] = waitingJobs;
    expect(first).toBeDefined();
    await client.decide(first!, { decision: 'approve', reviewer: 'alice' });
    expect((await client.getResult(first!)).status).toBe('completed');
    await eventually(async () => ((await prometheus.scalar('sum(conveyor_approval_wait_seconds_count{kind="action", decision="approve"})')) === 1 ? true : undefined), 30_000);
    await eventually(async () => ((await prometheus.scalar('max(conveyor_jobs_waiting{status="awaiting_approval"})')) === waitingJobs.length - 1 ? true : undefined), 30_000);
    expect(dashboard).toEqual(expect.objectContaining({ uid: 'conveyor-fleet', title: 'Conveyor fleet', schemaVersion: expect.any(Number) as unknown }));
    expect(dashboard.panels.length).toBeGreaterThanOrEqual(8);
    expect(new Set(dashboard.panels.map((panel) => panel.id)).size).toBe(dashboard.panels.length);
    const empty: string[] = [];
    for (const panel of dashboard.panels) {
      expect(panel.gridPos.w).toBeGreaterThan(0);
      expect(panel.targets.length).toBeGreaterThan(0);
      for (const target of panel.targets) if ((await prometheus.query(target.expr)).length === 0) empty.push(`${panel.title}: ${target.expr}`);
    }
    expect(empty).toEqual([]);
    // Prometheus loaded the alert rules (a syntax error would have stopped it); promtool runs their tests.
    const rules = (await (await fetch(`${prometheus.url}/api/v1/rules`)).json()) as { data: { groups: { rules: { name: string }[] }[] } };
    expect(rules.data.groups.flatMap((group) => group.rules.map((rule) => rule.name)).length).toBeGreaterThanOrEqual(5);
    const tested = await runProcess('promtool', ['test', 'rules', path.join(repoRoot, 'deploy', 'prometheus', 'conveyor-alerts.test.yml')], { timeoutMs: 60_000 });
    expect(tested.code, `${tested.stdout}${tested.stderr}`).toBe(0);
  }, 120_000);
});
