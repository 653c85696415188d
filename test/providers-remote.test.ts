/**
 * Remote model calls as Temporal sees them: every failure a provider can produce arrives as an
 * ApplicationFailure with the right type, retryability and delay; schema-breaking answers get exactly
 * one repair; identical calls are paid for once. The providers talk HTTP to the fake servers.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { z } from 'zod';
import { costUsd, modelSpecSchema, type ModelSpec } from '../domain/models';
import { classifyIntentOutputSchema } from '../factories/support/schemas';
import { createSqliteCacheStore, type CacheStore } from '../providers/cache';
import { parseRetryAfterMs, SchemaViolationError, toApplicationFailure } from '../providers/errors';
import { createModelGateway } from '../providers/gateway';
import type { ModelCall } from '../providers/gateway-types';
import { createRateLimiter } from '../providers/rate-limit';
import { createRegistry } from '../providers/registry';
import { startFakeAnthropic } from '../fakes/anthropic-server';
import { answers, startFakeOpenAI, type FakeAnswer, type FakeServer } from '../fakes/openai-server';

const apiKey = 'sk-test-secret-4242';
const validAnswer = { intent: 'refund_request', confidence: 0.9, alternatives: [] };

function remoteModel(provider: 'openai-compatible' | 'anthropic', baseUrl: string, fields: Partial<ModelSpec> = {}): ModelSpec {
  return modelSpecSchema.parse({
    id: `${provider}-test`,
    provider,
    providerModel: provider === 'anthropic' ? 'claude-haiku-4-5' : 'gpt-4o-mini',
    tier: 'small',
    inputPricePerMTokUsd: 0.15,
    outputPricePerMTokUsd: 0.6,
    contextWindow: 128_000,
    structuredOutput: true,
    // Far above any answer here, so a loaded machine never turns one into a timeout; the timeout case sets its own.
    timeoutMs: 30_000,
    options: { baseUrl, apiKeyEnv: 'TEST_API_KEY' },
    ...fields,
  });
}

const classifyCall = (modelId: string, overrides: Partial<ModelCall<z.infer<typeof classifyIntentOutputSchema>>> = {}) => ({
  modelId,
  station: 'classify-intent',
  input: { text: 'Refund order 1234 please' },
  system: 'Classify the support ticket.',
  prompt: 'Ticket: Refund order 1234 please',
  schema: classifyIntentOutputSchema,
  ...overrides,
});

const servers: FakeServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function gatewayOn(
  startServer: typeof startFakeOpenAI,
  provider: 'openai-compatible' | 'anthropic',
  script: FakeAnswer[],
  options: { cache?: CacheStore | null; model?: Partial<ModelSpec>; heartbeatIntervalMs?: number } = {},
) {
  const server = await startServer(script);
  servers.push(server);
  const model = remoteModel(provider, server.url, options.model);
  const gateway = createModelGateway({
    registry: createRegistry([model]),
    cache: options.cache ?? null,
    env: { TEST_API_KEY: apiKey },
    heartbeatIntervalMs: options.heartbeatIntervalMs,
  });
  return { server, model, gateway };
}

async function failureOf(promise: Promise<unknown>) {
  try {
    await promise;
  } catch (error) {
    return { error, failure: toApplicationFailure(error) };
  }
  throw new Error('expected the call to fail');
}

const protocols = [
  { name: 'OpenAI-compatible', start: startFakeOpenAI, provider: 'openai-compatible' as const },
  { name: 'Anthropic', start: startFakeAnthropic, provider: 'anthropic' as const },
];

describe.each(protocols)('$name failures become ApplicationFailures Temporal can act on', ({ start, provider }) => {
  const cases: Array<{ scenario: string; answer: FakeAnswer; type: string; nonRetryable: boolean; nextRetryDelay?: number; timeoutMs?: number }> = [
    { scenario: '429 with Retry-After seconds', answer: answers.rateLimited('7'), type: 'ModelRateLimitedError', nonRetryable: false, nextRetryDelay: 7_000 },
    { scenario: '500', answer: answers.serverError(500), type: 'ModelServerError', nonRetryable: false },
    { scenario: '503', answer: answers.serverError(503), type: 'ModelServerError', nonRetryable: false },
    { scenario: 'connection reset', answer: answers.reset(), type: 'ModelConnectionError', nonRetryable: false },
    { scenario: 'answer slower than the timeout', answer: answers.delay(600_000, answers.json(validAnswer)), type: 'ModelTimeoutError', nonRetryable: false, timeoutMs: 500 },
    { scenario: 'malformed response body', answer: answers.malformed(), type: 'MalformedModelOutputError', nonRetryable: false },
    {
      scenario: '400 context length exceeded',
      answer: answers.error(400, "This model's maximum context length is 8192 tokens; prompt is too long", 'context_length_exceeded'),
      type: 'ContextLengthExceededError',
      nonRetryable: true,
    },
    { scenario: '400 bad request', answer: answers.error(400, 'temperature must be at most 2'), type: 'ModelBadRequestError', nonRetryable: true },
    { scenario: '401', answer: answers.error(401, `Incorrect API key provided: ${apiKey}`), type: 'ModelAuthError', nonRetryable: true },
    { scenario: '403', answer: answers.error(403, 'Forbidden'), type: 'ModelAuthError', nonRetryable: true },
    { scenario: '404', answer: answers.error(404, 'The model does not exist'), type: 'ModelNotFoundError', nonRetryable: true },
  ];

  it.each(cases)('$scenario → $type', async ({ answer, type, nonRetryable, nextRetryDelay, timeoutMs }) => {
    const { gateway, server } = await gatewayOn(start, provider, [answer], timeoutMs === undefined ? {} : { model: { timeoutMs } });
    const { error, failure } = await failureOf(gateway.call(classifyCall(`${provider}-test`)));
    expect((error as Error).name).toBe(type);
    expect(failure.type).toBe(type);
    expect(failure.nonRetryable).toBe(nonRetryable);
    if (nextRetryDelay !== undefined) expect(failure.nextRetryDelay).toBe(nextRetryDelay);
    expect(failure.message).not.toContain(apiKey);
    expect(server.requests).toHaveLength(1);
    await gateway.close();
  });
});

describe('Retry-After', () => {
  it('is read as seconds, milliseconds or an HTTP date', () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect(parseRetryAfterMs({ 'retry-after': '2' }, now)).toBe(2_000);
    expect(parseRetryAfterMs({ 'Retry-After': '0.5' }, now)).toBe(500);
    expect(parseRetryAfterMs({ 'retry-after-ms': '1500', 'retry-after': '9' }, now)).toBe(1_500);
    expect(parseRetryAfterMs({ 'retry-after': 'Wed, 01 Jan 2025 00:00:30 GMT' }, now)).toBe(30_000);
    expect(parseRetryAfterMs({ 'retry-after': 'soon' }, now)).toBeUndefined();
    expect(parseRetryAfterMs({}, now)).toBeUndefined();
  });

  it('an HTTP-date Retry-After on a 429 becomes the next retry delay', async () => {
    const inTwentySeconds = new Date(Date.now() + 20_000).toUTCString();
    const { gateway } = await gatewayOn(startFakeOpenAI, 'openai-compatible', [answers.rateLimited(inTwentySeconds)]);
    const { failure } = await failureOf(gateway.call(classifyCall('openai-compatible-test')));
    expect(failure.type).toBe('ModelRateLimitedError');
    expect(failure.nextRetryDelay).toBeGreaterThan(15_000);
    expect(failure.nextRetryDelay).toBeLessThanOrEqual(20_000);
  });
});

describe('schema enforcement with one repair', () => {
  it('succeeds after one schema-violating answer, quoting the violation in the repair prompt', async () => {
    const { gateway, server } = await gatewayOn(startFakeOpenAI, 'openai-compatible', [
      answers.json({ intent: 'refund', confidence: 3 }, { inputTokens: 100, outputTokens: 10 }),
      answers.json(validAnswer, { inputTokens: 150, outputTokens: 12 }),
    ]);
    const outcome = await gateway.call(classifyCall('openai-compatible-test'));
    expect(outcome).toMatchObject({ output: validAnswer, repaired: true, cacheHit: false, usage: { inputTokens: 250, outputTokens: 22 } });
    expect(server.requests).toHaveLength(2);
    const repairBody = JSON.stringify(server.requests[1]?.body);
    expect(repairBody).toContain('does not match the required JSON schema');
    expect(repairBody).toContain('intent');
    expect(repairBody).toContain('alternatives');
  });

  it('repairs an answer that is not JSON at all', async () => {
    const { gateway, server } = await gatewayOn(startFakeAnthropic, 'anthropic', [answers.text('Sure! The intent is refund_request.'), answers.json(validAnswer)]);
    const outcome = await gateway.call(classifyCall('anthropic-test'));
    expect(outcome.repaired).toBe(true);
    expect(JSON.stringify(server.requests[1]?.body)).toContain('the answer is not a JSON object');
  });

  it('fails with a non-retryable SchemaViolationError after two violating answers', async () => {
    const { gateway, server } = await gatewayOn(startFakeOpenAI, 'openai-compatible', [answers.json({ intent: 'refund' })]);
    const { error, failure } = await failureOf(gateway.call(classifyCall('openai-compatible-test')));
    expect(error).toBeInstanceOf(SchemaViolationError);
    expect(failure).toMatchObject({ type: 'SchemaViolationError', nonRetryable: true });
    expect((error as SchemaViolationError).issues.join('\n')).toMatch(/intent/);
    expect(server.requests).toHaveLength(2);
  });
});

describe('accounting', () => {
  it('takes usage from the provider and prices it from the registry', async () => {
    const usage = { inputTokens: 1_000, outputTokens: 200 };
    // the fake answers after 150 ms, so the measured latency is bounded below by that and above by the call's own duration
    const { gateway, model } = await gatewayOn(startFakeOpenAI, 'openai-compatible', [answers.delay(150, answers.json(validAnswer, usage))]);
    const calledAt = performance.now();
    const outcome = await gateway.call(classifyCall(model.id));
    const elapsedMs = performance.now() - calledAt;
    expect(outcome).toMatchObject({ usage, modelId: model.id, modelVersion: 'gpt-4o-mini', confidence: null });
    expect(outcome.costUsd).toBeCloseTo(costUsd(model, usage), 12);
    expect(outcome.latencyMs).toBeGreaterThanOrEqual(140);
    expect(outcome.latencyMs).toBeLessThanOrEqual(Math.ceil(elapsedMs) + 1);
  });

  it('heartbeats while a slow model answers', async () => {
    // The model answers only once four heartbeats were seen: no race between a delay and the interval.
    let fourBeats!: () => void;
    const beaten = new Promise<void>((resolve) => (fourBeats = resolve));
    const { gateway, model } = await gatewayOn(startFakeOpenAI, 'openai-compatible', [answers.when(beaten, answers.json(validAnswer))], { heartbeatIntervalMs: 50 });
    const beats: unknown[] = [];
    await gateway.call(
      classifyCall(model.id, {
        heartbeat: (details) => {
          if (beats.push(details) === 4) fourBeats();
        },
      }),
    );
    expect(beats.length).toBeGreaterThanOrEqual(4);
    expect(beats[0]).toMatchObject({ modelId: model.id, station: 'classify-intent' });
  });

  it('refuses a prompt that cannot fit the context window before paying for it', async () => {
    const { gateway, server, model } = await gatewayOn(startFakeOpenAI, 'openai-compatible', [answers.json(validAnswer)], { model: { contextWindow: 50 } });
    const { failure } = await failureOf(gateway.call(classifyCall(model.id, { prompt: 'word '.repeat(100) })));
    expect(failure).toMatchObject({ type: 'ContextLengthExceededError', nonRetryable: true });
    expect(server.requests).toHaveLength(0);
  });

  it('stops waiting when the activity is cancelled', async () => {
    // The answer never comes within the test, so only the abort can end the call.
    const { gateway, model } = await gatewayOn(startFakeOpenAI, 'openai-compatible', [answers.delay(600_000, answers.json(validAnswer))]);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    await expect(gateway.call(classifyCall(model.id, { signal: controller.signal }))).rejects.toMatchObject({ name: 'AbortError' });
  });
});

describe('the cross-run cache', () => {
  let dir: string;
  let store: CacheStore;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'conveyor-remote-cache-'));
    store = createSqliteCacheStore({ file: path.join(dir, 'cache.sqlite') });
  });
  afterAll(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('serves a repeated identical call from the cache: the provider sees one request', async () => {
    const { gateway, server, model } = await gatewayOn(startFakeOpenAI, 'openai-compatible', [answers.json(validAnswer, { inputTokens: 400, outputTokens: 40 })], { cache: store });
    const first = await gateway.call(classifyCall(model.id));
    const second = await gateway.call(classifyCall(model.id));
    expect(server.requests).toHaveLength(1);
    expect(first.cacheHit).toBe(false);
    expect(second).toMatchObject({ cacheHit: true, output: validAnswer, costUsd: 0, usage: { inputTokens: 0, outputTokens: 0 } });
    expect(gateway.cacheStats()).toMatchObject({ hits: 1, misses: 1, cacheErrors: 0 });
    expect(gateway.cacheStats().costSavedUsd).toBeCloseTo(first.costUsd, 12);
  });

  it('does not cache calls with temperature above zero unless asked to', async () => {
    const { gateway, server, model } = await gatewayOn(startFakeOpenAI, 'openai-compatible', [answers.json(validAnswer)], { cache: store });
    const creative = classifyCall(model.id, { prompt: 'Ticket: a creative one', temperature: 0.7 });
    await gateway.call(creative);
    expect((await gateway.call(creative)).cacheHit).toBe(false);
    expect(server.requests).toHaveLength(2);

    const optedIn = { ...creative, cache: { cacheNonZeroTemperature: true } };
    await gateway.call(optedIn);
    expect((await gateway.call(optedIn)).cacheHit).toBe(true);
    expect(server.requests).toHaveLength(3);
  });

  it('lets a station opt out', async () => {
    const { gateway, server, model } = await gatewayOn(startFakeOpenAI, 'openai-compatible', [answers.json(validAnswer)], { cache: store });
    const uncached = classifyCall(model.id, { prompt: 'Ticket: never cache me', cache: { enabled: false } });
    await gateway.call(uncached);
    await gateway.call(uncached);
    expect(server.requests).toHaveLength(2);
  });

  it('does not cache failures', async () => {
    const { gateway, server, model } = await gatewayOn(startFakeOpenAI, 'openai-compatible', [answers.serverError(), answers.json(validAnswer)], { cache: store });
    const call = classifyCall(model.id, { prompt: 'Ticket: flaky provider' });
    await expect(gateway.call(call)).rejects.toMatchObject({ name: 'ModelServerError' });
    expect((await gateway.call(call)).cacheHit).toBe(false);
    expect(server.requests).toHaveLength(2);
  });
});

describe('rate limits', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  const limited = (rateLimit: ModelSpec['rateLimit']) =>
    modelSpecSchema.parse({ ...remoteModel('openai-compatible', 'http://127.0.0.1:9/v1'), rateLimit });

  it('queues calls beyond requests/min until the bucket refills, in arrival order', async () => {
    vi.useFakeTimers();
    const limiter = createRateLimiter();
    const model = limited({ requestsPerMinute: 2 });
    const granted: number[] = [];
    const calls = [1, 2, 3, 4].map((n) => limiter.acquire(model, 10).then(() => granted.push(n)));
    await vi.advanceTimersByTimeAsync(0);
    expect(granted).toEqual([1, 2]);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(granted).toEqual([1, 2, 3]);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(granted).toEqual([1, 2, 3, 4]);
    await Promise.all(calls);
  });

  it('counts tokens, including usage above the estimate', async () => {
    vi.useFakeTimers();
    const limiter = createRateLimiter();
    const model = limited({ tokensPerMinute: 1_000 });
    await limiter.acquire(model, 400);
    limiter.settle(model, 500); // the call really used 900 tokens
    let granted = false;
    const next = limiter.acquire(model, 400).then(() => (granted = true));
    await vi.advanceTimersByTimeAsync(10_000);
    expect(granted).toBe(false);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(granted).toBe(true);
    await next;
  });

  it('a waiting call gives up when its activity is cancelled', async () => {
    vi.useFakeTimers();
    const limiter = createRateLimiter();
    const model = limited({ requestsPerMinute: 1 });
    await limiter.acquire(model, 1);
    const controller = new AbortController();
    const waiting = limiter.acquire(model, 1, controller.signal);
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });
  });
});
