/**
 * The promoted model serves: every Conveyor worker runs the small tier on the intent model
 * the learning registry calls current, every ledger entry names that version, and after a rollback the
 * next jobs record the restored one — no worker restart.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConveyorClient } from '../client';
import { ModelRegistry } from '../learning/model-registry';
import { loadLabelledFile } from '../providers/local/dataset';
import { saveClassifier } from '../providers/local/model-file';
import { trainSizedClassifier } from '../providers/local/model-store';
import { bundleConveyorWorkflows } from '../workers/worker';
import { startWorker, testClient, testSettings, uniqueId, type RunningWorker } from './support/temporal';

const settings = testSettings(uniqueId('serving'));
let worker: RunningWorker;
let client: ConveyorClient;
let registry: ModelRegistry;
let first: string;
let second: string;

beforeAll(async () => {
  const examples = loadLabelledFile(path.join(__dirname, '..', 'data', 'demo', 'support-intents.csv'));
  registry = new ModelRegistry(settings.dataDir, 'classify-intent');
  const versionOf = async (seed: number) => {
    const file = path.join(settings.dataDir, `intent-${seed}.model.json`);
    saveClassifier(file, trainSizedClassifier(examples, 'small', seed), 'intent');
    const { version } = await registry.register(file, { by: 'test' });
    await registry.promote(version, 'test', `model trained with seed ${seed}`);
    return version;
  };
  first = await versionOf(1);
  second = await versionOf(2);
  worker = await startWorker({ settings, bundle: await bundleConveyorWorkflows(), gateway: { env: {} } });
  client = await testClient(settings);
});

afterAll(async () => {
  await client?.close();
  await worker?.stop();
});

async function servedVersion(): Promise<string | undefined> {
  const jobId = uniqueId('served');
  await client.startJob({ id: jobId, type: 'triage', policy: { confidenceThresholds: { 'classify-intent': 0 } }, input: { text: 'Where is my order #A123?' } });
  const result = await client.getResult(jobId);
  return result.ledger[0]?.modelVersion;
}

describe('serving the learning registry’s model', () => {
  it('records the promoted version, and the restored one after a rollback', async () => {
    expect(first).not.toBe(second);
    expect(await servedVersion()).toBe(second);
    await registry.rollback('alice', 'the new model misroutes refunds');
    expect((await registry.state()).current).toBe(first);
    expect(await servedVersion()).toBe(first);
  });
});
