/**
 * The learning loop on a factory of its own (issue 15): a station answered offline by a `localClassifier`
 * the factory trains from its own labelled file, and `learnable`, takes part in the learning registry
 * the way the built-in classifiers do — the registry's current version serves it, a candidate in shadow
 * answers next to it and is recorded but never used, and the settled answer is observed — on the real
 * embedded server, with no support-factory code involved.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConveyorClient, defineFactory, defineJobType, defineStation, localClassifier, type JobResult } from '../index';
import { ModelRegistry } from '../learning/model-registry';
import { defaultObservationStoreFile, ObservationStore } from '../learning/observations';
import { loadLabelledFile } from '../providers/local/dataset';
import { saveClassifier } from '../providers/local/model-file';
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

/** A model of the station's classifier trained on `labelled`, registered with the learning registry. */
function register(name: string, labelled: { text: string; label: string }[]): string {
  const data = path.join(settings.dataDir, `${name}.jsonl`);
  fs.writeFileSync(data, Array.from({ length: 8 }, () => labelled.map((row) => JSON.stringify(row))).flat().join('\n') + '\n');
  const file = path.join(settings.dataDir, `${name}.model.json`);
  saveClassifier(file, trainSizedClassifier(loadLabelledFile(data), 'small', 1), 'report-service');
  return registry.register(file, { by: 'test' }).version;
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
  worker = await startWorker({ settings, bundle: await bundleConveyorWorkflows({ engineOnly: true }), gateway: { env: {} }, factory });
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

    const current = register('current', rows);
    registry.promote(current, 'test', 'trained on the labelled reports');
    // The candidate learned the labels the wrong way round: in shadow it disagrees, and is never used.
    const swapped = register('swapped', rows.map((row) => ({ ...row, label: row.label === 'road' ? 'light' : 'road' })));
    registry.startShadow(swapped, 'test', 'a candidate with swapped labels, in shadow');

    const results = [await report('pothole on the road by the school'), await report('the streetlight on my street is out')];
    registry.stopShadow('test', 'done');
    expect(results.map((result) => (result.outputs.service as { service: string }).service)).toEqual(['road', 'light']);
    for (const result of results) {
      expect(result.ledger[0]).toMatchObject({ station, modelVersion: current, outcome: 'accepted', shadow: { version: swapped } });
      expect(result.ledger[0]!.shadow!.label).not.toBe((result.outputs.service as { service: string }).service);
    }

    const since = registry.state().history.find((event) => event.action === 'shadow-start')!.at;
    const observations = new ObservationStore(defaultObservationStoreFile(settings.dataDir));
    try {
      expect(observations.agreement(station, swapped, 'shadow', since).all).toEqual({ n: 2, agreed: 0, agreement: 0 });
    } finally {
      observations.close();
    }
  });
});
