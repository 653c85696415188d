/**
 * The learning loop on a factory of its own (issue 15): a station answered offline by a `localClassifier`
 * the factory trains from its own labelled file, and `learnable`, takes part in the learning registry
 * the way the built-in classifiers do — the registry's current version serves it, a candidate in shadow
 * answers next to it and is recorded but never used, and the settled answer is observed — and
 * `conveyor eval` and the distill workflow measure, train and judge it under its own job type's policy,
 * on the real embedded server, with no support-factory code involved.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { durableEvaluator } from '../cli/eval-durable';
import { runEvaluation } from '../evaluation/eval/run';
import { evaluationTarget } from '../evaluation/eval/target';
import { ConveyorClient, defineFactory, defineJobType, defineStation, localClassifier, type JobResult } from '../index';
import { classifyText } from '../providers/local/classifier';
import { distillWorkflow } from '../workflows/distill';
import { ExampleStore } from '../learning/example-store';
import { ModelRegistry } from '../learning/model-registry';
import { defaultObservationStoreFile, ObservationStore } from '../learning/observations';
import { loadLabelledFile } from '../providers/local/dataset';
import { loadClassifier, saveClassifier } from '../providers/local/model-file';
import { trainSizedClassifier } from '../providers/local/model-store';
import { bundleConveyorWorkflows } from '../workers/worker';
import { startWorker, testSettings, uniqueId, type RunningWorker } from './support/temporal';

const settings = testSettings(uniqueId('own-learning'));
const station = 'sort-report';

// Each label has words of its own: any classifier trained on these rows tells them apart.
const phrases = {
  road: ['pothole in the road', 'deep pothole near the school', 'cracked asphalt on main street', 'the road has a big pothole'],
  light: ['streetlight is out', 'the streetlight flickers all night', 'broken lamp post on the corner', 'dark streetlight by the park'],
};
const rows = Object.entries(phrases).flatMap(([label, texts]) => texts.map((text) => ({ text, label })));
const trainingFile = path.join(settings.dataDir, 'reports.csv');

const reportInput = z.object({ report: z.string().min(1) });
const sorted = z.object({ service: z.enum(['road', 'light']), confidence: z.number().min(0).max(1) });

function reportsFactory() {
  const sortReport = defineStation({
    name: station,
    description: 'Sorts a resident report into the service that fixes it.',
    input: reportInput,
    output: sorted,
    defaultTier: 'small',
    confidenceThreshold: 0.5,
    confidence: { from: 'field', field: 'confidence' },
    learnable: { label: 'service', text: 'report' },
    local: localClassifier<z.infer<typeof reportInput>, z.infer<typeof sorted>>({
      name: 'report-service',
      trainingFile,
      labels: ['road', 'light'],
      modelFileOption: 'reportModelFile',
      text: (input) => input.report,
      output: ({ label, confidence }) => ({ service: label as 'road' | 'light', confidence }),
    }),
    prompt: (input) => ({ system: 'Answer as JSON: the service (road or light) and your confidence.', user: input.report }),
  });
  return defineFactory({
    name: 'city-reports',
    version: '1.0.0',
    stations: [sortReport],
    jobTypes: [
      defineJobType({
        name: 'resident-report',
        description: 'Sorts one report.',
        input: reportInput,
        recipe: { steps: [{ id: 'service', station, inputs: { report: '$job.report' } }] },
        policy: { budgetUsd: 0.05, approval: { reviewers: ['dispatcher'], timeoutMs: 60_000, onTimeout: 'reject' } },
      }),
    ],
  });
}

let worker: RunningWorker;
let client: ConveyorClient;
let registry: ModelRegistry;
let bundle: WorkflowBundleWithSourceMap;

/** A model of the station's classifier trained on `labelled`, registered with the learning registry. */
async function register(name: string, labelled: { text: string; label: string }[]): Promise<string> {
  const data = path.join(settings.dataDir, `${name}.jsonl`);
  fs.writeFileSync(data, Array.from({ length: 8 }, () => labelled.map((row) => JSON.stringify(row))).flat().join('\n') + '\n');
  const file = path.join(settings.dataDir, `${name}.model.json`);
  saveClassifier(file, trainSizedClassifier(loadLabelledFile(data), 'small', 1), 'report-service');
  return (await registry.register(file, { by: 'test' })).version;
}

async function report(text: string): Promise<JobResult> {
  const id = uniqueId('report');
  await client.startJob({ id, type: 'resident-report', input: { report: text } });
  return client.getResult(id);
}

