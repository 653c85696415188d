/**
 * Policy replay: recorded runs re-decided under a new policy, from their records alone — cost and
 * agreement estimated, and the steps that would need answers never recorded counted.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ConveyorClient } from '../client';
import type { JobResult } from '../domain/job';
import { replayPolicyCommand } from '../cli/replay-policy';
import { replayPolicy, replayPolicySchema } from '../learning/replay-policy';
import { bundleConveyorWorkflows } from '../workers/worker';
import { answers, startFakeOpenAI, type FakeServer } from './fakes/openai-server';
import { registryWithFakeTiers, requestedModel } from './support/models';
import { startWorker, tempDir, testClient, testSettings, uniqueId, type RunningWorker } from './support/temporal';

const settings = testSettings(uniqueId('replay-policy'));
let fake: FakeServer;
let worker: RunningWorker;
let client: ConveyorClient;
const recorded: JobResult[] = [];

beforeAll(async () => {
  // small answers with confidence 0.6 (below the station's 0.7, so it escalates); medium with 0.95
  fake = await startFakeOpenAI((request) =>
    requestedModel(request.body) === 'fake-small'
      ? answers.json({ intent: 'order_status', confidence: 0.6, alternatives: [] })
      : answers.json({ intent: 'refund_request', confidence: 0.95, alternatives: [] }),
  );
  worker = await startWorker({ settings, bundle: await bundleConveyorWorkflows(), gateway: { registry: registryWithFakeTiers(fake.url, ['small', 'medium']) } });
  client = await testClient(settings);
  for (const text of ['I want my money back for #A1', 'refund please, order #A2']) {
    const jobId = uniqueId('recorded');
    await client.startJob({ id: jobId, type: 'triage', input: { text } });
    recorded.push(await client.getResult(jobId));
  }
});

afterAll(async () => {
  await client?.close();
  await worker?.stop();
  await fake?.close();
});

const policy = (raw: unknown) => replayPolicySchema.parse(raw);

describe('replay-policy', () => {
  it('the recorded runs escalated from small to medium and kept both answers', () => {
    for (const result of recorded) {
      expect(result.ledger.map((entry) => [entry.tier, entry.outcome, entry.confidence])).toEqual([
        ['small', 'escalated', 0.6],
        ['medium', 'accepted', 0.95],
      ]);
      expect(result.ledger[0]!.output).toEqual({ intent: 'order_status', confidence: 0.6, alternatives: [] });
    }
  });

  it('the same policy changes nothing', () => {
    const report = replayPolicy(recorded, policy({}));
    expect(report).toMatchObject({ jobs: 2, steps: 2, unchanged: 2, decisionsChanged: 0, needNewModelCalls: 0, agreementOnChanged: null });
    expect(report.costAfterUsd).toBeCloseTo(report.costBeforeUsd, 12);
  });

  it('a lower threshold keeps the small answers: cheaper, and disagreeing with the recorded ones', () => {
    const report = replayPolicy(recorded, policy({ confidenceThresholds: { 'classify-intent': 0.5 } }));
    expect(report).toMatchObject({ decisionsChanged: 2, needNewModelCalls: 0, agreementOnChanged: 0 });
    const smallCost = recorded.reduce((sum, result) => sum + result.ledger[0]!.costUsd, 0);
    expect(report.costAfterUsd).toBeCloseTo(smallCost, 12);
    expect(report.costAfterUsd).toBeLessThan(report.costBeforeUsd);
  });

  it('a higher threshold needs the large tier, which was never asked: counted, not guessed', () => {
    const report = replayPolicy(recorded, policy({ confidenceThresholds: { 'classify-intent': 0.99 } }));
    expect(report).toMatchObject({ decisionsChanged: 2, needNewModelCalls: 2, needReview: 0 });
    const startAtLarge = replayPolicy(recorded, policy({ startTiers: { 'classify-intent': 'large' } }));
    expect(startAtLarge.needNewModelCalls).toBe(2);
    const tightBudget = replayPolicy(recorded, policy({ budgetUsd: 1e-9 }));
    expect(tightBudget.jobsOverBudget).toBe(2);
  });

  it('the command reads recorded runs from Temporal and refuses a bad policy file', async () => {
    const dir = tempDir('replay-policy');
    const good = path.join(dir, 'policy.json');
    const bad = path.join(dir, 'bad.json');
    fs.writeFileSync(good, JSON.stringify({ confidenceThresholds: { 'classify-intent': 0.5 } }));
    fs.writeFileSync(bad, JSON.stringify({ confidenceThresholds: { 'classify-intent': 2 } }));
    const saved = { address: process.env.TEMPORAL_ADDRESS };
    process.env.TEMPORAL_ADDRESS = inject('temporalAddress');
    const lines: string[] = [];
    const errors: string[] = [];
    try {
      expect(await replayPolicyCommand(['--policy', good, '--since', '1h', '--type', 'triage', '--task-queue', settings.taskQueue, '--json'], { stdout: (l) => lines.push(l), stderr: (l) => errors.push(l) })).toBe(0);
      expect(await replayPolicyCommand(['--policy', bad], { stdout: () => {}, stderr: (l) => errors.push(l) })).toBe(2);
      expect(await replayPolicyCommand([], { stdout: () => {}, stderr: (l) => errors.push(l) })).toBe(2);
    } finally {
      if (saved.address === undefined) delete process.env.TEMPORAL_ADDRESS;
      else process.env.TEMPORAL_ADDRESS = saved.address;
    }
    const report = JSON.parse(lines[0]!) as { jobs: number; needNewModelCalls: number; details: { jobId: string; verdict: string }[] };
    expect(report.jobs).toBe(2);
    for (const result of recorded) expect(report.details.find((step) => step.jobId === result.id)?.verdict).toBe('changed');
    expect(errors[0]).toMatch(/confidenceThresholds\.classify-intent/);
    expect(errors[1]).toMatch(/missing --policy/);
  });
});
