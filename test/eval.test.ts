/**
 * `conveyor eval` as a specification: the offline report is consistent with its own per-item
 * decisions, the durable run (triage jobs on the suite's real Temporal server) decides every item
 * exactly as the offline run does, out-of-scope items count as right only when escalated, and the
 * command's flags and JSON output are what the README documents.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { evalCommand } from '../cli/eval';
import { durableEvaluator } from '../cli/eval-durable';
import { loadNamedDataset, sampleItems } from '../evaluation/eval/datasets';
import { coveredAt, percentile } from '../evaluation/eval/metrics';
import { runEvaluation } from '../evaluation/eval/run';
import { supportFactory } from '../factories/support';
import { classifyText } from '../providers/local/classifier';
import { loadClassifier, saveClassifier } from '../providers/local/model-file';
import { trainSizedClassifier } from '../providers/local/model-store';
import { bundleConveyorWorkflows } from '../workers/worker';
import { tempDir, uniqueId } from './support/temporal';

const SAMPLE = 300;
let modelFile: string;
let dataDir: string;

/** An environment with nothing ambient in it: local models only, a data dir of its own. */
function evalEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    CONVEYOR_DATA_DIR: dataDir,
    ...(process.env.CONVEYOR_SHARED_DATA ? { CONVEYOR_SHARED_DATA: process.env.CONVEYOR_SHARED_DATA } : {}),
    ...extra,
  };
}

function captured() {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, io: { stdout: (line: string) => stdout.push(line), stderr: (line: string) => stderr.push(line) } };
}

beforeAll(() => {
  dataDir = tempDir('eval');
  // A deliberately modest model (3,000 training rows, small features) so both covered and escalated items occur.
  const banking = loadNamedDataset('banking77', evalEnv());
  const subset = sampleItems(banking.train, 3000, 7);
  modelFile = path.join(dataDir, 'banking77-subset.model.json');
  saveClassifier(modelFile, trainSizedClassifier(subset, 'small'), 'intent', { rows: subset.length });
});

