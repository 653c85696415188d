/**
 * Redaction on the wire, end to end: a support ticket full of personal data runs as a job on Temporal
 * with every tier on a remote model — once over the OpenAI-compatible protocol, once over Anthropic's —
 * and no request that leaves the machine carries the data, while the job still completes and acts.
 * The API key goes to the provider in its header and nowhere else: not in the job's history.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { ConveyorClient } from '../client';
import type { ModelSpec, Tier } from '../domain/models';
import { createRegistry } from '../providers/registry';
import { bundleConveyorWorkflows } from '../workers/worker';
import { startFakeAnthropic } from '../fakes/anthropic-server';
import { startFakeOpenAI, type FakeServer } from '../fakes/openai-server';
import { supportTicketAnswer } from '../fakes/station-answers';
import { startWorker, testClient, testSettings, uniqueId } from './support/temporal';

const email = 'morgan.lee.5512@example.org';
const phone = '+44 20 7946 0123';
const card = '4111 1111 1111 1111';
const secrets = [email, phone, phone.replace(/ /g, ''), card, card.replace(/ /g, '')];
// Not a real credential: a marker the test looks for in places an API key must never be.
const apiKey = `sk-wire-${Math.random().toString(36).slice(2)}`;
const tiers: Tier[] = ['small', 'medium', 'large'];

function remoteModel(provider: 'openai-compatible' | 'anthropic', tier: Tier, baseUrl: string): ModelSpec {
  return {
    id: `wire-${provider}-${tier}`,
    provider,
    providerModel: provider === 'anthropic' ? 'claude-haiku-4-5' : `wire-${tier}`,
    tier,
    description: `a ${tier} model on a local ${provider} test server`,
    inputPricePerMTokUsd: 1,
    outputPricePerMTokUsd: 2,
    contextWindow: 100_000,
    structuredOutput: true,
    rateLimit: {},
    timeoutMs: 5000,
    options: { baseUrl, apiKeyEnv: 'WIRE_TEST_API_KEY' },
  };
}

/** Every string in a value, payload bytes decoded (raw or base64 in proto JSON), so a scan sees what the server stores. */
function textOf(value: unknown): string {
  const decoded: string[] = [];
  const json = JSON.stringify(value, (key, field: unknown) => {
    if (field instanceof Uint8Array) return Buffer.from(field).toString('utf8');
    if (key === 'data' && typeof field === 'string') decoded.push(Buffer.from(field, 'base64').toString('utf8'));
    return field;
  });
  return [json, ...decoded].join('\n');
}

let bundle: WorkflowBundleWithSourceMap;
beforeAll(async () => {
  bundle = await bundleConveyorWorkflows();
});

for (const [provider, startServer] of [
  ['openai-compatible', startFakeOpenAI],
  ['anthropic', startFakeAnthropic],
] as const) {
  describe(`a job on ${provider} models`, () => {
    let server: FakeServer;
    let client: ConveyorClient;
    let stopWorker: () => Promise<void>;

    beforeAll(async () => {
      server = await startServer(supportTicketAnswer);
      const settings = testSettings(uniqueId(`wire-${provider}`));
      const worker = await startWorker({
        settings,
        bundle,
        gateway: { registry: createRegistry(tiers.map((tier) => remoteModel(provider, tier, server.url)), 'wire test'), env: { WIRE_TEST_API_KEY: apiKey } },
      });
      stopWorker = () => worker.stop();
      client = await testClient(settings);
    });

    afterAll(async () => {
      await client?.close();
      await stopWorker?.();
      await server?.close();
    });

    it('sends placeholders, never the personal data, and keeps the API key out of the history', async () => {
      const jobId = uniqueId('wire');
      const text = `Please cancel my order #K30001, I ordered it twice. Reach me at ${email} or ${phone}; I paid with card ${card}.`;
      await client.startJob({ id: jobId, type: 'support-ticket', input: { text } });
      const result = await client.getResult(jobId);
      expect(result.status).toBe('completed');
      expect(result.actions).toHaveLength(1);

      // Every model step went to the remote server, each with the key in its header.
      const stations = new Set(result.ledger.map((entry) => entry.station));
      expect(result.ledger.every((entry) => entry.modelId.startsWith(`wire-${provider}-`))).toBe(true);
      expect(server.requests.length).toBeGreaterThanOrEqual(stations.size);
      for (const request of server.requests) expect(textOf(request.headers)).toContain(apiKey);

      const wire = textOf(server.requests.map((request) => request.body));
      for (const secret of secrets) expect(wire).not.toContain(secret);
      expect(wire).toContain('[EMAIL_1]');
      expect(wire).toContain('[PHONE_1]');
      expect(wire).toContain('[CARD_1]');

      // The history holds the ticket (a sign the scan reads payloads) and never the key.
      const history = textOf(await client.temporal.workflow.getHandle(jobId).fetchHistory());
      expect(history.includes('K30001')).toBe(true);
      expect(history.includes(apiKey), 'the API key is in the history').toBe(false);
    });
  });
}
