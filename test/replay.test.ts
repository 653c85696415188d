/**
 * Replays every recorded history in test/fixtures/histories against today's workflow code, so a
 * nondeterministic change to a workflow fails CI. Record new fixtures with
 * `CONVEYOR_RECORD_HISTORIES=1 npx vitest run test/factory.test.ts test/durability.test.ts test/learning-live.test.ts`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { installRuntimeLogging } from '../platform/logging';
import { bundleConveyorWorkflows } from '../workers/worker';

const fixturesDir = path.join(__dirname, 'fixtures', 'histories');
const fixtures = fs.readdirSync(fixturesDir).filter((file) => file.endsWith('.json')).sort();

describe('recorded histories replay without nondeterminism', () => {
  it('has fixtures for the factory’s paths', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(10);
  });

  it('replays each of them', async () => {
    installRuntimeLogging();
    const workflowBundle = await bundleConveyorWorkflows();
    const histories = fixtures.map((file) => ({
      workflowId: path.basename(file, '.json'),
      history: historyFromJSON(JSON.parse(fs.readFileSync(path.join(fixturesDir, file), 'utf8'))),
    }));
    const failures: string[] = [];
    let replayed = 0;
    for await (const result of Worker.runReplayHistories({ workflowBundle }, histories)) {
      replayed++;
      if (result.error) failures.push(`${result.workflowId}: ${result.error.name}: ${result.error.message}`);
    }
    expect(failures).toEqual([]);
    expect(replayed).toBe(fixtures.length);
  });
});
