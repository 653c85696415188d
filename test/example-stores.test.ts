/**
 * The example stores: one contract for the embedded SQLite store and the shared Redis and PostgreSQL
 * stores (PII redacted before writing, one example per job step, a reviewer's edit replaces an
 * escalation's answer and never the reverse, also when collections race, oldest first), then what the
 * shared stores are for — several workers collecting into one set that any worker's distill run curates
 * — and how the store is chosen from the settings and the environment.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { supportFactory } from '../factories/support';
import { createLearningActivities } from '../learning/activities';
import { ExampleStore } from '../learning/example-store';
import { createPostgresExampleRepository, createRedisExampleRepository, openExampleRepository, sqliteExampleRepository, type ExampleRepository } from '../learning/example-repository';
import { openDatabase } from '../platform/postgres';
import { startRedis, type TestRedis } from '../fakes/redis-server';
import { bundleConveyorWorkflows } from '../workers/worker';
import { startTestPostgres, type TestPostgres } from './support/postgres';
import { eventually, startWorker, tempDir, testClient, testSettings, uniqueId } from './support/temporal';

let redis: TestRedis;
let postgres: TestPostgres;
let prefixes = 0;

beforeAll(async () => {
  [redis, postgres] = await Promise.all([startRedis(), startTestPostgres()]);
});

afterAll(async () => {
  await Promise.all([redis?.stop(), postgres?.dispose()]);
});

const stores: { name: string; open: () => Promise<ExampleRepository> }[] = [
  { name: 'sqlite', open: async () => sqliteExampleRepository(new ExampleStore(path.join(tempDir('examples'), 'examples.sqlite')), true) },
  { name: 'redis', open: async () => createRedisExampleRepository({ url: redis.url, keyPrefix: `contract${++prefixes}:` }) },
  { name: 'postgres', open: async () => createPostgresExampleRepository({ url: await postgres.createDatabase(`examples_${++prefixes}`) }) },
];

const request = { station: 'classify-intent', jobType: 'support-ticket', jobId: 'job-1', stepId: 'intent', text: 'Refund me, mail jane@example.com', label: 'refund_request', source: 'escalation' as const };

describe.each(stores)('example store contract: $name', ({ open }) => {
  it('redacts PII, stores a step once, lets a reviewer edit replace an escalation and not the reverse', async () => {
    const store = await open();
    try {
      expect((await store.collect(request)).stored).toBe(true);
      expect((await store.collect(request)).stored).toBe(false);
      const edited = await store.collect({ ...request, label: 'cancel_order', source: 'reviewer-edit', answeredBy: 'reviewer:alice' });
      expect(edited).toMatchObject({ stored: true, example: { label: 'cancel_order', source: 'reviewer-edit', weight: 3, answeredBy: 'reviewer:alice' } });
      expect((await store.collect({ ...request, label: 'complaint' })).stored).toBe(false);
      await store.collect({ ...request, jobId: 'job-2', text: 'Where is order #A1?', label: 'order_status' });
      await store.collect({ ...request, station: 'check-relevance', label: 'relevant' });
      const examples = await store.examples('classify-intent');
      expect(examples.map((example) => [example.jobId, example.label])).toEqual([
        ['job-1', 'cancel_order'],
        ['job-2', 'order_status'],
      ]);
      expect(examples[0]!.text).not.toContain('jane@example.com');
      expect(examples[0]!.text).toContain('[EMAIL_1]');
      await expect(store.collect({ ...request, label: '' })).rejects.toThrow(/label/);
    } finally {
      await store.close();
    }
  });

  it('keeps one example per step when collections of it race, the reviewer’s edit with the first text and time', async () => {
    const store = await open();
    try {
      const step = { ...request, station: 'racing-intent', jobId: 'job-race' };
      const escalations = Array.from({ length: 6 }, (_, index) => ({ ...step, label: `escalated-${index}`, text: `first text ${index}` }));
      const edit = { ...step, label: 'cancel_order', source: 'reviewer-edit' as const, answeredBy: 'reviewer:bob', text: 'the edit text' };
      const results = await Promise.all([...escalations.slice(0, 3), edit, ...escalations.slice(3)].map((collected) => store.collect(collected)));
      const examples = await store.examples('racing-intent');
      expect(examples).toHaveLength(1);
      expect(examples[0]).toMatchObject({ label: 'cancel_order', source: 'reviewer-edit', weight: 3, answeredBy: 'reviewer:bob' });
      // The row's first writer chose the text and time; the edit only replaced the answer.
      const first = results.find((result) => result.stored && result.example.source === 'escalation') ?? results.find((result) => result.stored)!;
      expect(examples[0]!.text).toBe(first.example.text);
      expect(examples[0]!.createdAt).toBe(first.example.createdAt);
      expect(results.filter((result) => result.stored && result.example.source === 'escalation').length).toBeLessThanOrEqual(1);
    } finally {
      await store.close();
    }
  });
});

describe('the shared store in Redis', () => {
  it('collects from several workers into one set that a distill run on any worker curates, with no PII in Redis', async () => {
    const env = { CONVEYOR_EXAMPLES_REDIS_URL: redis.url };
    const workers = [0, 1].map(() => createLearningActivities({ factory: supportFactory, dataDir: tempDir('worker'), env }));
    const texts = Array.from({ length: 12 }, (_, index) => `Please refund order #B${index}, call me at +44 20 7946 09${String(index).padStart(2, '0')}`);
    for (const [index, text] of texts.entries()) {
      // Each step collected by one worker, and retried on the other: still one example.
      const worker = workers[index % 2]!;
      const other = workers[(index + 1) % 2]!;
      const collected = { station: 'shared-intent', jobType: 'support-ticket', jobId: `job-${index}`, stepId: 'intent', text, label: index % 3 === 0 ? 'cancel_order' : 'refund_request', source: 'escalation' as const };
      expect((await worker.collectExample(collected)).stored).toBe(true);
      expect((await other.collectExample(collected)).stored).toBe(false);
    }
    const dataDir = tempDir('distill-on-redis');
    const golden = path.join(dataDir, 'golden.jsonl');
    fs.writeFileSync(golden, [{ text: 'cancel it', label: 'cancel_order' }, { text: 'money back', label: 'refund_request' }].map((row) => JSON.stringify(row)).join('\n'));
    const { curated } = await createLearningActivities({ factory: supportFactory, dataDir, env }).curateDistillData({ request: { station: 'shared-intent', goldenDataFile: golden, reviewers: ['alice'] }, runId: 'redis-run' });
    expect(curated.collectedExamples).toBe(12);
    expect(curated.trainExamples + curated.heldOutExamples).toBe(12);
    expect(fs.readFileSync(curated.trainFile, 'utf8')).not.toMatch(/7946/);

    const raw = createClient({ url: redis.url });
    await raw.connect();
    try {
      for await (const keys of raw.scanIterator({ MATCH: 'conveyor:examples:*' })) {
        for (const key of keys) if ((await raw.type(key)) === 'string') expect(await raw.get(key)).not.toMatch(/7946/);
      }
    } finally {
      await raw.quit();
    }
  });

  it('is SQLite under the data dir by default and Redis when CONVEYOR_EXAMPLES_REDIS_URL is set', async () => {
    const embedded = openExampleRepository(tempDir('default-examples'), {});
    const shared = openExampleRepository(tempDir('unused'), { CONVEYOR_EXAMPLES_REDIS_URL: redis.url });
    expect([embedded.kind, shared.kind]).toEqual(['sqlite', 'redis']);
    await embedded.close();
    await shared.close();
  });

  it('is PostgreSQL when the settings name a database, whatever the Redis variable says', async () => {
    const database = openExampleRepository(tempDir('unused'), { CONVEYOR_EXAMPLES_REDIS_URL: redis.url }, postgres.url);
    expect(database.kind).toBe('postgres');
    await database.close();
  });
});

describe('the shared store in PostgreSQL', () => {
  it('collects from several workers into one set that a distill run on any worker curates, with no PII in the database', async () => {
    const databaseUrl = await postgres.createDatabase('examples_workers');
    const workers = [0, 1].map(() => createLearningActivities({ factory: supportFactory, dataDir: tempDir('worker'), env: {}, databaseUrl }));
    for (let index = 0; index < 8; index++) {
      const collected = { station: 'pg-intent', jobType: 'support-ticket', jobId: `job-${index}`, stepId: 'intent', text: `Refund order #C${index}, call +44 20 7946 09${String(index).padStart(2, '0')}`, label: index % 2 ? 'refund_request' : 'cancel_order', source: 'escalation' as const };
      // Both workers at once (a retried activity on another host): still one example.
      const [first, second] = await Promise.all(workers.map((worker) => worker.collectExample(collected)));
      expect([first!.stored, second!.stored].filter(Boolean)).toHaveLength(1);
    }
    const dataDir = tempDir('distill-on-postgres');
    const golden = path.join(dataDir, 'golden.jsonl');
    fs.writeFileSync(golden, [{ text: 'cancel it', label: 'cancel_order' }, { text: 'money back', label: 'refund_request' }].map((row) => JSON.stringify(row)).join('\n'));
    const { curated } = await createLearningActivities({ factory: supportFactory, dataDir, env: {}, databaseUrl }).curateDistillData({ request: { station: 'pg-intent', goldenDataFile: golden, reviewers: ['alice'] }, runId: 'postgres-run' });
    expect(curated.collectedExamples).toBe(8);
    const db = openDatabase(databaseUrl);
    try {
      const rows = await db.query<{ text: string }>('SELECT text FROM conveyor_examples');
      expect(rows.rows).toHaveLength(8);
      for (const row of rows.rows) expect(row.text).not.toMatch(/7946/);
    } finally {
      await db.close();
    }
  });
});

describe('an example store that is down', () => {
  it('never decides a job: the reviewer-edited answer stands and the job records that the example was not collected', async () => {
    const settings = testSettings(uniqueId('dead-examples'));
    const worker = await startWorker({
      settings,
      bundle: await bundleConveyorWorkflows(),
      gateway: { env: {} },
      exampleStore: createRedisExampleRepository({ url: 'redis://127.0.0.1:1', connectTimeoutMs: 200 }),
    });
    const client = await testClient(settings);
    try {
      const jobId = uniqueId('dead-store');
      // At threshold 1 no tier is sure enough: the step goes to a person, whose edit is a training example.
      await client.startJob({ id: jobId, type: 'triage', policy: { confidenceThresholds: { 'classify-intent': 1 } }, input: { text: 'my card got eaten' } });
      await eventually(async () => ((await client.getStatus(jobId)).pendingApprovals.length > 0 ? true : undefined), 60_000);
      await client.decide(jobId, { decision: 'approve', reviewer: 'alice', edits: { intent: 'payment_problem', confidence: 1, alternatives: [] } });
      const result = await client.getResult(jobId);
      expect(result.status).toBe('completed');
      expect(result.outputs.intent).toMatchObject({ intent: 'payment_problem' });
      expect(result.decisions.find((decision) => decision.kind === 'learning')?.reason).toMatch(/^training example not collected: /);
    } finally {
      await client.close();
      await worker.stop();
    }
  }, 90_000);
});
