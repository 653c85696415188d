/**
 * The rate-limiter contract: the in-process limiter and the PostgreSQL one (a real server) grant the same
 * scripted calls at the same moments — bursts, refill, token debt, room handed back, cancellation. Then
 * what only the shared one does: two limiters draw on one bucket, and a database that cannot be reached
 * fails the call retryably (never unlimited) without printing its password.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelSpecSchema, type ModelSpec } from '../domain/models';
import { openDatabase } from '../platform/postgres';
import { RateLimiterUnavailableError, toApplicationFailure } from '../providers/errors';
import { createPostgresRateLimiter, createRateLimiter, type RateLimiter } from '../providers/rate-limit';
import { startTestPostgres, type TestPostgres } from './support/postgres';

let postgres: TestPostgres;
const opened: RateLimiter[] = [];

beforeAll(async () => {
  postgres = await startTestPostgres();
}, 60_000);

afterAll(async () => {
  await Promise.all(opened.map((limiter) => limiter.close()));
  await postgres?.dispose();
});

let modelCount = 0;
/** A model of its own per test, so no test inherits another's bucket. */
function limitedModel(rateLimit: ModelSpec['rateLimit']): ModelSpec {
  return modelSpecSchema.parse({
    id: `limited-${++modelCount}`,
    provider: 'openai-compatible',
    providerModel: 'gpt-4o-mini',
    tier: 'small',
    inputPricePerMTokUsd: 0.15,
    outputPricePerMTokUsd: 0.6,
    contextWindow: 128_000,
    structuredOutput: true,
    rateLimit,
    options: { baseUrl: 'http://127.0.0.1:9/v1' },
  });
}

/** Both implementations with the same burst (how much of a minute a full bucket holds). */
const implementations: Array<[string, (burstMs: number) => Promise<RateLimiter>]> = [
  ['in-process', async (burstMs) => createRateLimiter({ burstMs })],
  [
    'PostgreSQL',
    async (burstMs) => {
      const limiter = createPostgresRateLimiter({ url: await postgres.createDatabase(`limits_${++modelCount}`), burstMs });
      opened.push(limiter);
      return limiter;
    },
  ],
];

/** When each call was granted, in ms since `started`, in the order the grants happened. */
function grantLog(started: number) {
  const grants: Array<{ call: string; atMs: number }> = [];
  return {
    grants,
    granted: (call: string) => () => grants.push({ call, atMs: Date.now() - started }),
  };
}

/** A grant is never early (beyond clock granularity) and, on a loaded machine, at most a few hundred ms late. */
function expectSchedule(grants: Array<{ call: string; atMs: number }>, expected: Array<[string, number]>) {
  expect(grants.map((grant) => grant.call)).toEqual(expected.map(([call]) => call));
  grants.forEach((grant, index) => {
    const atMs = expected[index]![1];
    expect(grant.atMs, `${grant.call} granted at ${grant.atMs} ms, expected ${atMs} ms`).toBeGreaterThanOrEqual(atMs - 40);
    expect(grant.atMs, `${grant.call} granted at ${grant.atMs} ms, expected ${atMs} ms`).toBeLessThanOrEqual(atMs + 400);
  });
}

describe.each(implementations)('the %s rate limiter', (_name, open) => {
  it('grants a full bucket at once, then one request per refill, in arrival order', async () => {
    // 120/min = one every 500 ms; a 1.5 s burst holds 3.
    const limiter = await open(1_500);
    const model = limitedModel({ requestsPerMinute: 120 });
    const log = grantLog(Date.now());
    await Promise.all(['a', 'b', 'c', 'd', 'e'].map((call) => limiter.acquire(model, 10).then(log.granted(call))));
    expectSchedule(log.grants, [
      ['a', 0],
      ['b', 0],
      ['c', 0],
      ['d', 500],
      ['e', 1_000],
    ]);
  });

  it('counts tokens: usage above the estimate is debt, usage below it is handed back', async () => {
    // 60,000 tokens/min = 1,000 per second; a 1 s burst holds 1,000.
    const limiter = await open(1_000);
    const model = limitedModel({ tokensPerMinute: 60_000 });
    const started = Date.now();
    const log = grantLog(started);
    await limiter.acquire(model, 800).then(log.granted('first'));
    limiter.settle(model, 700); // it really used 1,500: the bucket owes 500
    await limiter.acquire(model, 500).then(log.granted('after debt')); // waits for 1,000 more: 1 s
    limiter.settle(model, -1_000); // it used nothing: its 500 come back (the bucket is full again)
    await limiter.acquire(model, 900).then(log.granted('handed back'));
    expectSchedule(log.grants, [
      ['first', 0],
      ['after debt', 1_000],
      ['handed back', 1_000],
    ]);
  });

  it('a call larger than the bucket takes the whole bucket, and its excess is debt', async () => {
    const limiter = await open(1_000);
    const model = limitedModel({ tokensPerMinute: 60_000 }); // 1,000 per second, 1,000 in the burst
    const log = grantLog(Date.now());
    await limiter.acquire(model, 1_500).then(log.granted('large'));
    limiter.settle(model, 0); // the estimate was right: 1,500 used, 500 more than the bucket held
    await limiter.acquire(model, 100).then(log.granted('next')); // waits for 600: 600 ms
    expectSchedule(log.grants, [
      ['large', 0],
      ['next', 600],
    ]);
  });

  it('holds both buckets: a call waits for the one with less room', async () => {
    const limiter = await open(1_000);
    // 120 requests/min (a 1 s burst holds 2) and 6,000 tokens/min (100 per second, 100 in the burst).
    const model = limitedModel({ requestsPerMinute: 120, tokensPerMinute: 6_000 });
    const log = grantLog(Date.now());
    await Promise.all([limiter.acquire(model, 100).then(log.granted('a')), limiter.acquire(model, 50).then(log.granted('b'))]);
    expectSchedule(log.grants, [
      ['a', 0],
      ['b', 500], // requests had room at once; tokens had none until 500 ms
    ]);
  });

  it('a waiting call gives up when its activity is cancelled, and the next in line goes on', async () => {
    const limiter = await open(1_000);
    const model = limitedModel({ requestsPerMinute: 60 });
    await limiter.acquire(model, 1);
    const controller = new AbortController();
    const waiting = limiter.acquire(model, 1, controller.signal);
    const next = limiter.acquire(model, 1);
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });
    const started = Date.now();
    await next;
    expect(Date.now() - started).toBeLessThan(1_300);
  });

  it('a model without limits is never held', async () => {
    const limiter = await open(1_000);
    const model = limitedModel({});
    const started = Date.now();
    await Promise.all(Array.from({ length: 50 }, () => limiter.acquire(model, 1_000_000)));
    expect(Date.now() - started).toBeLessThan(200);
  });
});

