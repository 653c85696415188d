/**
 * The learning loop's pure parts, specified: curation folds duplicates, drops conflicting texts and
 * golden-set texts and holds out the newest collected examples per label; the example store redacts
 * and is idempotent per step; the gate refuses a candidate trained on shuffled labels (the refusal is
 * in the returned report); the registry promotes and rolls back; a canary whose agreement falls below
 * the gate is rolled back automatically.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadLabelledFile } from '../providers/local/dataset';
import { classifyText } from '../providers/local/classifier';
import { saveClassifier, loadClassifier } from '../providers/local/model-file';
import { trainSizedClassifier } from '../providers/local/model-store';
import { createSeededRandom, shuffleInPlace } from '../providers/local/prng';
import { curateExamples, repeatByWeight } from '../learning/curation';
import { ExampleStore } from '../learning/example-store';
import { currentModelFile, ModelRegistry, ModelRegistryError } from '../learning/model-registry';
import { curateRun, evaluateCandidate, trainCandidate } from '../learning/pipeline';
import { evaluationTarget } from '../evaluation/eval/target';
import { supportFactory } from '../factories/support';
import { canaryDecision, canaryDecisionFor, routesToCanary, superviseCanary, type CanarySettings, type ShadowObservation } from '../learning/canary';
import { InvalidDistillRequestError, parseDistillRequest } from '../learning/activities';
import { distillCommand, modelsCommand, rollbackCommand, shadowCommand } from '../cli/learning';
import { distillRequestSchema, type CollectedExample } from '../learning/types';
import { tempDir } from './support/temporal';

const demoFile = path.resolve(__dirname, '..', 'data', 'demo', 'support-intents.csv');

function collected(text: string, label: string, createdAt: string, weight = 1): CollectedExample {
  return { id: `${text}-${createdAt}`, station: 'classify-intent', jobType: 'support-ticket', jobId: 'j', stepId: 's', text, label, source: weight > 1 ? 'reviewer-edit' : 'escalation', weight, modelVersion: null, answeredBy: null, createdAt };
}

/** Shuffled demo data split into a golden set, a small base and the rest (what production would collect). */
function demoSplits() {
  const all = shuffleInPlace(loadLabelledFile(demoFile), createSeededRandom(7));
  return { golden: all.slice(0, 200), base: all.slice(200, 240), rest: all.slice(240) };
}

describe('curation', () => {
  it('merges duplicates keeping the heaviest row, drops conflicting and golden texts', () => {
    const curation = curateExamples({
      base: [
        { text: 'Where is my parcel?', label: 'order_status' },
        { text: 'Cancel my order', label: 'cancel_order' },
        { text: 'I want a refund', label: 'refund_request' },
      ],
      collected: [
        collected('where is   my PARCEL?', 'order_status', '2026-01-02', 3),
        collected('cancel my order', 'refund_request', '2026-01-02'),
        collected('What is in the golden set', 'order_status', '2026-01-02'),
      ],
      excludedTexts: ['what is in the golden set'],
      heldOutFraction: 0,
    });
    expect(curation.summary).toMatchObject({ duplicatesMerged: 1, conflictingTexts: 1, conflictingRowsDropped: 2, goldenOverlapDropped: 1, trainExamples: 2 });
    const parcel = curation.train.find((row) => row.label === 'order_status');
    expect(parcel?.weight).toBe(3);
    expect(repeatByWeight(curation.train)).toHaveLength(4);
  });

  it('holds out the newest collected examples of each label, never base rows', () => {
    const rows = ['a', 'b', 'c', 'd', 'e'].flatMap((letter, day) => [
      collected(`refund ${letter}`, 'refund_request', `2026-01-0${day + 1}`),
      collected(`cancel ${letter}`, 'cancel_order', `2026-01-0${day + 1}`),
    ]);
    const curation = curateExamples({ base: [{ text: 'base row', label: 'refund_request' }], collected: rows, heldOutFraction: 0.4 });
    expect(curation.heldOut.map((row) => row.text).sort()).toEqual(['cancel d', 'cancel e', 'refund d', 'refund e']);
    expect(curation.train.map((row) => row.text)).toContain('base row');
  });
});