beforeAll(async () => {
  fs.mkdirSync(settings.dataDir, { recursive: true });
  fs.writeFileSync(trainingFile, `text,label\n${Array.from({ length: 8 }, () => rows.map((row) => `${row.text},${row.label}`)).flat().join('\n')}\n`);
  registry = new ModelRegistry(settings.dataDir, station);
  const factory = reportsFactory();
  bundle = await bundleConveyorWorkflows({ engineOnly: true });
  worker = await startWorker({ settings, bundle, gateway: { env: {} }, factory });
  client = await ConveyorClient.connect({ settings, factory });
});

afterAll(async () => {
  await client?.close();
  await worker?.stop();
});

describe("the learning registry on a factory's own classifier", () => {
  it('serves the promoted version, runs a shadow next to it that is never used, and observes the settled answer', async () => {
    const before = await report('a deep pothole outside the library');
    // No registry version yet: the classifier trained from the factory's own file answers.
    expect(before.ledger[0]).toMatchObject({ station, outcome: 'accepted' });
    expect(before.ledger[0]!.modelVersion).toMatch(/^report-service-lr@1:/);
    expect(before.outputs.service).toMatchObject({ service: 'road' });

    const current = await register('current', rows);
    await registry.promote(current, 'test', 'trained on the labelled reports');
    // The candidate learned the labels the wrong way round: in shadow it disagrees, and is never used.
    const swapped = await register('swapped', rows.map((row) => ({ ...row, label: row.label === 'road' ? 'light' : 'road' })));
    await registry.startShadow(swapped, 'test', 'a candidate with swapped labels, in shadow');

    const results = [await report('pothole on the road by the school'), await report('the streetlight on my street is out')];
    await registry.stopShadow('test', 'done');
    expect(results.map((result) => (result.outputs.service as { service: string }).service)).toEqual(['road', 'light']);
    for (const result of results) {
      expect(result.ledger[0]).toMatchObject({ station, modelVersion: current, outcome: 'accepted', shadow: { version: swapped } });
      expect(result.ledger[0]!.shadow!.label).not.toBe((result.outputs.service as { service: string }).service);
    }

    const since = (await registry.state()).history.find((event) => event.action === 'shadow-start')!.at;
    const observations = new ObservationStore(defaultObservationStoreFile(settings.dataDir));
    try {
      expect((await observations.agreement(station, swapped, 'shadow', since)).all).toEqual({ n: 2, agreed: 0, agreement: 0 });
    } finally {
      await observations.close();
    }
  });
});

const water = ['water main burst on elm street', 'the fire hydrant is leaking water', 'no water pressure in my flat', 'a water pipe flooded the sidewalk'];

function writeJsonl(name: string, labelled: { text: string; label: string }[]): string {
  const file = path.join(settings.dataDir, name);
  fs.writeFileSync(file, labelled.map((row) => JSON.stringify(row)).join('\n') + '\n');
  return file;
}

