/**
 * Routing with remote models, on a real Temporal server with local servers speaking the OpenAI protocol:
 * a remote classification's confidence comes from its token log-probabilities (a low one escalates, a
 * high one does not, and the ledger names the scorer); cached-input and reasoning tokens are billed at
 * their own prices; a learned router from the learning registry picks a step's starting tier, in the
 * ledger and the decisions with its reason; and a tier of two models fails over from one that answers
 * 503 to the other, cooling the first down (its calls stop, counted at its server) until it recovers.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { ConveyorClient } from '../client';
import type { ModelSpec, Tier } from '../domain/models';
import { costUsd } from '../domain/models';
import { answers, startFakeOpenAI, type FakeAnswer, type FakeServer } from '../fakes/openai-server';
import { promptsOf } from '../fakes/station-answers';
import { replayPolicyCommand } from '../cli/replay-policy';
import { routerCommand } from '../cli/router';
import type { PolicyReplayReport } from '../learning/replay-policy';
import { loadRouter, trainAndRegisterRouter } from '../learning/router';
import { loadScorer, registerScorer, trainScorer } from '../learning/scorer';
import { scorerCommand } from '../cli/scorer';
import { createRegistry } from '../providers/registry';
import { bundleConveyorWorkflows } from '../workers/worker';
import { routingFactory } from './fixtures/factories/routing';
import { fakeModel } from './support/models';
import { eventually, recordHistory, startWorker, testSettings, uniqueId, waitForPending, type RunningWorker } from './support/temporal';

/** A model on one of the test's servers (several per tier, so each needs its own id). */
const remote = (id: string, tier: Tier, server: FakeServer, extra: Partial<ModelSpec> = {}): ModelSpec => ({ ...fakeModel(tier, server.url), id, providerModel: id, ...extra });

let bundle: WorkflowBundleWithSourceMap;
const factory = routingFactory();
beforeAll(async () => {
  bundle = await bundleConveyorWorkflows();
}, 120_000);

const tokens = { inputTokens: 1000, cachedInputTokens: 600, outputTokens: 500, reasoningTokens: 300 };
const pricedSmall = { inputPricePerMTokUsd: 2, cachedInputPricePerMTokUsd: 0.5, outputPricePerMTokUsd: 8, reasoningPricePerMTokUsd: 12 };