describe('offline evaluation', () => {
  it('reports numbers that follow from its own per-item decisions, with a monotone curve', async () => {
    const run = await runEvaluation({ factory: supportFactory, dataset: 'banking77', modelFile, limit: SAMPLE, env: evalEnv() });
    const { report, offline } = run;
    expect(report.n).toBe(SAMPLE);
    expect(offline).toHaveLength(SAMPLE);
    expect(report.threshold).toBe(0.7);

    // The small model's answers are the saved model's own, recomputed here without the factory.
    const saved = loadClassifier(modelFile);
    const items = sampleItems(loadNamedDataset('banking77', evalEnv()).test, SAMPLE);
    offline.forEach((decision, index) => {
      const item = items[index]!;
      expect(decision.gold).toBe(item.label);
      const { label, confidence } = classifyText(saved.model, item.text);
      expect(decision.smallLabel).toBe(label);
      expect(decision.smallConfidence).toBe(confidence);
      expect(decision.covered).toBe(confidence >= report.threshold);
    });

    const covered = offline.filter((decision) => decision.covered);
    const coveredRight = covered.filter((decision) => decision.smallLabel === decision.gold).length;
    expect(covered.length).toBeGreaterThan(0);
    expect(covered.length).toBeLessThan(SAMPLE);
    expect(report.coverage).toBeCloseTo(covered.length / SAMPLE, 12);
    expect(report.accuracyOnCovered).toBeCloseTo(coveredRight / covered.length, 12);
    expect(report.escalationRate).toBeCloseTo(1 - report.coverage, 12);
    expect(report.accuracy).toBeCloseTo(report.coverage * report.accuracyOnCovered + (1 - report.coverage), 12);
    expect(report.escalationRateByTier.small).toBeCloseTo(report.escalationRate, 12);
    expect(report.p50Ms).toBe(percentile(offline.map((decision) => decision.latencyMs), 50));
    expect(report.p95Ms).toBeGreaterThanOrEqual(report.p50Ms);

    // Cost: the small call's price from the registry, plus the next tier's estimate when escalated.
    const expectedCost = offline.reduce((sum, decision) => sum + decision.smallCostUsd + (decision.covered ? 0 : decision.escalationEstimateUsd), 0) / SAMPLE;
    expect(report.costPerItemUsd).toBeCloseTo(expectedCost, 15);
    for (const decision of offline) {
      expect(decision.smallCostUsd).toBeGreaterThan(0);
      expect(decision.escalationEstimateUsd).toBeGreaterThan(decision.smallCostUsd);
    }

    // The curve: coverage never rises with the threshold, and the chosen threshold's point is the headline.
    const thresholds = report.curve.map((point) => point.threshold);
    expect(thresholds).toEqual([...thresholds].sort((a, b) => a - b));
    report.curve.slice(1).forEach((point, index) => expect(point.coverage).toBeLessThanOrEqual(report.curve[index]!.coverage));
    expect(report.curve[0]).toMatchObject({ threshold: 0, coverage: 1 });
    for (const point of report.curve) {
      expect(point.coverage).toBeCloseTo(offline.filter((decision) => coveredAt(decision, point.threshold)).length / SAMPLE, 12);
    }
    expect(report.curve.find((point) => point.threshold === report.threshold)).toMatchObject({
      coverage: report.coverage,
      accuracyOnCovered: report.accuracyOnCovered,
      accuracy: report.accuracy,
    });
    // A calibrated model is right more often on what it keeps than on everything.
    const rightOverall = offline.filter((decision) => decision.smallLabel === decision.gold).length / SAMPLE;
    expect(report.accuracyOnCovered).toBeGreaterThan(rightOverall);
  });

  it('counts an out-of-scope item as right only when it is escalated', async () => {
    const banking = loadNamedDataset('banking77', evalEnv());
    const inScope = sampleItems(banking.test, 20, 3);
    const outOfScope = ['what is the weather in paris tomorrow', 'play some jazz music please', 'how many calories are in an avocado', 'tell me a joke about cats'];
    const file = path.join(dataDir, 'with-oos.csv');
    const quote = (text: string) => `"${text.replace(/"/g, '""')}"`;
    fs.writeFileSync(file, ['text,label', ...inScope.map((item) => `${quote(item.text)},${item.label}`), ...outOfScope.map((text) => `${quote(text)},oos`)].join('\n'));

    for (const threshold of [0, 0.7, 1]) {
      const { report, offline } = await runEvaluation({ factory: supportFactory, dataFile: file, modelFile, threshold, env: evalEnv() });
      const unknown = offline.filter((decision) => decision.gold === 'oos');
      expect(unknown).toHaveLength(outOfScope.length);
      for (const decision of unknown) {
        expect(decision.goldKnown).toBe(false);
        expect(decision.correct).toBe(!decision.covered);
      }
      expect(report.outOfScope).toEqual({
        n: outOfScope.length,
        escalated: unknown.filter((decision) => !decision.covered).length,
        coveredWrongly: unknown.filter((decision) => decision.covered).length,
      });
      if (threshold === 0) expect(report.outOfScope.coveredWrongly).toBe(outOfScope.length);
      if (threshold === 1) expect(report.outOfScope.escalated).toBe(outOfScope.length);
    }
  });
});

describe('durable evaluation', () => {
  let bundle: WorkflowBundleWithSourceMap;
  beforeAll(async () => {
    bundle = await bundleConveyorWorkflows();
  });

  it('decides every one of 300 items exactly as the offline run, as triage jobs on Temporal', async () => {
    const env = evalEnv({
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      TEMPORAL_NAMESPACE: inject('temporalNamespace'),
      CONVEYOR_TASK_QUEUE: uniqueId('eval'),
    });
    const run = await runEvaluation({ factory: supportFactory, dataset: 'banking77', modelFile, limit: SAMPLE, durable: durableEvaluator({ concurrency: 16, workflowBundle: bundle }), env });
    expect(run.durable).toHaveLength(SAMPLE);
    expect(run.agreement?.disagreements).toEqual([]);
    expect(run.agreement?.agreed).toBe(SAMPLE);
    const durable = run.durable!;
    // Both outcomes happened for real, and the ledger priced the small calls as the offline run did.
    expect(durable.some((decision) => decision.covered)).toBe(true);
    expect(durable.some((decision) => !decision.covered)).toBe(true);
    durable.forEach((decision, index) => {
      expect(decision.calls[0]?.modelId).toBe('eval-small');
      expect(decision.smallCostUsd).toBeCloseTo(run.offline[index]!.smallCostUsd, 12);
    });
    expect(run.report.durable?.report.coverage).toBe(run.report.coverage);
  }, 600_000);
});

