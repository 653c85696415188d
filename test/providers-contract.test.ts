/**
 * One contract every provider keeps, run against each implementation (Hono's router test shape): answer
 * a station request with JSON its schema accepts, report usage, and stop when the caller aborts.
 * Remote providers run against the fake wire-protocol servers; replay runs on a small CSV written here.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelSpecSchema, type ModelSpec } from '../domain/models';
import { classifyIntentOutputSchema } from '../factories/support/schemas';
import { createAnthropicProvider } from '../providers/anthropic';
import { createModelGateway } from '../providers/gateway';
import { createLocalProvider } from '../providers/local';
import { createOpenAICompatibleProvider } from '../providers/openai-compatible';
import type { ModelProvider, ProviderRequest } from '../providers/port';
import { createReplayProvider, replayOutputSchema } from '../providers/replay';
import { startFakeAnthropic } from '../fakes/anthropic-server';
import { sharedDataMissing } from './support/prerequisites';
import { resolveSharedDataDir } from '../providers/local/dataset';
import { answers, startFakeOpenAI, type FakeAnswer, type FakeServer } from '../fakes/openai-server';
import { intentClassifier } from '../factories/support/offline';

interface ContractSubject {
  provider: ModelProvider;
  model: ModelSpec;
  request: Omit<ProviderRequest, 'model' | 'jsonSchema' | 'schemaName'>;
  schema: z.ZodType;
  stop(): Promise<void>;
}

function modelSpec(fields: Partial<ModelSpec> & Pick<ModelSpec, 'provider' | 'providerModel'>): ModelSpec {
  return modelSpecSchema.parse({
    id: `${fields.provider}-contract`,
    tier: 'small',
    inputPricePerMTokUsd: 1,
    outputPricePerMTokUsd: 2,
    contextWindow: 100_000,
    structuredOutput: true,
    timeoutMs: 10_000,
    ...fields,
  });
}

/** `abortsInFlight`: the provider can stop a call already in flight (remote ones); in-process ones only check before starting. */
function providerContract(name: string, start: () => Promise<ContractSubject>, { abortsInFlight }: { abortsInFlight: boolean }) {
  describe(`${name} provider contract`, () => {
    let subject: ContractSubject;
    const requestFor = (signal?: AbortSignal): ProviderRequest => ({
      ...subject.request,
      model: subject.model,
      jsonSchema: z.toJSONSchema(subject.schema, { io: 'output' }),
      schemaName: 'contract',
      signal,
    });
    beforeAll(async () => {
      subject = await start();
    });
    afterAll(async () => {
      await subject.stop();
    });

    it('returns JSON that the station schema accepts', async () => {
      const response = await subject.provider.generate(requestFor());
      expect(subject.provider.kind).toBe(subject.model.provider);
      expect(subject.schema.safeParse(response.json).success).toBe(true);
      expect(typeof response.text).toBe('string');
    });

    it('reports usage', async () => {
      const { usage } = await subject.provider.generate(requestFor());
      expect(usage?.inputTokens).toBeGreaterThan(0);
      expect(usage?.outputTokens).toBeGreaterThan(0);
    });

    it('refuses to start when the signal is already aborted', async () => {
      const controller = new AbortController();
      controller.abort();
      await expect(subject.provider.generate(requestFor(controller.signal))).rejects.toMatchObject({ name: 'AbortError' });
    });

    // Only providers with a call in flight to stop (the network ones) run this case; the local models answer synchronously.
    if (abortsInFlight) {
      it('stops a call in flight when the caller aborts', async () => {
        const controller = new AbortController();
        const startedAt = Date.now();
        setTimeout(() => controller.abort(), 100);
        await expect(subject.provider.generate({ ...requestFor(controller.signal), prompt: 'slow' })).rejects.toMatchObject({ name: 'AbortError' });
        // Far from the slow answer: the call stopped at the abort, it did not wait for the answer and then throw.
        expect(Date.now() - startedAt).toBeLessThan(SLOW_ANSWER_MS / 10);
      });
    }
  });
}

const classification = { intent: 'refund_request', confidence: 0.92, alternatives: [{ intent: 'cancel_order', probability: 0.05 }] };
const ticketRequest = {
  local: intentClassifier,
  input: { text: 'I want my money back for order 1234' },
  system: 'Classify the customer message.',
  prompt: 'I want my money back for order 1234',
  temperature: 0,
};
/** Slow answers for the in-flight abort case (prompt "slow"): later than the test would wait, so only the abort can end that call. */
const SLOW_ANSWER_MS = 600_000;
const remoteScript =
  (answer: FakeAnswer) =>
  (request: { body: unknown }): FakeAnswer =>
    JSON.stringify(request.body).includes('slow') ? answers.delay(SLOW_ANSWER_MS, answer) : answer;

function remoteSubject(
  kind: 'openai-compatible' | 'anthropic',
  startServer: (script: ReturnType<typeof remoteScript>) => Promise<FakeServer>,
  structuredOutput: boolean,
) {
  return async (): Promise<ContractSubject> => {
    const server = await startServer(remoteScript(answers.json(classification)));
    const env = { CONTRACT_KEY: 'sk-contract' };
    return {
      provider: kind === 'anthropic' ? createAnthropicProvider({ env }) : createOpenAICompatibleProvider({ env }),
      model: modelSpec({ provider: kind, providerModel: kind === 'anthropic' ? 'claude-haiku-4-5' : 'gpt-4o-mini', structuredOutput, options: { baseUrl: server.url, apiKeyEnv: 'CONTRACT_KEY' } }),
      request: ticketRequest,
      schema: classifyIntentOutputSchema,
      stop: () => server.close(),
    };
  };
}