describe('remote models on one worker', () => {
  let small: FakeServer;
  let large: FakeServer;
  let worker: RunningWorker;
  let client: ConveyorClient;
  let dataDir: string;
  let taskQueue: string;

  beforeAll(async () => {
    small = await startFakeOpenAI((request): FakeAnswer => {
      const { user } = promptsOf(request);
      if (user.includes('UNSURE')) return answers.jsonWithLogprobs({ category: 'billing' }, 'category', 0.3);
      if (user.includes('AGREE')) return answers.jsonWithLogprobs({ category: 'legal' }, 'category', 0.3);
      if (user.includes('TOKENS')) return answers.json({ category: 'billing' }, tokens);
      return answers.jsonWithLogprobs({ category: 'technical' }, 'category', 0.96);
    });
    large = await startFakeOpenAI((request) => answers.jsonWithLogprobs({ category: promptsOf(request).user.includes('refund') ? 'billing' : 'legal' }, 'category', 0.97));
    const settings = testSettings(uniqueId('routing-live'));
    dataDir = settings.dataDir;
    taskQueue = settings.taskQueue;
    const registry = createRegistry([remote('lp-small', 'small', small, pricedSmall), remote('lp-large', 'large', large)], 'routing test');
    worker = await startWorker({ settings, bundle, factory, gateway: { registry } });
    client = await ConveyorClient.connect({ settings, factory });
  }, 120_000);

  afterAll(async () => {
    await client?.close();
    await worker?.stop();
    await small?.close();
    await large?.close();
  });

  it('a low-probability remote classification escalates, a high-probability one does not, and the ledger names the scorer', async () => {
    const sure = uniqueId('sure');
    const unsure = uniqueId('unsure');
    await client.startJob({ id: sure, type: 'classify', input: { text: `my router will not connect ${sure}` } });
    await client.startJob({ id: unsure, type: 'classify', input: { text: `UNSURE a charge I do not know ${unsure}` } });
    const [sureResult, unsureResult] = await Promise.all([client.getResult(sure), client.getResult(unsure)]);

    expect(sureResult.status).toBe('completed');
    expect(sureResult.ledger.map((entry) => [entry.modelId, entry.outcome, entry.scorer])).toEqual([['lp-small', 'accepted', 'model:logprobs']]);
    expect(sureResult.ledger[0]!.confidence).toBeCloseTo(0.96, 6);

    expect(unsureResult.status).toBe('completed');
    expect(unsureResult.ledger.map((entry) => [entry.modelId, entry.tier, entry.outcome, entry.scorer])).toEqual([
      ['lp-small', 'small', 'escalated', 'model:logprobs'],
      ['lp-large', 'large', 'accepted', 'model:logprobs'],
    ]);
    expect(unsureResult.ledger[0]!.confidence).toBeCloseTo(0.3, 6);
    expect(unsureResult.ledger[0]!.escalationReason).toBe('confidence 0.30 below 0.7');
    expect(unsureResult.outputs.classify).toEqual({ category: 'legal' });
    await recordHistory(client, unsure, 'logprobs-escalated');
    // The provider was asked for log-probabilities: it is in what went on the wire.
    expect(small.requests.every((request) => (request.body as { logprobs?: boolean }).logprobs === true)).toBe(true);
  });

  it('cached-input and reasoning tokens are recorded and billed at their own prices', async () => {
    const jobId = uniqueId('tokens');
    await client.startJob({ id: jobId, type: 'classify', input: { text: `TOKENS please ${jobId}` } });
    const result = await client.getResult(jobId);
    expect(result.status).toBe('completed');
    const [entry] = result.ledger;
    expect({ input: entry!.inputTokens, cached: entry!.cachedInputTokens, output: entry!.outputTokens, reasoning: entry!.reasoningTokens }).toEqual({ input: 1000, cached: 600, output: 500, reasoning: 300 });
    // 400 uncached × $2 + 600 cached × $0.5 + 200 plain output × $8 + 300 reasoning × $12, per million tokens.
    const expected = (400 * 2 + 600 * 0.5 + 200 * 8 + 300 * 12) / 1_000_000;
    expect(expected).toBeCloseTo(0.0063, 12);
    expect(entry!.costUsd).toBeCloseTo(expected, 12);
    expect(costUsd(pricedSmall, tokens)).toBeCloseTo(expected, 12);
    expect(result.costUsd).toBeCloseTo(expected, 9);
    // At the plain prices it would have cost more: the bill and the ledger would drift apart.
    expect(costUsd({ inputPricePerMTokUsd: 2, outputPricePerMTokUsd: 8 }, tokens)).toBeCloseTo(0.006, 12);
  });

  it('a learned router picks the starting tier: its choice and reason are in the ledger and the decisions', async () => {
    const examples = [
      ...Array.from({ length: 40 }, (_, index) => ({ text: `contract dispute lawsuit clause ${index} liability counsel`, defaultSuffices: false })),
      ...Array.from({ length: 40 }, (_, index) => ({ text: `password reset login ${index} wifi printer`, defaultSuffices: true })),
    ];
    const router = await trainAndRegisterRouter({ id: 'requests', examples, targetLargeShare: 0.5, by: 'routing test', dataDir, notes: { origin: 'synthetic test examples' } });
    const hard = uniqueId('hard');
    const easy = uniqueId('easy');
    await client.startJob({ id: hard, type: 'classify-routed', input: { text: `a contract dispute about a liability clause, my counsel says lawsuit ${hard}` } });
    await client.startJob({ id: easy, type: 'classify-routed', input: { text: `password reset for my login on the wifi printer ${easy}` } });
    const [hardResult, easyResult] = await Promise.all([client.getResult(hard), client.getResult(easy)]);

    expect(hardResult.ledger.map((entry) => [entry.tier, entry.modelId, entry.outcome])).toEqual([['large', 'lp-large', 'accepted']]);
    expect(hardResult.ledger[0]!.routedBy).toEqual({ router: `requests@${router.version}`, probability: expect.any(Number) as unknown, threshold: router.threshold, tier: 'large' });
    expect(hardResult.ledger[0]!.routedBy!.probability).toBeLessThan(router.threshold);
    const hardDecision = hardResult.decisions.find((decision) => decision.kind === 'router');
    expect(hardDecision).toMatchObject({ stepId: 'classify', tier: 'large' });
    expect(hardDecision!.reason).toContain(`requests@${router.version}`);
    expect(hardResult.decisions.find((decision) => decision.kind === 'route')!.reason).toContain(hardDecision!.reason);
    await recordHistory(client, hard, 'router-started-large');

    expect(easyResult.ledger.map((entry) => [entry.tier, entry.modelId])).toEqual([['small', 'lp-small']]);
    expect(easyResult.ledger[0]!.routedBy).toMatchObject({ router: `requests@${router.version}`, tier: 'small' });
    expect(easyResult.ledger[0]!.routedBy!.probability).toBeGreaterThanOrEqual(router.threshold);
  });

  it('replay-policy evaluates the router on recorded runs, and router train learns one from them', async () => {
    const env = { TEMPORAL_ADDRESS: inject('temporalAddress'), TEMPORAL_NAMESPACE: inject('temporalNamespace'), CONVEYOR_DATA_DIR: dataDir };
    const saved = { address: process.env.TEMPORAL_ADDRESS, namespace: process.env.TEMPORAL_NAMESPACE };
    Object.assign(process.env, { TEMPORAL_ADDRESS: env.TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE: env.TEMPORAL_NAMESPACE });
    try {
      // More recorded runs for router train: half of them escalate from the default tier.
      const more = Array.from({ length: 12 }, (_, index) => ({ id: uniqueId(`record-${index}`), unsure: index % 2 === 0 }));
      await Promise.all(more.map(({ id, unsure }) => client.startJob({ id, type: 'classify', input: { text: `${unsure ? 'UNSURE a charge' : 'my wifi drops'} case ${id}` } })));
      await Promise.all(more.map(({ id }) => client.getResult(id)));
      const policyFile = path.join(dataDir, 'router-policy.json');
      fs.writeFileSync(policyFile, JSON.stringify({ router: { id: 'requests' } }));
      const errors: string[] = [];
      const scope = ['--since', '1h', '--type', 'classify', '--task-queue', taskQueue, '--no-calls', '--json'];
      // Visibility lists finished runs a moment after they finish: replay until it sees all 15.
      const report = await eventually(async () => {
        const lines: string[] = [];
        expect(await replayPolicyCommand(['--policy', policyFile, ...scope], { stdout: (line) => lines.push(line), stderr: (line) => errors.push(line) }, { factory, dataDir })).toBe(0);
        const replayed = JSON.parse(lines[0]!) as PolicyReplayReport;
        return replayed.steps === 15 ? replayed : undefined;
      });
      expect(errors).toEqual([]);
      // The classify jobs above (sure, unsure, tokens) and these 12: each recorded step was read by the router.
      expect(report.router).toMatchObject({ id: 'requests', routed: report.steps, unrouted: 0 });
      expect(report.steps).toBe(15);
      expect(report.details.every((step) => step.routedTier === 'small' || step.routedTier === 'large')).toBe(true);
      expect(report.router!.escalated).toBe(report.details.filter((step) => step.routedTier === 'large').length);

      const trained: string[] = [];
      const code = await routerCommand(['train', '--id', 'from-records', '--since', '1h', '--task-queue', taskQueue, '--min-examples', '3', '--json'], { stdout: (line) => trained.push(line), stderr: (line) => errors.push(line) }, { factory, env });
      expect(errors).toEqual([]);
      expect(code).toBe(0);
      const registered = JSON.parse(trained[0]!) as { id: string; version: string; examples: number; escalated: number };
      // Steps that started at the default tier (all but the routed hard one): the unsure ones escalated.
      expect(registered).toMatchObject({ id: 'from-records', examples: 16, escalated: 7 });
      expect((await loadRouter(dataDir, 'from-records')).version).toBe(registered.version);
      expect(await routerCommand(['train', '--id', 'too-few', '--since', '1h', '--task-queue', taskQueue, '--min-examples', '1000'], { stdout: () => {}, stderr: (line) => errors.push(line) }, { factory, env })).toBe(2);
      expect(errors.at(-1)).toMatch(/a router needs at least 1000 with both outcomes/);
    } finally {
      for (const [key, value] of [['TEMPORAL_ADDRESS', saved.address], ['TEMPORAL_NAMESPACE', saved.namespace]] as const) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
  });

  it('a learned scorer from the learning registry scores remote answers, and the ledger names it', async () => {
    // Checked outcomes: the small model says "technical", right for network trouble and wrong for a refund
    // (a reviewer or the large tier said "billing", which was right).
    const pairs = Array.from({ length: 90 }, (_, index) => {
      const kind = index % 3;
      if (kind === 0) return { text: `refund for a double charge on invoice ${index}`, answer: 'technical', modelConfidence: 0.96, correct: false };
      if (kind === 1) return { text: `refund for a double charge on invoice ${index}`, answer: 'billing', modelConfidence: 0.97, correct: true };
      return { text: `wifi router drops the connection ${index}`, answer: 'technical', modelConfidence: 0.96, correct: true };
    });
    const scorer = trainScorer('request-scorer', pairs);
    const registered = await registerScorer(dataDir, scorer, 'routing test');
    const money = uniqueId('money');
    const network = uniqueId('network');
    await client.startJob({ id: money, type: 'classify-scored', input: { text: `a refund for the double charge on my invoice ${money}` } });
    await client.startJob({ id: network, type: 'classify-scored', input: { text: `the wifi router drops the connection ${network}` } });
    const [moneyResult, networkResult] = await Promise.all([client.getResult(money), client.getResult(network)]);
    const scorerName = `scorer:request-scorer@${registered.version}`;
    expect(moneyResult.ledger.map((entry) => [entry.tier, entry.outcome, entry.scorer])).toEqual([
      ['small', 'escalated', scorerName],
      ['large', 'accepted', scorerName],
    ]);
    expect(moneyResult.ledger[0]!.confidence).toBeLessThan(0.7);
    expect(networkResult.ledger.map((entry) => [entry.tier, entry.outcome, entry.scorer])).toEqual([['small', 'accepted', scorerName]]);
    expect(networkResult.ledger[0]!.confidence).toBeGreaterThanOrEqual(0.7);
    expect(scorer.calibration.pairs).toBe(90);
    expect(moneyResult.outputs.classify).toEqual({ category: 'billing' });
  });

  it('scorer train learns a scorer from the checked outcomes of recorded runs', async () => {
    // Escalated answers the large tier confirmed: the small model was right, if unsure.
    const agreeing = Array.from({ length: 4 }, (_, index) => uniqueId(`agree-${index}`));
    await Promise.all(agreeing.map((id) => client.startJob({ id, type: 'classify', input: { text: `AGREE a clause in my lease ${id}` } })));
    await Promise.all(agreeing.map((id) => client.getResult(id)));
    const env = { TEMPORAL_ADDRESS: inject('temporalAddress'), TEMPORAL_NAMESPACE: inject('temporalNamespace'), CONVEYOR_DATA_DIR: dataDir };
    const args = ['train', '--id', 'recorded-scorer', '--station', 'classify-request', '--since', '1h', '--task-queue', taskQueue, '--min-pairs', '8', '--json'];
    // Checked answers of classify-request: 7 unsure ones the large tier overruled, 4 it confirmed (visibility lists them a moment after they finish).
    const trained = await eventually(async () => {
      const lines: string[] = [];
      const code = await scorerCommand(args, { stdout: (line) => lines.push(line), stderr: () => {} }, { factory, env });
      const summary = code === 0 ? (JSON.parse(lines[0]!) as { version: string; pairs: number; right: number; expectedCalibrationError: number }) : undefined;
      return summary?.pairs === 11 ? summary : undefined;
    });
    expect(trained).toMatchObject({ pairs: 11, right: 4 });
    expect(trained.expectedCalibrationError).toBeGreaterThanOrEqual(0);
    expect((await loadScorer(dataDir, 'recorded-scorer')).version).toBe(trained.version);
    const errors: string[] = [];
    expect(await scorerCommand(['train', '--id', 'x', '--station', 'classify-request-nope'], { stdout: () => {}, stderr: (line) => errors.push(line) }, { factory, env })).toBe(2);
    expect(errors.join('')).toMatch(/factory routing-test has no station "classify-request-nope" \(stations: classify-request, classify-request-scored, classify-request-checked, classify-request-checked-large\)/);
  });

  it('agreement with a cheaper tier: an escalated answer is checked against the one it replaces, a large-tier start asks the small tier once', async () => {
    const agreed = uniqueId('agree');
    const disagreed = uniqueId('disagree');
    const startedLarge = uniqueId('checked-large');
    await client.startJob({ id: agreed, type: 'classify-checked', input: { text: `AGREE my contract ${agreed}` } });
    await client.startJob({ id: disagreed, type: 'classify-checked', input: { text: `AGREE refund ${disagreed}` } });
    await client.startJob({ id: startedLarge, type: 'classify-checked-large', input: { text: `AGREE a clause ${startedLarge}` } });
    const callsFor = (server: FakeServer, jobId: string) => server.requests.filter((request) => promptsOf(request).user.includes(jobId)).length;

    // Small says legal (no probability at the cheapest tier: 0.5, it escalates); large says legal too: they agree.
    const agreedResult = await client.getResult(agreed);
    expect(agreedResult.status).toBe('completed');
    expect(agreedResult.ledger.map((entry) => [entry.modelId, entry.tier, entry.outcome, entry.scorer, entry.confidence])).toEqual([
      ['lp-small', 'small', 'escalated', 'constant', 0.5],
      ['lp-large', 'large', 'accepted', 'cheaper-tier:lp-small', 0.95],
    ]);
    // The small tier's answer was the step's own: no second call to check it.
    expect([callsFor(small, agreed), callsFor(large, agreed)]).toEqual([1, 1]);

    // Small says legal, large says billing: they disagree (0.4 < 0.7), and above the top tier a person decides.
    const [review] = await waitForPending(client, disagreed);
    expect(review).toMatchObject({ kind: 'review', station: 'classify-request-checked' });
    await client.decide(disagreed, { decision: 'approve', reviewer: 'alice' });
    const disagreedResult = await client.getResult(disagreed);
    expect(disagreedResult.ledger.map((entry) => [entry.modelId, entry.outcome, entry.scorer, entry.confidence, entry.escalationReason])).toEqual([
      ['lp-small', 'escalated', 'constant', 0.5, 'confidence 0.50 below 0.7'],
      ['lp-large', 'escalated', 'cheaper-tier:lp-small', 0.4, 'confidence 0.40 below 0.7'],
    ]);
    expect(disagreedResult.outputs.classify).toEqual({ category: 'billing' });
    expect(disagreedResult.topTier).toBe('human');
    await recordHistory(client, disagreed, 'cheaper-tier-disagreed');

    // Started at the large tier: the activity asks the cheapest small model once, and its tokens and cost are the entry's too.
    const largeResult = await client.getResult(startedLarge);
    expect(largeResult.ledger.map((entry) => [entry.modelId, entry.tier, entry.outcome, entry.scorer, entry.confidence])).toEqual([['lp-large', 'large', 'accepted', 'cheaper-tier:lp-small', 0.95]]);
    expect([callsFor(small, startedLarge), callsFor(large, startedLarge)]).toEqual([1, 1]);
    const [entry] = largeResult.ledger;
    // Each fake call reports 11 input and 7 output tokens; lp-large is priced $1/$2 and lp-small $2/$8 per million.
    expect([entry!.inputTokens, entry!.outputTokens]).toEqual([22, 14]);
    expect(entry!.costUsd).toBeCloseTo((11 * 1 + 7 * 2 + 11 * 2 + 7 * 8) / 1_000_000, 12);
  });

  it('a router nobody trained is recorded, and the step starts at its default tier', async () => {
    const jobId = uniqueId('unrouted');
    await client.startJob({ id: jobId, type: 'classify-unrouted', input: { text: `printer offline ${jobId}` } });
    const result = await client.getResult(jobId);
    expect(result.status).toBe('completed');
    expect(result.ledger.map((entry) => [entry.tier, entry.routedBy])).toEqual([['small', undefined]]);
    const decision = result.decisions.find((entry) => entry.kind === 'router');
    expect(decision?.reason).toMatch(/nobody-trained-this.*the step starts at the station's default tier small/s);
  });

  it('a router of the tokens-per-miss rule records the rule and the value it compared', async () => {
    const examples = [
      ...Array.from({ length: 40 }, (_, index) => ({ text: `contract dispute lawsuit clause ${index} liability counsel`, defaultSuffices: false })),
      ...Array.from({ length: 40 }, (_, index) => ({ text: `password reset login ${index} wifi printer`, defaultSuffices: true })),
    ];
    // A new current version of the job type's router, deciding by tokens per expected miss. A version is its
    // model's content and keeps its threshold and rule: the same examples under another rule would be refused.
    examples.push({ text: 'lawsuit counsel clause', defaultSuffices: false });
    const router = await trainAndRegisterRouter({ id: 'requests', examples, targetLargeShare: 0.5, by: 'routing test', dataDir, rule: 'tokens-per-miss', notes: { origin: 'synthetic test examples, tokens-per-miss' } });
    const jobId = uniqueId('per-token');
    await client.startJob({ id: jobId, type: 'classify-routed', input: { text: `a contract dispute about a liability clause, my counsel says lawsuit ${jobId}` } });
    const result = await client.getResult(jobId);
    const routedBy = result.ledger[0]!.routedBy!;
    expect(routedBy).toMatchObject({ router: `requests@${router.version}`, threshold: router.threshold, rule: 'tokens-per-miss', tier: 'large' });
    expect(routedBy.value).toBeLessThan(router.threshold);
    expect(routedBy.value).toBeGreaterThan(0);
    expect(result.decisions.find((entry) => entry.kind === 'router')!.reason).toMatch(/tokens per expected miss < threshold \d+ → start at large/);
  });
});

describe('failover within a tier', () => {
  const cooldownMs = 3000;
  let primary: FakeServer;
  let backup: FakeServer;
  let large: FakeServer;
  let primaryDown = true;
  let worker: RunningWorker;
  let client: ConveyorClient;

  beforeAll(async () => {
    primary = await startFakeOpenAI(() => (primaryDown ? answers.serverError(503) : answers.jsonWithLogprobs({ category: 'technical' }, 'category', 0.95)));
    backup = await startFakeOpenAI(() => answers.jsonWithLogprobs({ category: 'technical' }, 'category', 0.95));
    large = await startFakeOpenAI(() => answers.jsonWithLogprobs({ category: 'technical' }, 'category', 0.99));
    const settings = testSettings(uniqueId('failover'));
    const registry = createRegistry(
      [
        remote('fo-primary', 'small', primary, { inputPricePerMTokUsd: 0.1, outputPricePerMTokUsd: 0.2, cooldownMs }),
        remote('fo-backup', 'small', backup, { inputPricePerMTokUsd: 0.3, outputPricePerMTokUsd: 0.6, cooldownMs }),
        remote('fo-large', 'large', large),
      ],
      'failover test',
    );
    worker = await startWorker({ settings, bundle, factory, gateway: { registry } });
    client = await ConveyorClient.connect({ settings, factory });
  }, 120_000);

  afterAll(async () => {
    await client?.close();
    await worker?.stop();
    await Promise.all([primary?.close(), backup?.close(), large?.close()]);
  });

  async function runJobs(prefix: string, count: number) {
    const ids = Array.from({ length: count }, (_, index) => uniqueId(`${prefix}-${index}`));
    await Promise.all(ids.map((id) => client.startJob({ id, type: 'classify', input: { text: `the printer is offline ${id}` } })));
    return Promise.all(ids.map((id) => client.getResult(id)));
  }

  it('jobs complete on the second model without escalating; the first is cooled down, then recovers', async () => {
    // The first job finds the primary down: one call to it, then the backup answers.
    const [first] = await runJobs('outage-first', 1);
    expect(first!.status).toBe('completed');
    expect(first!.ledger.map((entry) => [entry.modelId, entry.tier, entry.outcome])).toEqual([['fo-backup', 'small', 'accepted']]);
    expect(first!.ledger[0]!.failover).toEqual([{ modelId: 'fo-primary', reason: expect.stringContaining('ModelServerError') as unknown, coolingDownUntil: expect.any(String) as unknown }]);
    expect(first!.decisions.find((decision) => decision.kind === 'failover')?.reason).toContain('fo-primary passed over');
    expect(primary.requests).toHaveLength(1);
    await recordHistory(client, first!.id, 'failover-within-tier');

    // While it cools down, the worker's calls pass it over: no request reaches it.
    const during = await runJobs('outage-during', 8);
    expect(during.every((result) => result.status === 'completed')).toBe(true);
    expect(during.flatMap((result) => result.ledger.map((entry) => [entry.modelId, entry.outcome]))).toEqual(Array.from({ length: 8 }, () => ['fo-backup', 'accepted']));
    expect(during.every((result) => result.ledger[0]!.failover?.[0]?.reason.startsWith('cooling down'))).toBe(true);
    expect(primary.requests).toHaveLength(1);
    expect(large.requests).toHaveLength(0);
    expect(worker.gateway.cooldowns().map((cooldown) => cooldown.modelId)).toEqual(['fo-primary']);

    // After the cooldown one call tries it again; it is still down, so it cools down again.
    await new Promise((resolve) => setTimeout(resolve, cooldownMs + 200));
    const [probe] = await runJobs('outage-probe', 1);
    expect(probe!.ledger[0]!.modelId).toBe('fo-backup');
    expect(primary.requests).toHaveLength(2);

    // It comes back: after the cooldown the next calls go to it, and nothing is passed over.
    primaryDown = false;
    await new Promise((resolve) => setTimeout(resolve, cooldownMs + 200));
    const recovered = await runJobs('recovered', 3);
    expect(recovered.flatMap((result) => result.ledger.map((entry) => [entry.modelId, entry.outcome, entry.failover]))).toEqual(Array.from({ length: 3 }, () => ['fo-primary', 'accepted', undefined]));
    expect(primary.requests).toHaveLength(5);
    expect(worker.gateway.cooldowns()).toEqual([]);
    // No job paid for an escalation.
    expect(large.requests).toHaveLength(0);
  }, 120_000);
});
