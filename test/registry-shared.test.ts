/**
 * The learning registry on every store: one contract for the files under a data dir and for PostgreSQL,
 * then what the shared store is for — hosts with their own data dirs that serve the same version within
 * seconds of a promotion or a canary rollback, model files fetched by content and hash-checked, and two
 * hosts deciding at once without both winning, every attempt in the history; and a distill run whose
 * activities run on two hosts that share only the database.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelsCommand, rollbackCommand, shadowCommand } from '../cli/learning';
import { supportFactory } from '../factories/support';
import { createLearningActivities } from '../learning/activities';
import { postgresDistillArtifacts } from '../learning/distill-artifacts';
import { LiveModels } from '../learning/live';
import { learningDirOf, ModelRegistry, ModelRegistryError, openRegistryStore, type RegistryStore } from '../learning/model-registry';
import { loadRouter, routerRegistryName, trainAndRegisterRouter } from '../learning/router';
import { postgresRegistryStore, registryMigrations } from '../learning/registry-postgres';
import { sha256Of } from '../learning/registry-store';
import { migrate, openDatabase } from '../platform/postgres';
import { loadLabelledFile } from '../providers/local/dataset';
import { saveClassifier } from '../providers/local/model-file';
import { trainSizedClassifier } from '../providers/local/model-store';
import { startTestPostgres, type TestPostgres } from './support/postgres';

const tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'conveyor-registry-shared-'));
const examples = loadLabelledFile(path.join(__dirname, '..', 'data', 'demo', 'support-intents.csv')).slice(0, 120);
let postgres: TestPostgres;
const opened: RegistryStore[] = [];
let databases = 0;

beforeAll(async () => {
  postgres = await startTestPostgres();
});
afterAll(async () => {
  await Promise.all(opened.map((store) => store.close()));
  await postgres?.dispose();
  fs.rmSync(tempDir, { recursive: true, force: true });
});

const dirOf = (name: string) => fs.mkdtempSync(path.join(tempDir, `${name}-`));

/** A trained model file; different seeds give different versions. */
function modelFile(dir: string, seed: number): string {
  const file = path.join(dir, `model-${seed}.model.json`);
  saveClassifier(file, trainSizedClassifier(examples, 'small', seed), 'intent');
  return file;
}

/** One host: its own data dir, on the files or on a PostgreSQL database shared with other hosts. */
function host(name: string, databaseUrl?: string): RegistryStore {
  const store = openRegistryStore({ dataDir: dirOf(name), databaseUrl });
  opened.push(store);
  return store;
}

async function freshDatabase(): Promise<string> {
  return postgres.createDatabase(`registry_${++databases}`);
}

const backends: Array<{ name: string; open: () => Promise<RegistryStore> }> = [
  { name: 'files', open: async () => host('files') },
  { name: 'postgres', open: async () => host('postgres', await freshDatabase()) },
];