describe('conveyor eval', () => {
  it('prints the documented JSON keys with --json', async () => {
    const { stdout, io } = captured();
    const code = await evalCommand(['--dataset', 'banking77', '--model', modelFile, '--limit', '50', '--threshold', '0.5', '--json'], io, evalEnv());
    expect(code).toBe(0);
    const output = JSON.parse(stdout.join('\n')) as Record<string, unknown>;
    for (const key of ['n', 'accuracy', 'coverage', 'accuracyOnCovered', 'escalationRate', 'escalationRateByTier', 'costPerItemUsd', 'p50Ms', 'p95Ms', 'curve', 'assumptions']) {
      expect(output).toHaveProperty(key);
    }
    expect(output.n).toBe(50);
    expect(output.threshold).toBe(0.5);
    // The built-in factory's intent classifier, decided by its triage job type's policy.
    expect(output).toMatchObject({ station: 'classify-intent', jobType: 'triage', factory: expect.stringMatching(/^support /) as unknown });
    const curve = output.curve as Array<Record<string, unknown>>;
    expect(Object.keys(curve[0]!)).toEqual(expect.arrayContaining(['threshold', 'coverage', 'accuracyOnCovered']));
  });

  it('writes report.json, report.md and two SVG plots with --out', async () => {
    const outDir = path.join(dataDir, 'report');
    const { io } = captured();
    expect(await evalCommand(['--dataset', 'banking77', '--model', modelFile, '--limit', '40', '--out', outDir], io, evalEnv())).toBe(0);
    expect(fs.readdirSync(outDir).sort()).toEqual(['cost-quality.svg', 'coverage-accuracy.svg', 'report.json', 'report.md']);
    expect(fs.readFileSync(path.join(outDir, 'report.md'), 'utf8')).toMatch(/\| accuracy on covered items \| \d+\.\d%/);
    expect(fs.readFileSync(path.join(outDir, 'coverage-accuracy.svg'), 'utf8')).toMatch(/^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect((JSON.parse(fs.readFileSync(path.join(outDir, 'report.json'), 'utf8')) as { n: number }).n).toBe(40);
  });

  it.each([
    [[], /missing --dataset/],
    [['--dataset', 'banking99'], /--dataset must be one of banking77, clinc150, bitext-customer-support, not "banking99"/],
    [['--dataset', 'banking77', '--data', 'x.csv'], /either --dataset or --data/],
    [['--dataset', 'banking77', '--threshold', '1.5'], /--threshold must be a number from 0 to 1, not "1.5"/],
    [['--dataset', 'banking77', '--limit', 'ten'], /--limit must be a whole number above 0, not "ten"/],
    [['--dataset', 'banking77', '--frobnicate'], /frobnicate/],
    [['--dataset', 'banking77', '--station', 'extract-entities'], /station extract-entities of factory support names no learnable field/],
    [['--dataset', 'banking77', '--job-type', 'call-review'], /job type call-review has no step that runs station classify-intent; job types that do: support-ticket, triage/],
    [['--dataset', 'banking77', '--factory', 'no-such-factory.ts'], /no-such-factory\.ts: no such file/],
  ])('exits 2 on bad flags %j, naming the problem', async (argv, message) => {
    const { stderr, io } = captured();
    expect(await evalCommand(argv, io, evalEnv())).toBe(2);
    expect(stderr.join('\n')).toMatch(message);
  });

  it('exits 2 naming the missing dataset, data file or model file', async () => {
    const empty = tempDir('no-shared-data');
    const missingDataset = captured();
    expect(await evalCommand(['--dataset', 'clinc150'], missingDataset.io, evalEnv({ CONVEYOR_SHARED_DATA: empty }))).toBe(2);
    expect(missingDataset.stderr.join('\n')).toContain(path.join(empty, 'clinc150', 'data_full.json'));

    const missingFile = captured();
    expect(await evalCommand(['--data', path.join(empty, 'nope.csv')], missingFile.io, evalEnv())).toBe(2);
    expect(missingFile.stderr.join('\n')).toContain('nope.csv');

    const missingModel = captured();
    expect(await evalCommand(['--dataset', 'banking77', '--model', path.join(empty, 'none.model.json')], missingModel.io, evalEnv())).toBe(2);
    expect(missingModel.stderr.join('\n')).toContain('none.model.json');
  });
});
