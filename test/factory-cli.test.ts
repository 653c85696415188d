/**
 * `conveyor factory check|show` as a user runs them: the real command in a subprocess, on the built-in
 * support factory, a team's module (test/fixtures/factories/podcast.ts) and a broken copy of it. No
 * Temporal server is needed: a factory is checked before anything connects.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { supportFactory } from '../factories/support';
import { snapshotJobType } from '../factory';
import { factory as podcastFactory } from './fixtures/factories/podcast';
import { conveyor, conveyorBin, repoRoot, runProcess } from './support/cli';
import { missingTrainingFile } from './fixtures/factories/missing-training';

const env: NodeJS.ProcessEnv = { ...process.env };
delete env.NODE_OPTIONS;

const fixtures = 'test/fixtures/factories';
const lines = (text: string) => text.trimEnd().split('\n');

describe('conveyor factory check', () => {
  it('passes the built-in support factory when no module is named', async () => {
    const result = await conveyor(['factory', 'check'], env);
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('factory support 1.0.0: 3 job types, 8 stations, 1 action — OK\n');
    expect(result.code).toBe(0);
  });

  it("passes a team's module (its export named factory), resolved against the current directory", async () => {
    const fromRoot = await conveyor(['factory', 'check', `${fixtures}/podcast.ts`], env);
    expect(fromRoot.stdout).toBe('factory podcast 0.3.0: 1 job type, 2 stations, 1 action — OK\n');
    expect(fromRoot.code).toBe(0);
    const fromFixtures = await runProcess(process.execPath, [conveyorBin, 'factory', 'check', 'podcast.ts'], { env, cwd: path.join(repoRoot, fixtures) });
    expect(fromFixtures.stdout).toBe(fromRoot.stdout);
    expect(fromFixtures.code).toBe(0);
  });

  it('exits 2 with every problem of a broken factory, one per line, though defineFactory threw at import', async () => {
    const result = await conveyor(['factory', 'check', `${fixtures}/broken.ts`], env);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(lines(result.stderr)).toEqual([
      `conveyor factory check: ${fixtures}/broken.ts: the factory has 3 problems:`,
      'station "find-moments" → confidenceThreshold: must be a number in [0, 1]; got 1.2',
      'job type "clip-episode" → recipe.steps[1].station: unknown station "write-captions" (stations: find-moments, write-caption)',
      "job type \"clip-episode\" → policy.approval.reviewers: must list at least one reviewer (who may approve this job type's sensitive steps)",
    ]);
  });

  it('exits 2 naming an offline classifier whose training file is missing, though the definition is valid', async () => {
    const result = await conveyor(['factory', 'check', `${fixtures}/missing-training.ts`], env);
    expect(result.code).toBe(2);
    expect(lines(result.stderr)).toEqual([
      `conveyor factory check: ${fixtures}/missing-training.ts: the factory has 1 problem:`,
      `station "write-caption" → local.trainingFile: ${missingTrainingFile} does not exist`,
    ]);
  });

  it('names the file and what went wrong: it exports no factory (and what it does export), its import fails, it does not exist', async () => {
    const noFactory = await conveyor(['factory', 'check', `${fixtures}/no-factory.ts`], env);
    expect(noFactory.code).toBe(2);
    expect(lines(noFactory.stderr)).toEqual([
      `conveyor factory check: ${fixtures}/no-factory.ts exports no factory: expected a default export or an export named "factory" made with defineFactory; ` +
        'it exports findMoments (object), publishClips (object), version (string)',
    ]);
    const failing = await conveyor(['factory', 'check', `${fixtures}/fails-to-load.ts`], env);
    expect(failing.code).toBe(2);
    expect(lines(failing.stderr)).toEqual([`conveyor factory check: ${fixtures}/fails-to-load.ts failed to load: Error: the model file models/captions.json is missing`]);
    const missing = await conveyor(['factory', 'show', `${fixtures}/nowhere.ts`], env);
    expect(missing.code).toBe(2);
    expect(lines(missing.stderr)).toEqual([`conveyor factory show: ${fixtures}/nowhere.ts: no such file (${path.join(repoRoot, fixtures, 'nowhere.ts')})`]);
  });

  it('refuses bad usage with exit code 2 and the usage', async () => {
    const cases = [
      [['factory'], 'missing check or show'],
      [['factory', 'list'], 'unknown subcommand "list" (check, show)'],
      [['factory', 'check', '--json'], '--json applies to factory show only'],
      [['factory', 'show', 'a.ts', 'b.ts'], 'expected one module, got 2: a.ts b.ts'],
    ] as const;
    const results = await Promise.all(cases.map(([args]) => conveyor(args, env)));
    for (const [index, [args, message]] of cases.entries()) {
      const result = results[index]!;
      expect(result.code, args.join(' ')).toBe(2);
      expect(lines(result.stderr)[0]).toBe(`conveyor factory: ${message}`);
      expect(result.stderr).toContain('usage: conveyor factory check [<module>] | conveyor factory show [<module>] [--json]');
    }
  });
});

describe('conveyor factory show', () => {
  it('lists the support factory: job types with their definition versions, stations with their confidence rules, actions with their settings', async () => {
    const result = await conveyor(['factory', 'show'], env);
    expect(result.code).toBe(0);
    const out = lines(result.stdout).map((line) => line.trimEnd());
    expect(out[0]).toBe('factory support 1.0.0 (definition API 1)');
    const row = (name: string) => out.find((line) => line.startsWith(`${name} `))?.split(/ {2,}/);
    expect(row('support-ticket')).toEqual([
      'support-ticket',
      'intent → entities → risk → reply → action → act',
      'recipe',
      '$0.0500',
      'alice, bob, carol, demo-reviewer, demo-reviewer-2',
      'escalate',
      snapshotJobType(supportFactory, 'support-ticket').version,
    ]);
    expect(row('triage')?.at(-1)).toBe(snapshotJobType(supportFactory, 'triage').version);
    expect(row('classify-intent')).toEqual(['classify-intent', 'small', '0.7', 'the output\'s "confidence" field', 'classifier "intent" trained on support-intents.csv (10 labels)', 'intent']);
    expect(row('extract-entities')).toEqual(['extract-entities', 'small', '0.5', "the model's own probability, else 0.9", "the factory's own answerer"]);
    expect(row('act')).toEqual(['act', 'yes', 'Executes the proposed action once, after approval when it is sensitive.']);
    expect(out).toContain('act in call-review: {"refundThresholdUsd":0,"outboundMessagesNeedApproval":true,"highRiskNeedsApproval":true,"twoPersonKinds":[]}');
  });

  it("--json prints a team's factory as the snapshots describe it", async () => {
    const result = await conveyor(['factory', 'show', `${fixtures}/podcast.ts`, '--json'], env);
    expect(result.code).toBe(0);
    const view = result.json<{
      factory: { name: string; version: string };
      api: number;
      jobTypes: { name: string; version: string; hash: string; recipe: { steps: { id: string }[] }; policy: { planner: string; budgetUsd: number; approval: { reviewers: string[]; onTimeout: string } } }[];
      stations: { name: string; defaultTier: string; confidenceThreshold: number; confidence: string; local: string; learnable?: unknown; outputSchema: object }[];
      actions: { name: string; sensitivityRule: boolean; settings: Record<string, unknown> }[];
    }>();
    const snapshot = snapshotJobType(podcastFactory, 'clip-episode');
    expect(view.factory).toEqual({ name: 'podcast', version: '0.3.0' });
    expect(view.api).toBe(snapshot.api);
    expect(view.jobTypes).toEqual([{ ...snapshot.jobType, version: snapshot.version, hash: snapshot.hash }]);
    expect(view.jobTypes[0]!.version).toMatch(/^0\.3\.0\+[0-9a-f]{12}$/);
    expect(view.stations).toEqual(Object.values(snapshot.stations));
    expect(view.stations.map(({ name, defaultTier, confidenceThreshold, confidence, local }) => ({ name, defaultTier, confidenceThreshold, confidence, local }))).toEqual([
      { name: 'find-moments', defaultTier: 'large', confidenceThreshold: 0.6, confidence: "the model's own probability; answers without one are accepted unscored", local: 'none (offline, the step escalates)' },
      { name: 'write-caption', defaultTier: 'small', confidenceThreshold: 0.75, confidence: 'the output\'s "confidence" field', local: "the factory's own answerer" },
    ]);
    expect(view.actions).toEqual([{ ...snapshot.actions['publish-clips'], settings: { 'clip-episode': { maxClips: 3 } } }]);
    expect(view.actions[0]!.sensitivityRule).toBe(true);
  });
});