describe.each(backends)('the learning registry on $name', ({ open }) => {
  it('registers once per content version, promotes, rolls back to the previous version and refuses with nothing left', async () => {
    const store = await open();
    const registry = new ModelRegistry(store, 'classify-intent');
    const [first, second] = [await registry.register(modelFile(store.dataDir, 1), { by: 'test' }), await registry.register(modelFile(store.dataDir, 2), { by: 'test' })];
    expect(first.version).not.toBe(second.version);
    expect(await registry.register(modelFile(store.dataDir, 1), { by: 'test' })).toMatchObject({ version: first.version });
    await expect(registry.rollback('test', 'nothing yet')).rejects.toThrow(ModelRegistryError);
    await registry.promote(first.version, 'alice', 'first');
    await registry.promote(second.version, 'alice', 'second');
    expect(fs.readFileSync(registry.currentFile, 'utf8')).toBe(fs.readFileSync(second.file, 'utf8'));
    const rolledBack = await registry.rollback('bob', 'second misroutes refunds');
    expect(rolledBack).toMatchObject({ current: first.version, previous: [] });
    await expect(registry.rollback('bob', 'again')).rejects.toThrow(/nothing to roll back to/);
    await expect(registry.promote('intent-lr@1:nope', 'alice', 'unknown')).rejects.toThrow(/no model version intent-lr@1:nope/);
    const state = await registry.state();
    expect(state.history.map((event) => event.action)).toEqual(['register', 'register', 'promote', 'promote', 'rollback']);
    const applied = (await registry.history()).filter((attempt) => attempt.outcome === 'applied');
    expect(applied.map((attempt) => attempt.event)).toEqual(['register', 'register', 'promote', 'promote', 'rollback']);
  });

  it('runs a canary and a shadow, and the canary monitor decides a canary only once', async () => {
    const store = await open();
    const registry = new ModelRegistry(store, 'classify-intent');
    const stable = await registry.register(modelFile(store.dataDir, 3), { by: 'test' });
    const canary = await registry.register(modelFile(store.dataDir, 4), { by: 'test' });
    const shadow = await registry.register(modelFile(store.dataDir, 5), { by: 'test' });
    await registry.promote(stable.version, 'alice', 'stable');
    await registry.startShadow(shadow.version, 'alice', 'in shadow');
    await expect(registry.startShadow(stable.version, 'alice', 'current')).rejects.toThrow(/already current/);
    await registry.promote(canary.version, 'alice', 'canary', new Date(), { share: 0.5, agreementGate: 0.8, minObservations: 5, fullObservations: 50 });
    const state = await registry.state();
    expect(state).toMatchObject({ current: canary.version, canary: { version: canary.version, stable: stable.version }, shadow: { version: shadow.version } });
    const roles = new Set(Array.from({ length: 40 }, (_, index) => registry.servingFor(`job-${index}:intent`, state)!.role));
    expect(roles).toEqual(new Set(['canary', 'stable']));
    expect(registry.shadowOf(state)).toMatchObject({ version: shadow.version });
    await registry.keepCanary('canary-monitor', 'held', new Date(), { canaryVersion: canary.version });
    await expect(registry.rollback('canary-monitor', 'too late', new Date(), { canaryVersion: canary.version })).rejects.toThrow(/already decided/);
    expect(await registry.state()).toMatchObject({ current: canary.version, canary: null });
    await registry.stopShadow('alice', 'done');
    expect((await registry.state()).shadow).toBeNull();
  });
});