describe('bad distill requests', () => {
  const valid = { station: 'classify-intent', goldenDataFile: 'golden.csv', reviewers: ['alice'] };
  const refusal = (raw: unknown) => {
    try {
      parseDistillRequest(raw as never);
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidDistillRequestError);
      return (error as Error).message;
    }
    throw new Error('accepted');
  };

  it('are refused with the field named, before any workflow starts', async () => {
    expect(parseDistillRequest({ ...valid, shadow: {}, canary: {} })).toMatchObject({ shadow: { minObservations: 50, agreementGate: 0.9 }, canary: { share: 0.2, agreementGate: 0.6 } });
    expect(refusal({ ...valid, reviewers: [] })).toMatch(/^distill request: reviewers: /);
    expect(refusal({ ...valid, requiredApprovals: 2 })).toMatch(/2 approvals need as many different reviewers/);
    expect(refusal({ ...valid, shadow: { minObservations: 0 } })).toMatch(/shadow\.minObservations: /);
    expect(refusal({ ...valid, canary: { share: 2 } })).toMatch(/canary\.share: /);
    expect(refusal({ ...valid, canary: { agreementGate: -1 } })).toMatch(/canary\.agreementGate: /);

    const errors: string[] = [];
    const run = (args: string[]) => distillCommand(['--golden', 'g.csv', '--reviewers', 'alice', ...args], { stdout: () => {}, stderr: (s) => errors.push(s) }, {});
    expect(await run(['--canary-gate', '0.5'])).toBe(2);
    expect(await run(['--shadow', 'many'])).toBe(2);
    expect(await run(['--shadow-gate', '0.5'])).toBe(2);
    expect(await run(['--canary-share', '1.5'])).toBe(2);
    expect(errors.map((message) => message.split('\n')[0])).toEqual([
      '--canary-gate, --canary-min and --canary-full need --canary-share',
      '--shadow: "many" is not a number',
      '--shadow-gate and --shadow-wait-ms need --shadow MIN_OBSERVATIONS',
      expect.stringMatching(/^distill request: canary\.share: /) as unknown as string,
    ]);
  });

  it('shadow and models commands name what is wrong', async () => {
    const dataDir = tempDir('shadow-cli');
    const errors: string[] = [];
    const io = { stdout: () => {}, stderr: (s: string) => errors.push(s) };
    expect(await shadowCommand(['--data-dir', dataDir], io, {})).toBe(2);
    expect(await shadowCommand(['--data-dir', dataDir, '--version', 'v1', '--stop'], io, {})).toBe(2);
    expect(await shadowCommand(['--data-dir', dataDir, '--version', 'intent-lr@1:nope'], io, {})).toBe(1);
    expect(await modelsCommand(['--data-dir', dataDir, '--bogus'], io, {})).toBe(2);
    expect(errors[0]).toMatch(/give either --version VERSION \(start a shadow\) or --stop/);
    expect(errors[2]).toMatch(/no model version intent-lr@1:nope/);
    let out = '';
    expect(await modelsCommand(['--data-dir', dataDir], { stdout: (s) => (out += s), stderr: () => {} }, {})).toBe(0);
    expect(out).toMatch(/^classify-intent: current none \(workers serve their default model\) · 0 version\(s\) registered/);
  });
});