providerContract('local', () =>
  Promise.resolve({
    provider: createLocalProvider(),
    model: modelSpec({ provider: 'local', providerModel: 'local-small' }),
    request: ticketRequest,
    schema: classifyIntentOutputSchema,
    stop: () => Promise.resolve(),
  }),
  { abortsInFlight: false },
);
providerContract('openai-compatible (json_schema)', remoteSubject('openai-compatible', startFakeOpenAI, true), { abortsInFlight: true });
providerContract('openai-compatible (JSON mode)', remoteSubject('openai-compatible', startFakeOpenAI, false), { abortsInFlight: true });
providerContract('anthropic (output format)', remoteSubject('anthropic', startFakeAnthropic, true), { abortsInFlight: true });
providerContract('anthropic (JSON tool)', remoteSubject('anthropic', startFakeAnthropic, false), { abortsInFlight: true });

providerContract('replay', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'conveyor-replay-'));
  const question = 'What is 6 * 7?\nA. 42\nB. 41\nAnswer:';
  fs.writeFileSync(
    path.join(dataDir, 'recorded.csv'),
    ['prompt,weak-model,strong-model,weak-model_response,strong-model_response', `"${question}",False,True,"B, I think","A. 42, because ""6 * 7"" is 42"`].join('\n'),
  );
  return Promise.resolve({
    provider: createReplayProvider({ dataDir }),
    model: modelSpec({ provider: 'replay', providerModel: 'strong-model', options: { csv: 'recorded.csv' } }),
    request: { input: { prompt: question }, system: '', prompt: question, temperature: 0 },
    schema: replayOutputSchema,
    stop: () => Promise.resolve(fs.rmSync(dataDir, { recursive: true, force: true })),
  });
}, { abortsInFlight: false });

describe('replay answers only what was recorded', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'conveyor-replay-'));
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  const model = (column: string) => modelSpec({ provider: 'replay', providerModel: column, options: { csv: ['a.csv', 'b.csv'] } });
  const ask = (provider: ModelProvider, column: string, prompt: string) =>
    provider.generate({ model: model(column), input: { prompt }, system: '', prompt, jsonSchema: {}, schemaName: 'replay', temperature: 0 });

  it('reads several files and the column the model stands for', async () => {
    fs.writeFileSync(path.join(dataDir, 'a.csv'), 'prompt,weak,strong\nq1,True,True\n"q2, with a comma",False,True\n');
    fs.writeFileSync(path.join(dataDir, 'b.csv'), 'prompt,weak,strong\r\nq3,False,False\r\n');
    const provider = createReplayProvider({ dataDir });
    expect((await ask(provider, 'weak', 'q2, with a comma')).json).toEqual({ correct: false });
    expect((await ask(provider, 'strong', 'q2, with a comma')).json).toEqual({ correct: true });
    expect((await ask(provider, 'strong', 'q3')).json).toEqual({ correct: false });
    await expect(ask(provider, 'weak', 'never asked')).rejects.toMatchObject({ name: 'ModelBadRequestError', retryable: false });
  });

  it.skipIf(sharedDataMissing('routellm/gsm8k/gsm8k_responses.csv'))('reads the RouteLLM GSM8K recording from the shared data', async () => {
    const sharedData = resolveSharedDataDir();
    const file = path.join(sharedData, 'routellm/gsm8k/gsm8k_responses.csv');
    const provider = createReplayProvider({ dataDir: sharedData });
    const gsm8k = (column: string, prompt: string) =>
      provider.generate({
        model: modelSpec({ provider: 'replay', providerModel: column, options: { csv: 'routellm/gsm8k/gsm8k_responses.csv' } }),
        input: { prompt },
        system: '',
        prompt,
        jsonSchema: {},
        schemaName: 'replay',
        temperature: 0,
      });
    const janet = fs.readFileSync(file, 'utf8').split('\n')[1]?.split(',True')[0] ?? '';
    const answer = replayOutputSchema.parse((await gsm8k('gpt-4-1106-preview', janet)).json);
    expect(answer.correct).toBe(true);
    expect(answer.response).toMatch(/\$?18/);
  });
});

describe('the gateway over the default registry', () => {
  it('answers a station offline with the local small model, with confidence, usage and notional cost', async () => {
    const gateway = createModelGateway({ cache: null, env: {} });
    const outcome = await gateway.call({ modelId: 'local-small', station: 'classify-intent', schema: classifyIntentOutputSchema, ...ticketRequest });
    expect(classifyIntentOutputSchema.safeParse(outcome.output).success).toBe(true);
    expect(outcome.confidence).toBeGreaterThan(0);
    expect(outcome.usage.inputTokens).toBeGreaterThan(0);
    expect(outcome.costUsd).toBeGreaterThan(0);
    expect(outcome.costUsd).toBeLessThan(0.001);
    expect(outcome).toMatchObject({ modelId: 'local-small', cacheHit: false, repaired: false });
    await gateway.close();
  });
});
