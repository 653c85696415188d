/**
 * The cross-run cache: one contract for every store (SQLite, Redis, PostgreSQL), then what it is for —
 * separate workers sharing answers through Redis or PostgreSQL, including two real child processes —
 * and what it must never do: fail a call because the cache is down.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelSpecSchema } from '../domain/models';
import { classifyIntentOutputSchema } from '../factories/support/schemas';
import { cacheKey, createPostgresCacheStore, createRedisCacheStore, createSqliteCacheStore, openCacheStore, type CacheStore } from '../providers/cache';
import { CACHE_STATS_STRIPES, cacheMigrations } from '../providers/cache/postgres';
import { createModelGateway } from '../providers/gateway';
import { createRegistry } from '../providers/registry';
import { migrate, openDatabase } from '../platform/postgres';
import { answers, startFakeOpenAI, type FakeServer } from '../fakes/openai-server';
import { startRedis, type TestRedis } from '../fakes/redis-server';
import { startTestPostgres, type TestPostgres } from './support/postgres';
import { eventually } from './support/temporal';

const run = promisify(execFile);
const tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'conveyor-cache-'));
let redis: TestRedis;
let postgres: TestPostgres;

beforeAll(async () => {
  [redis, postgres] = await Promise.all([startRedis(), startTestPostgres()]);
});
afterAll(async () => {
  await Promise.all([redis?.stop(), postgres?.dispose()]);
  fs.rmSync(tempDir, { recursive: true, force: true });
});

let storeCount = 0;
// SQLite and PostgreSQL read an injected clock, so their TTL is checked to the millisecond without waiting;
// Redis expires entries on its own server clock, so there the test waits for the expiry itself.
let sqliteClockMs = Date.now();
let postgresClockMs = Date.now();
const stores: Array<{ name: string; open: () => Promise<CacheStore>; advanceClock?: (ms: number) => void }> = [
  {
    name: 'sqlite',
    open: async () => createSqliteCacheStore({ file: path.join(tempDir, `cache-${++storeCount}.sqlite`), now: () => sqliteClockMs }),
    advanceClock: (ms) => (sqliteClockMs += ms),
  },
  { name: 'redis', open: async () => createRedisCacheStore({ url: redis.url, keyPrefix: `test${++storeCount}:` }) },
  {
    name: 'postgres',
    open: async () => createPostgresCacheStore({ url: await postgres.createDatabase(`cache_${++storeCount}`), now: () => postgresClockMs }),
    advanceClock: (ms) => (postgresClockMs += ms),
  },
];

describe.each(stores)('$name cache store contract', ({ open, advanceClock }) => {
  let store: CacheStore;
  beforeAll(async () => {
    store = await open();
  });
  afterAll(async () => {
    await store.close();
  });

  it('returns what was stored and counts hits, misses and the cost saved', async () => {
    expect(await store.get('absent')).toBeUndefined();
    await store.set('k1', { value: { answer: 42, nested: ['a'] }, costUsd: 0.25 }, 60);
    expect(await store.get('k1')).toEqual({ value: { answer: 42, nested: ['a'] }, costUsd: 0.25 });
    await store.get('k1');
    expect(await store.stats()).toEqual({ hits: 2, misses: 1, costSavedUsd: 0.5, entries: 1 });
  });

  it('overwrites and deletes', async () => {
    await store.set('k2', { value: 'first', costUsd: 0 }, 60);
    await store.set('k2', { value: 'second', costUsd: 0 }, 60);
    expect((await store.get('k2'))?.value).toBe('second');
    await store.delete('k2');
    expect(await store.get('k2')).toBeUndefined();
  });

  it('forgets an entry when its TTL runs out', async () => {
    // Two seconds: room for the first read on a loaded machine (Redis TTLs are whole seconds).
    await store.set('short-lived', { value: true, costUsd: 0 }, 2);
    await store.set('long-lived', { value: true, costUsd: 0 }, 3600);
    expect((await store.get('short-lived'))?.value).toBe(true);
    if (advanceClock) {
      advanceClock(1_999);
      expect((await store.get('short-lived'))?.value).toBe(true);
      advanceClock(1);
    }
    await eventually(async () => ((await store.get('short-lived')) === undefined ? true : undefined), 15_000);
    expect((await store.get('long-lived'))?.value).toBe(true);
  });
});

describe('the PostgreSQL store', () => {
  it('counts every read exactly, spread over its stats rows, and keeps the totals counted before the rows were spread', async () => {
    const url = await postgres.createDatabase('cache_stripes');
    const db = openDatabase(url);
    const stores: CacheStore[] = [];
    try {
      // A database a Conveyor with one stats row (migration 1) counted in.
      await migrate(db, 'cache', cacheMigrations.slice(0, 1));
      await db.query('UPDATE conveyor_cache_stats SET hits = 5, misses = 3, cost_saved_usd = 0.25 WHERE id = 1');
      stores.push(...Array.from({ length: 4 }, () => createPostgresCacheStore({ url })));
      await stores[0]!.set('answer', { value: 42, costUsd: 0.01 }, 60);
      // 200 reads at once from four stores (four workers' pools): 100 hits, 100 misses.
      await Promise.all(Array.from({ length: 200 }, (_, index) => stores[index % 4]!.get(index % 2 === 0 ? 'answer' : `missing-${index}`)));
      const stats = await stores[1]!.stats();
      expect({ hits: stats.hits, misses: stats.misses, entries: stats.entries }).toEqual({ hits: 105, misses: 103, entries: 1 });
      expect(stats.costSavedUsd).toBeCloseTo(0.25 + 100 * 0.01, 9);
      const rows = await db.query<{ id: number; reads: string }>('SELECT id, hits + misses AS reads FROM conveyor_cache_stats ORDER BY id');
      expect(rows.rows.map((row) => row.id)).toEqual(Array.from({ length: CACHE_STATS_STRIPES }, (_, index) => index + 1));
      // The reads landed on more than one row: they did not all queue for one lock.
      expect(rows.rows.filter((row) => row.id !== 1 && Number(row.reads) > 0).length).toBeGreaterThan(1);
    } finally {
      await Promise.all(stores.map((store) => store.close()));
      await db.close();
    }
  });

  it('removes entries that expired unread when it writes, so a shared database does not fill up', async () => {
    const url = await postgres.createDatabase('cache_purge');
    let clockMs = Date.now();
    const store = createPostgresCacheStore({ url, now: () => clockMs });
    const db = openDatabase(url);
    try {
      for (const key of ['old-1', 'old-2', 'old-3']) await store.set(key, { value: key, costUsd: 0 }, 1);
      clockMs += 1_000;
      await store.set('fresh', { value: 'fresh', costUsd: 0 }, 60);
      const rows = await db.query<{ key: string }>('SELECT key FROM conveyor_cache_entries ORDER BY key');
      expect(rows.rows.map((row) => row.key)).toEqual(['fresh']);
      expect(await store.stats()).toMatchObject({ entries: 1 });
    } finally {
      await db.close();
      await store.close();
    }
  });
});

describe('cache keys', () => {
  const parts = {
    modelId: 'local-small',
    providerModel: 'local-small',
    system: 's',
    prompt: 'p',
    input: { text: 't', extra: [1, 2] },
    parameters: { temperature: 0 },
    jsonSchema: { type: 'object' },
  };

  it('address content: equal content, equal key, whatever the property order', () => {
    expect(cacheKey(parts)).toMatch(/^[0-9a-f]{64}$/);
    expect(cacheKey({ ...parts, input: { extra: [1, 2], text: 't' } })).toBe(cacheKey(parts));
  });

  it('change with anything that can change the answer', () => {
    const variants = [
      { modelId: 'local-medium' },
      { providerModel: 'other' },
      { system: 's2' },
      { prompt: 'p2' },
      { input: { text: 'u', extra: [1, 2] } },
      { parameters: { temperature: 0.5 } },
      { jsonSchema: { type: 'array' } },
    ];
    for (const variant of variants) expect(cacheKey({ ...parts, ...variant })).not.toBe(cacheKey(parts));
  });
});

describe('a cache shared by several workers', () => {
  const validAnswer = { intent: 'order_status', confidence: 0.8, alternatives: [] };
  let server: FakeServer;
  beforeAll(async () => {
    server = await startFakeOpenAI([answers.json(validAnswer, { inputTokens: 300, outputTokens: 30 })]);
  });
  afterAll(async () => {
    await server.close();
  });

  const model = () =>
    modelSpecSchema.parse({
      id: 'openai-small',
      provider: 'openai-compatible',
      providerModel: 'gpt-4o-mini',
      tier: 'small',
      inputPricePerMTokUsd: 0.15,
      outputPricePerMTokUsd: 0.6,
      contextWindow: 128_000,
      structuredOutput: true,
      options: { baseUrl: server.url },
    });
  const call = (prompt: string) => ({
    modelId: 'openai-small',
    station: 'classify-intent',
    input: { text: prompt },
    system: 'Classify the support ticket.',
    prompt,
    schema: classifyIntentOutputSchema,
  });

  /** Two workers' gateways, each with its own connection to one Redis cache under `keyPrefix`. */
  const twoWorkers = (keyPrefix: string) => {
    const workerStore = () => createRedisCacheStore({ url: redis.url, keyPrefix });
    const [storeA, storeB] = [workerStore(), workerStore()];
    const workerA = createModelGateway({ registry: createRegistry([model()]), cache: storeA, env: {} });
    const workerB = createModelGateway({ registry: createRegistry([model()]), cache: storeB, env: {} });
    return { storeA, storeB, workerA, workerB };
  };

  it('serves the second worker from the first worker’s answer', async () => {
    const before = server.requests.length;
    const { storeA, storeB, workerA, workerB } = twoWorkers('shared:');
    const first = await workerA.call(call('Ticket: where is my order?'));
    const second = await workerB.call(call('Ticket: where is my order?'));
    expect(first.cacheHit).toBe(false);
    expect(second).toMatchObject({ cacheHit: true, output: validAnswer });
    expect(server.requests.length - before).toBe(1);
    expect(workerB.cacheStats().costSavedUsd).toBeCloseTo(first.costUsd, 12);
    expect(await storeA.stats()).toMatchObject({ hits: 1, misses: 1 });
    await Promise.all([storeA.close(), storeB.close()]);
  });

  it('settles a call asked again under its own identity with its first answer and cost, on another worker too; other calls of the same content are hits', async () => {
    // A workflow task that ran a local model call and then failed runs the call again, perhaps on another
    // worker: the ledger must then show what was paid once, not a free cache hit, and the metrics the
    // first attempt sent (workers/metrics-sink.ts) must agree with it.
    const before = server.requests.length;
    const { storeA, storeB, workerA, workerB } = twoWorkers('settles:');
    const settles = 'job-1/run-1/classify#1/answer';
    const first = await workerA.call({ ...call('Ticket: my parcel is late'), settles });
    const again = await workerB.call({ ...call('Ticket: my parcel is late'), settles });
    const otherCall = await workerB.call({ ...call('Ticket: my parcel is late'), settles: 'job-2/run-1/classify#1/answer' });
    const anonymous = await workerA.call(call('Ticket: my parcel is late'));
    expect(server.requests.length - before).toBe(1);
    expect(first).toMatchObject({ cacheHit: false, output: validAnswer, usage: { inputTokens: 300, outputTokens: 30 } });
    expect(first.costUsd).toBeGreaterThan(0);
    expect(again).toEqual({ ...first, modelId: 'openai-small' });
    expect(otherCall).toMatchObject({ cacheHit: true, costUsd: 0, usage: { inputTokens: 0, outputTokens: 0 }, output: validAnswer });
    expect(anonymous).toMatchObject({ cacheHit: true, costUsd: 0 });
    // Nothing was paid twice: the store counts the settlement as the read that saved a second payment.
    expect(await storeA.stats()).toMatchObject({ hits: 3, misses: 1, costSavedUsd: expect.closeTo(first.costUsd * 3, 12) as unknown });
    // An uncacheable call is not settled: a sample at temperature 1 with the cache off asks the model again.
    const sampled = await workerB.call({ ...call('Ticket: my parcel is late'), settles, temperature: 1, cache: { enabled: false } });
    expect(sampled.cacheHit).toBe(false);
    expect(server.requests.length - before).toBe(2);
    await Promise.all([storeA.close(), storeB.close()]);
  });

  it.each([
    { store: 'Redis', sharedBy: (): NodeJS.ProcessEnv => ({ CONVEYOR_CACHE_REDIS_URL: redis.url }) },
    { store: 'PostgreSQL', sharedBy: (): NodeJS.ProcessEnv => ({ CONVEYOR_DATABASE_URL: postgres.urlFor('cache_workers') }) },
  ])('serves a second worker process from the first one’s answer through $store', async ({ store, sharedBy }) => {
    if (store === 'PostgreSQL') await postgres.createDatabase('cache_workers');
    const before = server.requests.length;
    const { CONVEYOR_CACHE_REDIS_URL: _redis, CONVEYOR_DATABASE_URL: _database, ...inherited } = process.env;
    const worker = () =>
      run(process.execPath, ['--import', 'tsx', path.join(__dirname, '..', 'fakes', 'cache-worker-process.ts')], {
        cwd: path.resolve(__dirname, '..'),
        env: { ...inherited, FAKE_OPENAI_URL: server.url, ...sharedBy() },
        timeout: 60_000,
      });
    const first = JSON.parse((await worker()).stdout) as { outcome: { cacheHit: boolean } };
    const second = JSON.parse((await worker()).stdout) as { outcome: { cacheHit: boolean; output: unknown }; stats: { hits: number } };
    expect(first.outcome.cacheHit).toBe(false);
    expect(second.outcome).toMatchObject({ cacheHit: true, output: validAnswer });
    expect(second.stats.hits).toBe(1);
    expect(server.requests.length - before).toBe(1);
  });

  it('goes on without the cache when Redis dies mid-run, and says so once', async () => {
    const doomed = await startRedis();
    const store = createRedisCacheStore({ url: doomed.url });
    const messages: string[] = [];
    // The gateway's own clock, so "a while" is exact on a loaded machine, not a race with a 100 ms window.
    let clockMs = 1_000_000;
    const gateway = createModelGateway({
      registry: createRegistry([model()]),
      cache: store,
      env: {},
      log: (message) => messages.push(message),
      cacheRetryAfterMs: 30_000,
      now: () => clockMs,
    });
    expect((await gateway.call(call('Ticket: before the outage'))).cacheHit).toBe(false);
    expect((await gateway.call(call('Ticket: before the outage'))).cacheHit).toBe(true);
    await doomed.stop();

    const during = await gateway.call(call('Ticket: during the outage'));
    const again = await gateway.call(call('Ticket: during the outage'));
    expect(during.output).toEqual(validAnswer);
    expect(again.cacheHit).toBe(false);
    expect(gateway.cacheStats().cacheErrors).toBe(1);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(/redis model cache is unavailable.*continue without it/);

    // A failed store is left alone for a while (one error, not one per call), then tried again.
    clockMs += 29_999;
    await gateway.call(call('Ticket: still down, within the pause'));
    expect(gateway.cacheStats().cacheErrors).toBe(1);
    clockMs += 2;
    await gateway.call(call('Ticket: still down'));
    expect(gateway.cacheStats().cacheErrors).toBe(2);
    expect(messages).toHaveLength(1);
    await store.close();
  });

  it('also survives a Redis that was never there', async () => {
    const store = createRedisCacheStore({ url: 'redis://127.0.0.1:1', connectTimeoutMs: 200 });
    const gateway = createModelGateway({
      registry: createRegistry([model()]),
      cache: store,
      env: {},
      log: () => {},
    });
    const startedAt = Date.now();
    expect((await gateway.call(call('Ticket: no redis at all'))).output).toEqual(validAnswer);
    expect(gateway.cacheStats().cacheErrors).toBe(1);
    // It gives up on the store at once instead of reconnecting until the call times out (a hang fails here).
    expect(Date.now() - startedAt).toBeLessThan(5_000);
    await store.close();
  });

  it('also survives a PostgreSQL that was never there, and names it without the password', async () => {
    const store = createPostgresCacheStore({ url: 'postgres://conveyor:s3cret@127.0.0.1:1/conveyor' });
    const messages: string[] = [];
    const gateway = createModelGateway({ registry: createRegistry([model()]), cache: store, env: {}, log: (message) => messages.push(message) });
    expect((await gateway.call(call('Ticket: no database at all'))).output).toEqual(validAnswer);
    expect(gateway.cacheStats().cacheErrors).toBe(1);
    expect(messages[0]).toMatch(/postgres model cache is unavailable.*127\.0\.0\.1:1.*continue without it/);
    expect(messages[0]).not.toContain('s3cret');
    await store.close();
  });
});