describe('the learning registry shared through PostgreSQL', () => {
  it('migrates idempotently: a second run applies nothing, the version table records the step once', async () => {
    const url = await freshDatabase();
    const db = openDatabase(url);
    try {
      expect(await migrate(db, 'learning-registry', registryMigrations)).toEqual({ applied: [1], version: 1 });
      expect(await migrate(db, 'learning-registry', registryMigrations)).toEqual({ applied: [], version: 1 });
      const store = host('migrated', url);
      expect((await store.read('classify-intent')).current).toBeNull();
      const rows = await db.query("SELECT version FROM conveyor_schema_migrations WHERE component = 'learning-registry'");
      expect(rows.rows).toEqual([{ version: 1 }]);
    } finally {
      await db.close();
    }
  });

  it("serves a model registered and promoted on host A on host B, its file fetched into B's data dir and hash-checked, within 5 s", async () => {
    const url = await freshDatabase();
    const [a, b] = [host('host-a', url), host('host-b', url)];
    const liveB = new LiveModels(b.dataDir, { registryStore: b });
    // B is serving (its mirror is warm and listening) before A changes anything.
    expect(await liveB.serving('classify-intent', 'modelFile', 'job-1:intent')).toBeUndefined();
    const registryA = new ModelRegistry(a, 'classify-intent');
    const entry = await registryA.register(modelFile(a.dataDir, 6), { by: 'test' });
    const promotedAt = performance.now();
    await registryA.promote(entry.version, 'alice', 'promoted on host A');
    let served: Awaited<ReturnType<LiveModels['serving']>>;
    while (!(served = await liveB.serving('classify-intent', 'modelFile', 'job-1:intent'))) {
      if (performance.now() - promotedAt > 5_000) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const seenAfterMs = performance.now() - promotedAt;
    expect(seenAfterMs).toBeLessThan(5_000);
    expect(served).toMatchObject({ choice: { version: entry.version, role: 'current' } });
    const fileOnB = served!.choice.file;
    expect(fileOnB.startsWith(b.dataDir)).toBe(true);
    expect(sha256Of(fs.readFileSync(fileOnB))).toBe(entry.sha256);
    expect(fs.readFileSync(fileOnB)).toEqual(fs.readFileSync(entry.file));

    // A file on B that does not match the registered hash is fetched again; content in the database that does not is refused.
    const registryB = new ModelRegistry(postgresRegistryStore({ url, dataDir: b.dataDir }), 'classify-intent');
    opened.push(registryB.store);
    fs.writeFileSync(fileOnB, 'tampered');
    expect(sha256Of(fs.readFileSync((await registryB.version(entry.version)).file))).toBe(entry.sha256);
    const db = openDatabase(url);
    try {
      await db.query("UPDATE conveyor_model_files SET content = convert_to('{}', 'UTF8') WHERE sha256 = $1", [entry.sha256]);
      const hostC = host('host-c', url);
      await expect(new ModelRegistry(hostC, 'classify-intent').version(entry.version)).rejects.toThrow(/has sha256 .*not the registered/);
    } finally {
      await db.close();
    }
  });

  it("serves a canary rolled back on host A from host B's next call", async () => {
    const url = await freshDatabase();
    const [a, b] = [host('canary-a', url), host('canary-b', url)];
    const registryA = new ModelRegistry(a, 'classify-intent');
    const stable = await registryA.register(modelFile(a.dataDir, 7), { by: 'test' });
    const canary = await registryA.register(modelFile(a.dataDir, 8), { by: 'test' });
    await registryA.promote(stable.version, 'alice', 'stable');
    await registryA.promote(canary.version, 'alice', 'canary for everyone', new Date(), { share: 1, agreementGate: 0.8, minObservations: 5, fullObservations: 50 });
    const liveB = new LiveModels(b.dataDir, { registryStore: b });
    expect(await liveB.serving('classify-intent', 'modelFile', 'job-2:intent')).toMatchObject({ choice: { version: canary.version, role: 'canary' } });
    await registryA.rollback('canary-monitor', 'agreement below the gate', new Date(), { canaryVersion: canary.version });
    const rolledBackAt = performance.now();
    let served = await liveB.serving('classify-intent', 'modelFile', 'job-2:intent');
    while (served?.choice.version !== stable.version && performance.now() - rolledBackAt < 5_000) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      served = await liveB.serving('classify-intent', 'modelFile', 'job-2:intent');
    }
    expect(performance.now() - rolledBackAt).toBeLessThan(5_000);
    expect(served).toMatchObject({ choice: { version: stable.version, role: 'current' } });
  });

  it('keeps serving the version it last saw while the database is down, and follows a promotion made after it is back', async () => {
    const url = await freshDatabase();
    const messages: string[] = [];
    const a = host('outage-a', url);
    const b = postgresRegistryStore({ url, dataDir: dirOf('outage-b'), log: (message) => messages.push(message) });
    opened.push(b);
    const registryA = new ModelRegistry(a, 'classify-intent');
    const first = await registryA.register(modelFile(a.dataDir, 14), { by: 'test' });
    const second = await registryA.register(modelFile(a.dataDir, 15), { by: 'test' });
    await registryA.promote(first.version, 'alice', 'first');
    const liveB = new LiveModels(b.dataDir, { registryStore: b });
    expect(await liveB.serving('classify-intent', 'modelFile', 'job-3:intent')).toMatchObject({ choice: { version: first.version } });
    expect(b.listening).toBe(true);
    await postgres.stop();
    try {
      let served: Awaited<ReturnType<LiveModels['serving']>>;
      // The listener notices the drop; reads fall back to the last state seen instead of failing the step.
      for (let attempt = 0; attempt < 3; attempt += 1) served = await liveB.serving('classify-intent', 'modelFile', 'job-3:intent');
      expect(served!).toMatchObject({ choice: { version: first.version } });
      expect(messages.join('\n')).toMatch(/cannot be reached .*serving the versions last seen/);
      expect(messages.join('\n')).not.toContain(new URL(url).password);
    } finally {
      await postgres.start();
    }
    await registryA.promote(second.version, 'alice', 'second, after the restart');
    const promotedAt = performance.now();
    let served = await liveB.serving('classify-intent', 'modelFile', 'job-3:intent');
    while (served?.choice.version !== second.version && performance.now() - promotedAt < 5_000) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      served = await liveB.serving('classify-intent', 'modelFile', 'job-3:intent');
    }
    expect(served).toMatchObject({ choice: { version: second.version } });
    expect(b.listening).toBe(true);
  });

  it('loads a router trained and registered on host A on host B, from its own copy of the file', async () => {
    const url = await freshDatabase();
    const [a, b] = [host('router-a', url), host('router-b', url)];
    const examples = Array.from({ length: 80 }, (_, index) => {
      const hard = index % 2 === 0;
      return { text: hard ? `prove the theorem about eigenvalues number ${index}` : `what is the capital city number ${index}`, defaultSuffices: !hard };
    });
    const registered = await trainAndRegisterRouter({ id: 'shared', examples, targetLargeShare: 0.5, by: 'test', dataDir: a });
    const [onA, onB] = [await loadRouter(a, 'shared'), await loadRouter(b, 'shared')];
    expect(onB).not.toBe(onA);
    expect(onB).toMatchObject({ version: registered.version, threshold: registered.threshold });
    for (const text of ['prove the theorem about eigenvalues', 'what is the capital city']) expect(onB.decide(text)).toEqual(onA.decide(text));
    expect(fs.readdirSync(path.join(learningDirOf(b.dataDir, routerRegistryName('shared')), 'versions'))).toHaveLength(1);
  });

  it('conveyor rollback, shadow and models act on the shared registry when CONVEYOR_DATABASE_URL names the database', async () => {
    const url = await freshDatabase();
    const env = { CONVEYOR_DATABASE_URL: url };
    const a = host('cli-a', url);
    const registryA = new ModelRegistry(a, 'classify-intent');
    const first = await registryA.register(modelFile(a.dataDir, 16), { by: 'test' });
    const second = await registryA.register(modelFile(a.dataDir, 17), { by: 'test' });
    await registryA.promote(first.version, 'alice', 'first');
    await registryA.promote(second.version, 'alice', 'second');
    const io = { out: '', err: '' };
    const cli = { stdout: (text: string) => (io.out += text), stderr: (text: string) => (io.err += text) };
    const otherHost = dirOf('cli-b');
    expect(await rollbackCommand(['--station', 'classify-intent', '--data-dir', otherHost, '--by', 'bob'], cli, env)).toBe(0);
    expect((await registryA.state()).current).toBe(first.version);
    expect(await rollbackCommand(['--station', 'classify-intent', '--data-dir', otherHost, '--by', 'bob'], cli, env)).toBe(1);
    expect(io.err).toMatch(/nothing to roll back to/);
    expect(await shadowCommand(['--station', 'classify-intent', '--data-dir', otherHost, '--version', second.version, '--by', 'carol'], cli, env)).toBe(0);
    expect((await registryA.state()).shadow).toMatchObject({ version: second.version, by: 'carol' });
    io.out = '';
    expect(await modelsCommand(['--station', 'classify-intent', '--data-dir', otherHost, '--json'], cli, env)).toBe(0);
    const shown = JSON.parse(io.out) as { current: string; attempts: Array<{ event: string; outcome: string; by: string }> };
    expect(shown.current).toBe(first.version);
    expect(shown.attempts.filter((attempt) => attempt.event === 'rollback').map((attempt) => [attempt.outcome, attempt.by])).toEqual([
      ['applied', 'bob'],
      ['refused', 'bob'],
    ]);
    expect(io.out + io.err).not.toContain(new URL(url).password);
  });

  it('lets one of two hosts deciding a canary at once win; the other is refused, and both attempts are in the history', async () => {
    const url = await freshDatabase();
    const [a, b] = [host('race-a', url), host('race-b', url)];
    const registryA = new ModelRegistry(a, 'classify-intent');
    const registryB = new ModelRegistry(b, 'classify-intent');
    const stable = await registryA.register(modelFile(a.dataDir, 9), { by: 'test' });
    const canary = await registryA.register(modelFile(a.dataDir, 10), { by: 'test' });
    await registryA.promote(stable.version, 'alice', 'stable');
    await registryA.promote(canary.version, 'alice', 'canary', new Date(), { share: 0.5, agreementGate: 0.8, minObservations: 5, fullObservations: 50 });

    const outcomes = await Promise.allSettled([
      registryA.rollback('monitor-a', 'agreement below the gate', new Date(), { canaryVersion: canary.version }),
      registryB.keepCanary('monitor-b', 'served enough items', new Date(), { canaryVersion: canary.version }),
    ]);
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
    const refused = outcomes.find((outcome) => outcome.status === 'rejected') as PromiseRejectedResult;
    expect(refused.reason).toBeInstanceOf(ModelRegistryError);
    expect((refused.reason as ModelRegistryError).message).toMatch(/already decided/);

    const state = await registryB.state();
    expect(state.canary).toBeNull();
    const rolledBack = outcomes[0].status === 'fulfilled';
    expect(state.current).toBe(rolledBack ? stable.version : canary.version);
    const history = await registryA.history();
    const decisions = history.filter((attempt) => attempt.event === 'rollback' || attempt.event === 'canary-keep');
    expect(decisions.map((attempt) => attempt.outcome).sort()).toEqual(['applied', 'refused']);
    expect(new Set(decisions.map((attempt) => attempt.by))).toEqual(new Set(['monitor-a', 'monitor-b']));
    const applied = decisions.find((attempt) => attempt.outcome === 'applied')!;
    const revision = history.filter((attempt) => attempt.outcome === 'applied').length;
    expect(applied.revision).toBe(revision);
    expect(decisions.find((attempt) => attempt.outcome === 'refused')!.reason).toMatch(/refused: .*already decided/);
  });

  it('applies a promotion racing a rollback on top of it when still valid, never losing either', async () => {
    const url = await freshDatabase();
    const [a, b] = [host('promote-a', url), host('promote-b', url)];
    const registryA = new ModelRegistry(a, 'classify-intent');
    const registryB = new ModelRegistry(b, 'classify-intent');
    const first = await registryA.register(modelFile(a.dataDir, 11), { by: 'test' });
    const second = await registryA.register(modelFile(a.dataDir, 12), { by: 'test' });
    const third = await registryA.register(modelFile(a.dataDir, 13), { by: 'test' });
    await registryA.promote(first.version, 'alice', 'first');
    await registryA.promote(second.version, 'alice', 'second');
    await Promise.all([registryA.rollback('bob', 'second misroutes refunds'), registryB.promote(third.version, 'carol', 'third')]);
    const state = await registryA.state();
    // Whichever landed first, the other was re-applied to its result: both are in the state's history.
    expect(state.history.slice(-2).map((event) => event.action).sort()).toEqual(['promote', 'rollback']);
    // Rollback then promotion: the third serves; promotion then rollback: back to the second.
    expect(state.current).toBe(state.history.at(-1)!.action === 'promote' ? third.version : second.version);
    const revisions = (await registryA.history()).filter((attempt) => attempt.outcome === 'applied').map((attempt) => attempt.revision);
    expect(revisions).toEqual(revisions.map((_, index) => index + 1));
  });
});

