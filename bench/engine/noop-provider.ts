/**
 * A model provider that costs nothing: it answers every built-in station at once with a fixed, schema-valid output
 * (confident, no action proposed), so a benchmark of the factory measures the engine — Temporal, the
 * workflow, the gateway's validation and accounting — and not a model. It registers as the `local`
 * provider, so the default registry's local-small/medium/large models all resolve to it.
 */
import type { ModelProvider, ProviderRequest, ProviderResponse } from '../../providers/port';
import type { ModelStation } from '../../factories/support/legacy-stations';
import { createModelGateway, type ConveyorModelGateway } from '../../providers/gateway';
import { loadRegistry } from '../../providers/registry';

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

export function createNoopProvider(): ModelProvider {
  return {
    kind: 'local',
    generate(request: ProviderRequest): Promise<ProviderResponse> {
      const json = noopAnswers[request.schemaName] ?? noopAnswers.plan;
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
export function createNoopGateway(): ConveyorModelGateway {
  return createModelGateway({ registry: loadRegistry({}), providers: { local: createNoopProvider() }, cache: null, rateLimiter: null });
}

/** The prompt a station builds, as the activity builds it, so in-process calls do the same work. */
export function stationCall(station: ModelStation, input: unknown, modelId: string) {
  const prompt = station.prompt(input);
  return { modelId, station: station.name, input, system: prompt.system, prompt: prompt.user, schema: station.output };
}