describe('model registry', () => {
  it('promotes versions, serves the current file, and rolls back to the previous one', async () => {
    const dataDir = tempDir('registry');
    const registry = new ModelRegistry(dataDir, 'classify-intent');
    const { base, rest } = demoSplits();
    const files = [base, rest.slice(0, 120)].map((examples, index) => {
      const file = path.join(dataDir, `m${index}.json`);
      saveClassifier(file, trainSizedClassifier(examples, 'small'), 'intent');
      return file;
    });
    const [first, second] = await Promise.all(files.map((file) => registry.register(file, { by: 'test' })));
    expect(currentModelFile(dataDir, 'classify-intent')).toBeUndefined();
    await expect(registry.rollback('test', 'nothing yet')).rejects.toThrow(ModelRegistryError);

    await registry.promote(first!.version, 'alice', 'first');
    await registry.promote(second!.version, 'alice', 'second');
    expect((await registry.state()).current).toBe(second!.version);
    expect(fs.readFileSync(currentModelFile(dataDir, 'classify-intent')!, 'utf8')).toBe(fs.readFileSync(second!.file, 'utf8'));

    const io = { out: '', err: '' };
    const code = await rollbackCommand(['--station', 'classify-intent', '--data-dir', dataDir, '--by', 'bob'], { stdout: (s) => (io.out += s), stderr: (s) => (io.err += s) });
    expect(code).toBe(0);
    expect(io.out).toContain(`rolled back from ${second!.version} to ${first!.version}`);
    expect(await registry.state()).toMatchObject({ current: first!.version, previous: [] });
    expect((await registry.state()).history.map((event) => event.action)).toEqual(['register', 'register', 'promote', 'promote', 'rollback']);
    expect(await rollbackCommand(['--data-dir', dataDir], { stdout: () => {}, stderr: () => {} })).toBe(1);
  });
});

describe('the gate', () => {
  it('refuses a candidate trained on shuffled labels, with the refusal in the report', async () => {
    const dataDir = tempDir('gate');
    const { golden, base, rest } = demoSplits();
    const goldenFile = path.join(dataDir, 'golden.jsonl');
    fs.writeFileSync(goldenFile, golden.map((item) => JSON.stringify(item)).join('\n'));
    const registry = new ModelRegistry(dataDir, 'classify-intent');
    const goodFile = path.join(dataDir, 'good.json');
    saveClassifier(goodFile, trainSizedClassifier([...base, ...rest], 'small'), 'intent');
    await registry.promote((await registry.register(goodFile, { by: 'test' })).version, 'alice', 'the good model');

    // A poisoned collection: the same texts with their labels shuffled.
    const labels = shuffleInPlace(rest.map((item) => item.label), createSeededRandom(3));
    const store = new ExampleStore(path.join(dataDir, 'examples.sqlite'));
    store.collectMany(rest.map((item, index) => ({ station: 'classify-intent', jobType: 'support-ticket', jobId: `job-${index}`, stepId: 'intent', text: item.text, label: labels[index]!, source: 'escalation' as const })));
    const settings = distillRequestSchema.parse({ station: 'classify-intent', goldenDataFile: goldenFile, reviewers: ['alice'], heldOutFraction: 0 });
    const curated = curateRun({ settings, runId: 'bad-run', dataDir, collected: store.examples(settings.station) });
    const target = evaluationTarget(supportFactory, { station: 'classify-intent' });
    const candidate = trainCandidate({ target, trainFile: curated.trainFile, runDir: curated.runDir, size: 'small', seed: 1 });
    const report = await evaluateCandidate({ target, settings, runId: 'bad-run', runDir: curated.runDir, candidateFile: candidate.file, heldOutFile: curated.heldOutFile, curation: curated, registry });
    store.close();

    expect(report.gate.passed).toBe(false);
    expect(report.gate.checks.map((check) => check.passed)).toEqual([false, false]); // accuracy and coverage both refused
    expect(report.gate.refusal).toMatch(/refused: golden accuracy .* vs .* now/);
    expect(report.candidate.accuracy).toBeLessThan(report.current!.accuracy - 0.3);
    expect(fs.readFileSync(report.files.markdown, 'utf8')).toContain('**refused**');
    expect((await registry.state()).current).toBe(report.current!.version);
  });
});

