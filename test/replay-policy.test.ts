/**
 * Policy replay: recorded runs re-decided under a new policy from their records — cost and agreement
 * estimated, the steps that would need answers never recorded counted, and (with calls) exactly those
 * steps asked of the model the new policy would call, their input rebuilt from the job's history.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ConveyorClient } from '../client';
import type { JobResult } from '../domain/job';
import { supportFactory } from '../factories/support';
import { gatewayCallPort, replayPolicyCommand } from '../cli/replay-policy';
import { replayPolicy, replayPolicySchema, replayPolicyWithCalls } from '../learning/replay-policy';
import { createModelGateway } from '../providers/gateway';
import { bundleConveyorWorkflows } from '../workers/worker';
import { answers, startFakeOpenAI, type FakeServer } from '../fakes/openai-server';
import { registryWithFakeTiers, requestedModel } from './support/models';
import { startWorker, tempDir, testClient, testSettings, uniqueId, type RunningWorker } from './support/temporal';

const settings = testSettings(uniqueId('replay-policy'));
let fake: FakeServer;
let worker: RunningWorker;
let client: ConveyorClient;
const recorded: JobResult[] = [];
const tiersOfFake = ['small', 'medium', 'large'] as const;
const callsTo = (model: string) => fake.requests.filter((request) => requestedModel(request.body) === model);
const newGateway = () => createModelGateway({ registry: registryWithFakeTiers(fake.url, [...tiersOfFake]), cache: null, env: {} });

beforeAll(async () => {
  // small answers with confidence 0.6 (below the station's 0.7, so it escalates); medium with 0.95; large (never asked by the recorded runs) with 0.995
  fake = await startFakeOpenAI((request) =>
    requestedModel(request.body) === 'fake-small'
      ? answers.json({ intent: 'order_status', confidence: 0.6, alternatives: [] })
      : answers.json({ intent: 'refund_request', confidence: requestedModel(request.body) === 'fake-large' ? 0.995 : 0.95, alternatives: [] }),
  );
  worker = await startWorker({ settings, bundle: await bundleConveyorWorkflows(), gateway: { registry: registryWithFakeTiers(fake.url, [...tiersOfFake]) } });
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
    const report = replayPolicy(recorded, policy({}), supportFactory);
    expect(report).toMatchObject({ jobs: 2, steps: 2, unchanged: 2, decisionsChanged: 0, needNewModelCalls: 0, agreementOnChanged: null });
    expect(report.costAfterUsd).toBeCloseTo(report.costBeforeUsd, 12);
  });

  it('a lower threshold keeps the small answers: cheaper, and disagreeing with the recorded ones', () => {
    const report = replayPolicy(recorded, policy({ confidenceThresholds: { 'classify-intent': 0.5 } }), supportFactory);
    expect(report).toMatchObject({ decisionsChanged: 2, needNewModelCalls: 0, agreementOnChanged: 0 });
    const smallCost = recorded.reduce((sum, result) => sum + result.ledger[0]!.costUsd, 0);
    expect(report.costAfterUsd).toBeCloseTo(smallCost, 12);
    expect(report.costAfterUsd).toBeLessThan(report.costBeforeUsd);
  });

  it('a higher threshold needs the large tier, which was never asked: counted, not guessed', () => {
    const report = replayPolicy(recorded, policy({ confidenceThresholds: { 'classify-intent': 0.99 } }), supportFactory);
    expect(report).toMatchObject({ decisionsChanged: 2, needNewModelCalls: 2, needReview: 0 });
    const startAtLarge = replayPolicy(recorded, policy({ startTiers: { 'classify-intent': 'large' } }), supportFactory);
    expect(startAtLarge.needNewModelCalls).toBe(2);
    const tightBudget = replayPolicy(recorded, policy({ budgetUsd: 1e-9 }), supportFactory);
    expect(tightBudget.jobsOverBudget).toBe(2);
  });

  it('with calls, asks only the steps whose answer was never recorded, rebuilding their input from the job history', async () => {
    const gateway = newGateway();
    try {
      const before = { small: callsTo('fake-small').length, medium: callsTo('fake-medium').length, large: callsTo('fake-large').length };
      // A lower threshold is decided from the records alone: no call.
      const lower = await replayPolicyWithCalls(recorded, policy({ confidenceThresholds: { 'classify-intent': 0.5 } }), supportFactory, gatewayCallPort(client, gateway, supportFactory));
      expect(lower).toMatchObject({ needNewModelCalls: 0, newModelCalls: 0 });
      expect(callsTo('fake-large').length).toBe(before.large);

      const higher = await replayPolicyWithCalls(recorded, policy({ confidenceThresholds: { 'classify-intent': 0.99 } }), supportFactory, gatewayCallPort(client, gateway, supportFactory));
      expect(higher).toMatchObject({ needNewModelCalls: 2, newModelCalls: 2, answeredByNewCalls: 2, needReview: 0, agreementOnChanged: 1 });
      expect(higher.newModelCallCostUsd).toBeGreaterThan(0);
      expect(higher.costAfterUsd).toBeCloseTo(higher.costBeforeUsd + higher.newModelCallCostUsd, 12);
      for (const step of higher.details) expect(step).toMatchObject({ verdict: 'answered-by-new-call', neededTier: 'large', newCalls: [{ modelId: 'fake-large', tier: 'large', confidence: 0.995 }] });
      const largeCalls = callsTo('fake-large').slice(before.large);
      expect(largeCalls).toHaveLength(2);
      expect(JSON.stringify(largeCalls.map((call) => call.body))).toContain('I want my money back for #A1');
      expect({ small: callsTo('fake-small').length, medium: callsTo('fake-medium').length }).toEqual({ small: before.small, medium: before.medium });

      // Past the top tier a person would review; a call limit leaves the rest counted, and says so.
      const strict = await replayPolicyWithCalls(recorded, policy({ confidenceThresholds: { 'classify-intent': 0.999 } }), supportFactory, gatewayCallPort(client, gateway, supportFactory));
      expect(strict).toMatchObject({ needNewModelCalls: 2, newModelCalls: 2, answeredByNewCalls: 0, needReview: 2 });
      const capped = await replayPolicyWithCalls(recorded, policy({ confidenceThresholds: { 'classify-intent': 0.99 } }), supportFactory, gatewayCallPort(client, gateway, supportFactory), { maxCalls: 1 });
      expect(capped).toMatchObject({ newModelCalls: 1, answeredByNewCalls: 1 });
      expect(capped.details.find((step) => step.verdict === 'needs-new-call')?.newCallProblem).toBe('not asked: the limit of 1 new calls was reached');
    } finally {
      await gateway.close();
    }
  });

  it('the command reads recorded runs from Temporal and refuses a bad policy file', async () => {
    const dir = tempDir('replay-policy');
    const good = path.join(dir, 'policy.json');
    const bad = path.join(dir, 'bad.json');
    const high = path.join(dir, 'high.json');
    fs.writeFileSync(good, JSON.stringify({ confidenceThresholds: { 'classify-intent': 0.5 } }));
    fs.writeFileSync(high, JSON.stringify({ confidenceThresholds: { 'classify-intent': 0.99 } }));
    fs.writeFileSync(bad, JSON.stringify({ confidenceThresholds: { 'classify-intent': 2 } }));
    const saved = { address: process.env.TEMPORAL_ADDRESS };
    process.env.TEMPORAL_ADDRESS = inject('temporalAddress');
    const lines: string[] = [];
    const errors: string[] = [];
    try {
      expect(await replayPolicyCommand(['--policy', good, '--since', '1h', '--type', 'triage', '--task-queue', settings.taskQueue, '--json'], { stdout: (l) => lines.push(l), stderr: (l) => errors.push(l) })).toBe(0);
      const gateway = newGateway();
      try {
        const scope = ['--since', '1h', '--type', 'triage', '--task-queue', settings.taskQueue, '--json'];
        expect(await replayPolicyCommand(['--policy', high, ...scope], { stdout: (l) => lines.push(l), stderr: (l) => errors.push(l) }, { gateway })).toBe(0);
        expect(await replayPolicyCommand(['--policy', high, '--no-calls', ...scope], { stdout: (l) => lines.push(l), stderr: (l) => errors.push(l) }, { gateway })).toBe(0);
      } finally {
        await gateway.close();
      }
      expect(await replayPolicyCommand(['--policy', bad], { stdout: () => {}, stderr: (l) => errors.push(l) })).toBe(2);
      expect(await replayPolicyCommand([], { stdout: () => {}, stderr: (l) => errors.push(l) })).toBe(2);
      expect(await replayPolicyCommand(['--policy', good, '--max-calls', 'many'], { stdout: () => {}, stderr: (l) => errors.push(l) })).toBe(2);
    } finally {
      if (saved.address === undefined) delete process.env.TEMPORAL_ADDRESS;
      else process.env.TEMPORAL_ADDRESS = saved.address;
    }
    const report = JSON.parse(lines[0]!) as { jobs: number; needNewModelCalls: number; details: { jobId: string; verdict: string }[] };
    expect(report.jobs).toBe(2);
    for (const result of recorded) expect(report.details.find((step) => step.jobId === result.id)?.verdict).toBe('changed');
    const [withCalls, counted] = [JSON.parse(lines[1]!), JSON.parse(lines[2]!)] as { needNewModelCalls: number; newModelCalls: number; answeredByNewCalls: number }[];
    expect(withCalls).toMatchObject({ needNewModelCalls: 2, newModelCalls: 2, answeredByNewCalls: 2 });
    expect(counted).toMatchObject({ needNewModelCalls: 2, newModelCalls: 0, answeredByNewCalls: 0 });
    expect(errors[0]).toMatch(/confidenceThresholds\.classify-intent/);
    expect(errors[1]).toMatch(/missing --policy/);
    expect(errors[2]).toMatch(/--max-calls: "many" is not a whole number/);
  });
});
