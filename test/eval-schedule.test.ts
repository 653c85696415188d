/**
 * Evaluation as continuous monitoring: `conveyor eval --schedule` registers a Temporal Schedule whose
 * runs re-evaluate the model; when the model regresses, the run fails visibly.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkflowFailedError } from '@temporalio/client';
import type { ConveyorClient } from '../client';
import { parseEvalArguments } from '../cli/eval';
import { trainFromFile } from '../cli/train';
import { loadLabelledFile } from '../providers/local/dataset';
import { createSeededRandom, shuffleInPlace, splitHeldOut } from '../providers/local/prng';
import { bundleConveyorWorkflows } from '../workers/worker';
import { eventually, recordHistory, startWorker, tempDir, testClient, testSettings, uniqueId, type RunningWorker } from './support/temporal';

let worker: RunningWorker;
let client: ConveyorClient;
const settings = testSettings(uniqueId('eval-schedule'));
const dir = tempDir('eval-schedule');

const toCsv = (rows: { text: string; label: string }[]) => ['text,label', ...rows.map((row) => `"${row.text.replace(/"/g, '""')}",${row.label}`)].join('\n');

beforeAll(async () => {
  worker = await startWorker({ settings, bundle: await bundleConveyorWorkflows() });
  client = await testClient(settings);
});

afterAll(async () => {
  await client?.close();
  await worker?.stop();
});

describe('scheduled evaluation', () => {
  it('checks its flags', () => {
    expect(parseEvalArguments(['--dataset', 'banking77', '--schedule', 'every day'])).toMatchObject({ ok: false, problem: expect.stringMatching(/5-field cron/) as unknown });
    expect(parseEvalArguments(['--dataset', 'banking77', '--baseline', '0.9'])).toMatchObject({ ok: false, problem: expect.stringMatching(/with --schedule only/) as unknown });
    expect(parseEvalArguments(['--dataset', 'banking77', '--schedule', '0 6 * * *', '--tolerance', '2'])).toMatchObject({ ok: false, problem: expect.stringMatching(/--tolerance must be a number from 0 to 1/) as unknown });
    expect(parseEvalArguments(['--dataset', 'banking77', '--schedule', '0 6 * * *'])).toMatchObject({ ok: true, value: { schedule: { cron: '0 6 * * *', tolerance: 0.02 } } });
  });

  it('runs on a Temporal Schedule, and a regression surfaces as a failed run', async () => {
    const examples = loadLabelledFile(path.join(__dirname, '..', 'data', 'demo', 'support-intents.csv'));
    const { train, heldOut } = splitHeldOut(examples, 0.3, 11);
    const trainFile = path.join(dir, 'train.csv');
    const testFile = path.join(dir, 'test.csv');
    fs.writeFileSync(trainFile, toCsv(train));
    fs.writeFileSync(testFile, toCsv(heldOut));
    const modelFile = path.join(dir, 'model.json');
    trainFromFile({ dataPath: trainFile, outPath: modelFile, modelSize: 'small' });

    const scheduleId = uniqueId('eval');
    const schedule = await client.scheduleEvaluation(scheduleId, '0 6 * * *', { dataFile: testFile, modelFile, threshold: 0.5, baselineAccuracy: 0.8, tolerance: 0.05 });
    const runsOf = async (status: 'Completed' | 'Failed') => {
      const runs = [];
      for await (const run of client.temporal.workflow.list({ query: `WorkflowType = "scheduledEvaluationWorkflow" AND ExecutionStatus = "${status}"` })) {
        if (run.workflowId.startsWith(`${scheduleId}-run-`)) runs.push(run);
      }
      return runs;
    };
    try {
      await schedule.trigger();
      const [healthy] = await eventually(async () => ((await runsOf('Completed')).length === 1 ? runsOf('Completed') : undefined), 60_000);
      const healthyResult = (await client.temporal.workflow.getHandle(healthy!.workflowId).result()) as { modelAccuracy: number; n: number };
      expect(healthyResult.n).toBe(heldOut.length);
      expect(healthyResult.modelAccuracy).toBeGreaterThan(0.85);
      await recordHistory(client, healthy!.workflowId, 'evaluation-scheduled-healthy');

      // A bad model replaces the good one: trained on shuffled labels.
      const labels = shuffleInPlace(train.map((example) => example.label), createSeededRandom(3));
      fs.writeFileSync(trainFile, toCsv(train.map((example, index) => ({ text: example.text, label: labels[index]! }))));
      trainFromFile({ dataPath: trainFile, outPath: modelFile, modelSize: 'small' });
      await schedule.trigger();
      const [failed] = await eventually(async () => ((await runsOf('Failed')).length === 1 ? runsOf('Failed') : undefined), 60_000);
      const failure = await client.temporal.workflow.getHandle(failed!.workflowId).result().then(
        () => undefined,
        (error: unknown) => error as WorkflowFailedError,
      );
      expect(failure).toBeInstanceOf(WorkflowFailedError);
      expect((failure!.cause as { type?: string }).type).toBe('EvaluationRegressionError');
      expect(failure!.cause?.message).toMatch(/model accuracy 0\.\d+ fell below the baseline 0\.8000 minus the tolerance 0\.05/);
      await recordHistory(client, failed!.workflowId, 'evaluation-scheduled-regression');
    } finally {
      await schedule.delete();
    }
  });
});
