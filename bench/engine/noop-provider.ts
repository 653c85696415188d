/**
 * A model provider that costs nothing: it answers every built-in station at once with a fixed, schema-valid output
 * (confident, no action proposed), so a benchmark of the factory measures the engine — Temporal, the
 * workflow, the gateway's validation and accounting — and not a model. It registers as the `local`
 * provider, so the default registry's local-small/medium/large models all resolve to it.
 */
import type { ModelProvider, ProviderRequest, ProviderResponse } from '../../providers/port';
import type { ModelStation } from '../../factories/support/legacy-stations';
import { createModelGateway, type ConveyorModelGateway } from '../../providers/gateway';
import { createOpenAICompatibleProvider } from '../../providers/openai-compatible';
import { createRegistry, loadRegistry } from '../../providers/registry';

/** By station name (`plan` is the planner). */
export const noopAnswers: Record<string, unknown> = {
  'classify-intent': { intent: 'order_status', confidence: 0.99, alternatives: [] },
  'extract-entities': { orderIds: [], amounts: [], dates: [], emails: [], phones: [] },
  'assess-risk': { level: 'low', reasons: [] },
  'draft-reply': { subject: 'Your order', body: 'Thanks for writing; your order is on its way.' },
  'propose-action': { action: 'none', reason: 'benchmark: nothing to do' },
  'check-relevance': { relevant: false, confidence: 0.99 },
  'extract-call-info': { painPoints: [], nextSteps: [], competitors: [] },
  'write-action-document': { title: 'Follow-up', summary: 'Nothing to follow up.', actionItems: ['none'] },
  plan: { steps: [] },
};

/**
 * Answers of realistic size for a support ticket that waits for approval: a refund of $249.99 (above the
 * support factory's $100 threshold), entities, reasons and a reply a person would write. The memory
 * measurement's jobs hold these records while they wait.
 */
export const approvalAnswers: Record<string, unknown> = {
  ...noopAnswers,
  'classify-intent': { intent: 'refund_request', confidence: 0.97, alternatives: [{ intent: 'damaged_item', probability: 0.02 }] },
  'extract-entities': {
    orderIds: ['A1234', 'A1187'],
    amounts: [{ value: 249.99, currency: 'USD' }],
    dates: ['2026-11-24', '2026-11-28'],
    emails: ['sam.taylor@example.com'],
    phones: ['+1 555 0100'],
  },
  'assess-risk': { level: 'medium', reasons: ['refund above the automatic threshold', 'second order from the same customer this month', 'item reported damaged on arrival'] },
  'draft-reply': {
    subject: 'Your refund for order A1234',
    body:
      'Hello Sam,\n\nThank you for writing, and I am sorry the blender from order A1234 arrived with a cracked jug. ' +
      'I have asked for a full refund of $249.99 to the card you paid with; once it is approved you will see it within ' +
      'three to five business days. You do not need to send the item back. If you would like a replacement instead, ' +
      'reply to this message and I will arrange one at no cost.\n\nKind regards,\nThe support team',
  },
  'propose-action': { action: 'refund', orderId: 'A1234', amountUsd: 249.99, message: 'Refund of $249.99 for the damaged blender in order A1234.', reason: 'the item arrived damaged and the customer asked for a refund' },
};

export function createNoopProvider(answersByStation: Record<string, unknown> = noopAnswers): ModelProvider {
  return {
    kind: 'local',
    generate(request: ProviderRequest): Promise<ProviderResponse> {
      const json = answersByStation[request.schemaName] ?? answersByStation.plan;
      const confidence = (json as { confidence?: number }).confidence;
      return Promise.resolve({
        json,
        text: '',
        ...(confidence !== undefined ? { confidence } : {}),
        usage: { inputTokens: 20, outputTokens: 10 },
        modelVersion: 'noop',
      });
    },
  };
}

/**
 * The gateway every engine measurement uses, in the worker and in-process alike: the repository's model
 * registry (read from the file, ignoring remote-model variables), the no-op provider, no cache (so every
 * step really calls the provider) and no rate limiter.
 */
export function createNoopGateway(answersByStation: Record<string, unknown> = noopAnswers): ConveyorModelGateway {
  return createModelGateway({ registry: loadRegistry({}), providers: { local: createNoopProvider(answersByStation) }, cache: null, rateLimiter: null });
}

/** The prompt a station builds, as the activity builds it, so in-process calls do the same work. */
export function stationCall(station: ModelStation, input: unknown, modelId: string) {
  const prompt = station.prompt(input);
  return { modelId, station: station.name, input, system: prompt.system, prompt: prompt.user, schema: station.output };
}

/**
 * The gateway of the remote-like measurement: the repository's registry with every model turned into an
 * OpenAI-compatible model at `baseUrl` (the benchmark's model server, which answers after a fixed delay),
 * so each step is a real HTTP call as a paid model's would be — still no cache and no rate limiter.
 */
export function createRemoteLikeGateway(baseUrl: string): ConveyorModelGateway {
  const models = loadRegistry({}).models.map((model) => ({ ...model, provider: 'openai-compatible', providerModel: model.id, structuredOutput: true, options: { baseUrl } }));
  return createModelGateway({ registry: createRegistry(models, 'remote-like benchmark registry'), providers: { 'openai-compatible': createOpenAICompatibleProvider() }, cache: null, rateLimiter: null });
}