describe('shadow and canary', () => {
  const settings: CanarySettings = { share: 0.1, agreementGate: 0.9, minObservations: 50, fullObservations: 500 };
  const observe = (n: number, agreeing: number): ShadowObservation[] =>
    Array.from({ length: n }, (_, index) => ({ itemId: `item-${index}`, acceptedLabel: 'a', candidateLabel: index < agreeing ? 'a' : 'b' }));

  it('waits for enough observations, continues above the gate, keeps after the full count, rolls back below', () => {
    expect(canaryDecision(observe(10, 0), settings).kind).toBe('wait');
    expect(canaryDecision(observe(100, 95), settings).kind).toBe('continue');
    expect(canaryDecision(observe(500, 480), settings).kind).toBe('keep');
    const falling = canaryDecision(observe(100, 80), settings);
    expect(falling.kind).toBe('rollback');
    expect(falling.reason).toContain('agreement 80.0% over 100 checked items is below the gate 90.0%');
    // A canary that is rarely checked is kept once it served enough settled items; one that fails its checks is not.
    expect(canaryDecisionFor({ n: 3, agreed: 3, agreement: 1 }, settings, 499).kind).toBe('wait');
    expect(canaryDecisionFor({ n: 3, agreed: 3, agreement: 1 }, settings, 500).kind).toBe('keep');
    expect(canaryDecisionFor({ n: 60, agreed: 30, agreement: 0.5 }, settings, 900).kind).toBe('rollback');
  });

  it('routes a stable share of items to the canary', () => {
    const ids = Array.from({ length: 2000 }, (_, index) => `job-${index}`);
    const share = ids.filter((id) => routesToCanary(id, 0.1)).length / ids.length;
    expect(share).toBeGreaterThan(0.07);
    expect(share).toBeLessThan(0.13);
    expect(ids.map((id) => routesToCanary(id, 0.1))).toEqual(ids.map((id) => routesToCanary(id, 0.1)));
  });

  it('rolls an injected bad model back automatically', async () => {
    const dataDir = tempDir('canary');
    const { base, rest } = demoSplits();
    const registry = new ModelRegistry(dataDir, 'classify-intent');
    const goodFile = path.join(dataDir, 'good.json');
    const badFile = path.join(dataDir, 'bad.json');
    saveClassifier(goodFile, trainSizedClassifier([...base, ...rest], 'small'), 'intent');
    const shuffled = shuffleInPlace(rest.map((item) => item.label), createSeededRandom(5));
    saveClassifier(badFile, trainSizedClassifier(rest.map((item, index) => ({ text: item.text, label: shuffled[index]! })), 'small'), 'intent');
    const good = await registry.register(goodFile, { by: 'test' });
    await registry.promote(good.version, 'alice', 'stable');
    const bad = await registry.register(badFile, { by: 'test' });
    await registry.promote(bad.version, 'alice', 'canary');

    // Live items the canary serves, compared with the answers the stable model gives for them.
    const stable = loadClassifier(goodFile).model;
    const canary = loadClassifier(registry.currentFile).model;
    const observations = base.map((item, index) => ({ itemId: `live-${index}`, acceptedLabel: classifyText(stable, item.text).label, candidateLabel: classifyText(canary, item.text).label }));
    const decision = await superviseCanary(registry, observations, { ...settings, minObservations: 20 });

    expect(decision).toMatchObject({ kind: 'rollback', outcome: 'applied' });
    expect((await registry.state()).current).toBe(good.version);
    expect((await registry.state()).history.at(-1)).toMatchObject({ action: 'rollback', by: 'canary-monitor', version: good.version });
    // A monitor still judging the rolled-back version, guarded by it, is refused and says why; the registry is unchanged.
    const second = await superviseCanary(registry, observations, { ...settings, minObservations: 20 }, 'canary-monitor', bad.version);
    expect(second).toMatchObject({ kind: 'rollback', outcome: 'refused', refusal: expect.stringMatching(/already decided/) as unknown });
    expect((await registry.state()).current).toBe(good.version);
  });
});