describe('the configured store', () => {
  it('is SQLite under CONVEYOR_DATA_DIR by default, Redis when CONVEYOR_CACHE_REDIS_URL is set, none when off', async () => {
    const sqlite = openCacheStore({ CONVEYOR_DATA_DIR: tempDir });
    expect(sqlite?.kind).toBe('sqlite');
    expect(fs.existsSync(path.join(tempDir, 'cache.sqlite'))).toBe(true);
    await sqlite?.close();
    const shared = openCacheStore({ CONVEYOR_CACHE_REDIS_URL: redis.url });
    expect(shared?.kind).toBe('redis');
    await shared?.close();
    expect(openCacheStore({ CONVEYOR_CACHE: 'off' })).toBeNull();
  });

  it('is PostgreSQL when CONVEYOR_DATABASE_URL is set, unless a cache Redis is named; none when off', async () => {
    const database = openCacheStore({ CONVEYOR_DATABASE_URL: postgres.url });
    expect(database?.kind).toBe('postgres');
    await database?.close();
    const redisWins = openCacheStore({ CONVEYOR_DATABASE_URL: postgres.url, CONVEYOR_CACHE_REDIS_URL: redis.url });
    expect(redisWins?.kind).toBe('redis');
    await redisWins?.close();
    expect(openCacheStore({ CONVEYOR_CACHE: 'off', CONVEYOR_DATABASE_URL: postgres.url })).toBeNull();
    expect(() => openCacheStore({ CONVEYOR_DATABASE_URL: 'mysql://db/x' })).toThrow(/CONVEYOR_DATABASE_URL/);
  });
});
