/**
 * The model vocabulary workflow code needs, with no schema library: tiers, provider kinds and which of
 * them answer in the worker's process. Workflows import this module, not domain/models.ts, so a cached
 * workflow does not build the registry's zod schemas (the SDK gives every workflow its own module state).
 */
export const tiers = ['small', 'medium', 'large'] as const;
export type Tier = (typeof tiers)[number];

export const providerKinds = ['local', 'openai-compatible', 'anthropic', 'replay'] as const;
export type ProviderKind = (typeof providerKinds)[number];

/**
 * Providers that answer inside the worker's process (the local models, the learning registry's served
 * models, recorded replays): nothing is paid and nothing leaves the host, so their calls run as Temporal
 * local activities. Every other provider is a remote, paid call: a regular activity with heartbeats.
 */
export const inProcessProviders: readonly ProviderKind[] = ['local', 'replay'];

/** How a step's model call runs: `local` (a local activity, in the workflow task) when every model it may use answers in process. */
export function executionOf(models: readonly { provider: ProviderKind }[]): 'local' | 'remote' {
  return models.every((model) => inProcessProviders.includes(model.provider)) ? 'local' : 'remote';
}