describe('the PostgreSQL rate limiter, shared', () => {
  it('two limiters (two workers) draw on one bucket per model', async () => {
    const url = await postgres.createDatabase('shared_bucket');
    const [first, second] = [createPostgresRateLimiter({ url, burstMs: 1_500 }), createPostgresRateLimiter({ url, burstMs: 1_500 })];
    opened.push(first, second);
    const model = limitedModel({ requestsPerMinute: 120 });
    const log = grantLog(Date.now());
    await Promise.all([
      ...['a1', 'a2', 'a3'].map((call) => first.acquire(model, 1).then(log.granted(call))),
      ...['b1', 'b2'].map((call) => second.acquire(model, 1).then(log.granted(call))),
    ]);
    // Three of the five at once (the burst), whoever asked first; the other two one refill apart.
    const times = log.grants.map((grant) => grant.atMs);
    expect(times.filter((atMs) => atMs < 250)).toHaveLength(3);
    expect(times[3]).toBeGreaterThanOrEqual(460);
    expect(times[4]).toBeGreaterThanOrEqual(960);
    expect(times[4]).toBeLessThanOrEqual(1_400);
  });

  it('keeps one row per model and bucket, on the database clock', async () => {
    const url = await postgres.createDatabase('bucket_rows');
    const limiter = createPostgresRateLimiter({ url });
    opened.push(limiter);
    const model = limitedModel({ requestsPerMinute: 600, tokensPerMinute: 60_000 });
    await limiter.acquire(model, 250);
    const db = openDatabase(url);
    try {
      const { rows } = await db.query<{ kind: string; capacity: number; per_minute: number; available: number; age_ms: number }>(
        'SELECT kind, capacity, per_minute, available, EXTRACT(EPOCH FROM now() - updated_at) * 1000 AS age_ms FROM conveyor_rate_limit_buckets WHERE model_id = $1 ORDER BY kind',
        [model.id],
      );
      // The default shared burst: 6 s of the limit.
      expect(rows.map(({ kind, capacity, per_minute, available }) => ({ kind, capacity, per_minute, available: Math.round(available) }))).toEqual([
        { kind: 'requests', capacity: 60, per_minute: 600, available: 59 },
        { kind: 'tokens', capacity: 6_000, per_minute: 60_000, available: 5_750 },
      ]);
      expect(Number(rows[0]!.age_ms)).toBeLessThan(5_000);
    } finally {
      await db.close();
    }
  });

  it('fails the call retryably when the database cannot be reached, naming it without its password', async () => {
    const limiter = createPostgresRateLimiter({ url: 'postgres://conveyor:hunter2-secret@127.0.0.1:9/conveyor' });
    opened.push(limiter);
    const model = limitedModel({ requestsPerMinute: 60 });
    const error = await limiter.acquire(model, 1).then(
      () => undefined,
      (failure: unknown) => failure,
    );
    expect(error).toBeInstanceOf(RateLimiterUnavailableError);
    const message = (error as Error).message;
    expect(message).toContain('postgres://conveyor:***@127.0.0.1:9/conveyor');
    expect(message).not.toContain('hunter2');
    expect(message).toContain(model.id);
    expect(toApplicationFailure(error)).toMatchObject({ type: 'RateLimiterUnavailableError', nonRetryable: false });
  });

  it('fails calls while the database is down and limits them again once it is back', async () => {
    const url = await postgres.createDatabase('restarts');
    const limiter = createPostgresRateLimiter({ url, burstMs: 1_000 });
    opened.push(limiter);
    const model = limitedModel({ requestsPerMinute: 120 });
    await limiter.acquire(model, 1);
    await limiter.acquire(model, 1);
    await postgres.stop();
    try {
      await expect(limiter.acquire(model, 1)).rejects.toBeInstanceOf(RateLimiterUnavailableError);
    } finally {
      await postgres.start();
    }
    // Limited again, not let through: the refilled burst (2), then one every 500 ms.
    const started = Date.now();
    for (let call = 0; call < 3; call++) await limiter.acquire(model, 1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
  }, 60_000);
});