describe("a distill run's activities on two hosts sharing only PostgreSQL", () => {
  it('curates on A, trains on B, evaluates on A and rewrites the report on B, each reading what the other left', async () => {
    const url = await freshDatabase();
    const [dirA, dirB] = [dirOf('distill-a'), dirOf('distill-b')];
    const demo = loadLabelledFile(path.join(__dirname, '..', 'data', 'demo', 'support-intents.csv'));
    const goldenFile = path.join(tempDir, 'distill-golden.jsonl');
    const baseFile = path.join(tempDir, 'distill-base.jsonl');
    fs.writeFileSync(goldenFile, demo.slice(0, 80).map((item) => JSON.stringify(item)).join('\n'));
    fs.writeFileSync(baseFile, demo.slice(80, 200).map((item) => JSON.stringify(item)).join('\n'));
    const artifactsA = postgresDistillArtifacts(url);
    const artifactsB = postgresDistillArtifacts(url);
    const [registryA, registryB] = [openRegistryStore({ dataDir: dirA, databaseUrl: url }), openRegistryStore({ dataDir: dirB, databaseUrl: url })];
    opened.push(registryA, registryB);
    const liveA = new LiveModels(dirA, { registryStore: registryA });
    const liveB = new LiveModels(dirB, { registryStore: registryB });
    const hostA = createLearningActivities({ factory: supportFactory, dataDir: dirA, databaseUrl: url, live: liveA, distillArtifacts: artifactsA });
    const hostB = createLearningActivities({ factory: supportFactory, dataDir: dirB, databaseUrl: url, live: liveB, distillArtifacts: artifactsB });
    const runId = 'distill-two-hosts';
    try {
      const { settings, curated } = await hostA.curateDistillData({ request: { station: 'classify-intent', goldenDataFile: goldenFile, baseDataFile: baseFile, reviewers: ['alice'] }, runId });
      expect(curated.trainFile.startsWith(dirA)).toBe(true);
      // Nothing of A's run folder reaches B but through the database.
      fs.rmSync(curated.runDir, { recursive: true });
      const candidate = await hostB.trainDistillCandidate({ settings, curated });
      expect(candidate.file.startsWith(dirB)).toBe(true);
      fs.rmSync(path.dirname(candidate.file), { recursive: true });
      const report = await hostA.evaluateDistillCandidate({ settings, curated, candidate });
      expect(report.candidate.version).toBe(candidate.version);
      expect(report.files.json.startsWith(dirA)).toBe(true);
      // The candidate is in the shared registry: B sees it and has its file after fetching.
      const onB = await new ModelRegistry(liveB.registryStore, 'classify-intent').version(candidate.version);
      expect(onB.file.startsWith(dirB)).toBe(true);
      await hostB.writeDistillReport({ report: { ...report, shadow: { version: candidate.version, agreement: { station: 'classify-intent', version: candidate.version, role: 'shadow', since: report.generatedAt, recorded: 0, all: { n: 0, agreed: 0, agreement: 0 }, checked: { n: 0, agreed: 0, agreement: 0 } }, gate: 0.8, minObservations: 0, passed: true, detail: 'shadowed on B' } } });
      const rewritten = JSON.parse(fs.readFileSync(path.join(path.dirname(candidate.file), 'report.json'), 'utf8')) as { runId: string; shadow: { detail: string } };
      expect(rewritten).toMatchObject({ runId, shadow: { detail: 'shadowed on B' } });
      const db = openDatabase(url);
      try {
        const names = await db.query<{ name: string }>('SELECT name FROM conveyor_distill_artifacts WHERE run_id = $1 ORDER BY name', [runId]);
        expect(names.rows.map((row) => row.name)).toEqual(['candidate.model.json', 'held-out.jsonl', 'report.json', 'report.md', 'train.jsonl']);
      } finally {
        await db.close();
      }
      await expect(artifactsB.get('another-run', curated.trainFile, dirB)).rejects.toThrow(/distill run another-run: no train\.jsonl in postgres/);
    } finally {
      await Promise.all([artifactsA.close(), artifactsB.close(), liveA.close(), liveB.close()]);
    }
  });
});
