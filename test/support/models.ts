/**
 * Registries for factory tests: the default local models, with chosen tiers served instead by a fake
 * OpenAI-protocol server (the outer boundary), so a test decides exactly what a tier answers.
 */
import type { ModelSpec, Tier } from '../../domain/models';
import { createRegistry, loadRegistry, type ModelRegistry } from '../../providers/registry';

export function fakeModel(tier: Tier, baseUrl: string, price = { input: 1, output: 2 }): ModelSpec {
  return {
    id: `fake-${tier}`,
    provider: 'openai-compatible',
    providerModel: `fake-${tier}`,
    tier,
    description: `fake ${tier} model on a local OpenAI-protocol test server`,
    inputPricePerMTokUsd: price.input,
    outputPricePerMTokUsd: price.output,
    contextWindow: 100_000,
    structuredOutput: true,
    rateLimit: {},
    timeoutMs: 5000,
    options: { baseUrl },
  };
}

/** The default (local) registry with the given tiers replaced by fake-server models. */
export function registryWithFakeTiers(baseUrl: string, fakeTiers: Tier[]): ModelRegistry {
  const local = loadRegistry({}).models.filter((model) => !fakeTiers.includes(model.tier));
  return createRegistry([...fakeTiers.map((tier) => fakeModel(tier, baseUrl)), ...local], 'test registry');
}

/** The model name a fake-server request was made for. */
export const requestedModel = (body: unknown) => (body as { model?: string } | undefined)?.model ?? '';