describe("evaluation and distill on a factory's own classifier", () => {
  it('conveyor eval decides its station under its job type, with a model of labels of its own, offline and as its jobs on Temporal alike', async () => {
    // A model that also knows "water", a label the station's own schema does not have.
    const labelled = [...rows, ...water.map((text) => ({ text, label: 'water' }))];
    const modelFile = path.join(settings.dataDir, 'three-services.model.json');
    saveClassifier(modelFile, trainSizedClassifier(loadLabelledFile(writeJsonl('three.jsonl', Array.from({ length: 8 }, () => labelled).flat())), 'small', 1), 'report-service');
    const items = [...labelled, { text: 'the bus stop sign fell over', label: 'signs' }];
    const dataFile = writeJsonl('eval-items.jsonl', items);
    const env = { TEMPORAL_ADDRESS: settings.address!, TEMPORAL_NAMESPACE: settings.namespace, CONVEYOR_TASK_QUEUE: uniqueId('own-eval'), CONVEYOR_DATA_DIR: settings.dataDir };

    const offline = await runEvaluation({ factory: client.factory, dataFile, modelFile, env });
    expect(offline.report.context).toMatchObject({ factory: 'city-reports 1.0.0', station, jobType: 'resident-report' });
    // The job type's policy sets no threshold for the station: the station's own 0.5 applies.
    expect(offline.report.threshold).toBe(0.5);
    expect(offline.report.n).toBe(items.length);
    const saved = loadClassifier(modelFile);
    const answers = items.map((item) => classifyText(saved.model, item.text));
    offline.offline.forEach((decision, index) => {
      const { label, confidence } = answers[index]!;
      expect(decision).toMatchObject({ gold: items[index]!.label, smallLabel: label, smallConfidence: confidence, covered: confidence >= 0.5 });
    });
    expect(offline.offline.filter((decision) => decision.smallLabel === 'water' && decision.covered).length).toBeGreaterThan(0);
    expect(offline.offline.at(-1)).toMatchObject({ gold: 'signs', goldKnown: false });

    // At a threshold between the model's confidences, some items are kept and the rest escalate.
    const confidences = [...new Set(answers.map((answer) => answer.confidence))].sort((a, b) => a - b);
    const middle = Math.floor(confidences.length / 2);
    const threshold = (confidences[middle - 1]! + confidences[middle]!) / 2;
    const run = await runEvaluation({ factory: client.factory, dataFile, modelFile, env, threshold, durable: durableEvaluator({ concurrency: 4, workflowBundle: bundle }) });
    run.offline.forEach((decision, index) => expect(decision.covered).toBe(answers[index]!.confidence >= threshold));
    // The same items as resident-report jobs: every decision as offline, answered by the model under evaluation.
    expect(run.agreement?.disagreements).toEqual([]);
    expect(run.durable).toHaveLength(items.length);
    for (const decision of run.durable!) expect(decision.calls[0]).toMatchObject({ modelId: 'eval-small', tier: 'small' });
    // Some of the evaluation's jobs escalated to a larger tier, and none of them was collected as a training example.
    expect(run.durable!.filter((decision) => decision.covered).length).toBeGreaterThan(0);
    expect(run.durable!.filter((decision) => decision.finalStop === 'medium').length).toBeGreaterThan(0);
    const examples = new ExampleStore(path.join(settings.dataDir, 'examples.sqlite'));
    try {
      expect(examples.examples(station).filter((example) => example.jobId.startsWith('eval-'))).toEqual([]);
    } finally {
      examples.close();
    }
  }, 240_000);

  it('a distill run trains a candidate of its classifier, judges it under its policy, and the gate refuses a poisoned one', async () => {
    const current = (await registry.state()).current;
    expect(current).not.toBeNull();
    const goldenDataFile = writeJsonl('golden.jsonl', rows);
    // The base data (texts of its own: golden texts are dropped from training) has the labels the wrong
    // way round, so a candidate trained on it gets the golden set wrong.
    const poisoned = rows.flatMap((row) => ['again', 'today', 'still'].map((when) => ({ text: `${row.text} ${when}`, label: row.label === 'road' ? 'light' : 'road' })));
    const baseDataFile = writeJsonl('poisoned-base.jsonl', poisoned);
    const result = await client.temporal.workflow.execute(distillWorkflow, {
      taskQueue: settings.taskQueue,
      workflowId: uniqueId('own-distill'),
      args: [{ station, baseDataFile, goldenDataFile, reviewers: ['dispatcher'], requestedBy: 'test', size: 'small' }],
    });
    expect(result).toMatchObject({ station, status: 'refused-by-gate', previousVersion: current, currentVersion: current });
    expect(result.candidateVersion).toMatch(/^report-service-lr@1:/);
    expect(result.report.current?.version).toBe(current);
    expect(result.report.candidate.golden.n).toBe(rows.length);
    expect(result.report.candidate.accuracy).toBeLessThan(result.report.current!.accuracy);
    expect(result.report.gate.passed).toBe(false);
    expect((await registry.state()).current).toBe(current);
  }, 120_000);

  it('names what keeps a station or job type from being evaluated', () => {
    const factory = client.factory;
    expect(evaluationTarget(factory)).toMatchObject({ station: { name: station }, jobType: { name: 'resident-report' }, jobTextField: 'report' });
    expect(() => evaluationTarget(factory, { station: 'sort-mail' })).toThrow('factory city-reports has no station "sort-mail" (learnable classifier stations: sort-report)');
    expect(() => evaluationTarget(factory, { jobType: 'night-shift' })).toThrow('factory city-reports has no job type "night-shift" (job types: resident-report)');
    const plain = defineStation({ name: 'summarize', description: 'd', input: reportInput, output: z.object({ summary: z.string() }), defaultTier: 'small', confidenceThreshold: 0.5, confidence: { from: 'model', otherwise: 0.9 }, prompt: (input) => ({ system: 's', user: input.report }) });
    const unlearnable = defineFactory({
      name: 'summaries',
      version: '1',
      stations: [plain],
      jobTypes: [defineJobType({ name: 'summary', description: 'd', input: reportInput, recipe: { steps: [{ id: 'sum', station: 'summarize', inputs: { report: '$job.report' } }] }, policy: { budgetUsd: 0.01, approval: { reviewers: ['a'], timeoutMs: 1000, onTimeout: 'reject' } } })],
    });
    expect(() => evaluationTarget(unlearnable)).toThrow(/factory summaries has no learnable classifier station .* so there is no model to evaluate or distill/);
    expect(() => evaluationTarget(unlearnable, { station: 'summarize' })).toThrow('station summarize of factory summaries names no learnable field: only a station with both (local: localClassifier(…) and learnable) can be evaluated or distilled');
  });
});
