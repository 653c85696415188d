/**
 * The model vocabulary shared by routing (pure, workflow side) and the model layer (activity side):
 * tiers, registry entries and the plain-data shape of one model call's outcome.
 */
import { z } from 'zod';

import { providerKinds, tiers } from './model-kinds';

export { executionOf, inProcessProviders, providerKinds, tiers, type ProviderKind, type Tier } from './model-kinds';
export const tierSchema = z.enum(tiers);

export const modelSpecSchema = z.object({
  id: z.string().min(1),
  provider: z.enum(providerKinds),
  /** The provider's own model name (or, for `local`, the local model's kind). */
  providerModel: z.string().min(1),
  tier: tierSchema,
  /** Honest one-line description shown in the registry listing and the README. */
  description: z.string().default(''),
  inputPricePerMTokUsd: z.number().nonnegative(),
  outputPricePerMTokUsd: z.number().nonnegative(),
  /** Price of input tokens read from the provider's prompt cache (default: the input price). */
  cachedInputPricePerMTokUsd: z.number().nonnegative().optional(),
  /** Price of reasoning ("thinking") output tokens (default: the output price). */
  reasoningPricePerMTokUsd: z.number().nonnegative().optional(),
  contextWindow: z.number().int().positive(),
  structuredOutput: z.boolean(),
  rateLimit: z
    .object({
      requestsPerMinute: z.number().positive().optional(),
      tokensPerMinute: z.number().positive().optional(),
    })
    .default({}),
  timeoutMs: z.number().int().positive().default(60_000),
  /**
   * After a provider outage (5xx, 429, connection, timeout) the model is left alone this long by the
   * worker's calls, and the next model of its tier answers (failover); after it, calls try it again.
   * Default DEFAULT_COOLDOWN_MS.
   */
  cooldownMs: z.number().int().nonnegative().optional(),
  /** Provider-specific settings (base URL env name, model file path, …). */
  options: z.record(z.string(), z.unknown()).default({}),
});
export type ModelSpec = z.infer<typeof modelSpecSchema>;

/** How long a model that had an outage is left alone when its spec sets no `cooldownMs`. */
export const DEFAULT_COOLDOWN_MS = 30_000;

/**
 * Tokens one call used, as providers bill them. `inputTokens` counts every input token, the
 * `cachedInputTokens` read from the provider's prompt cache among them; `outputTokens` counts every
 * output token, the `reasoningTokens` among them. The two details are absent when the provider did not
 * report them (then they are billed at the plain input and output prices).
 */
export const usageSchema = z.object({
  inputTokens: z.number().int().nonnegative(),
  outputTokens: z.number().int().nonnegative(),
  cachedInputTokens: z.number().int().nonnegative().optional(),
  reasoningTokens: z.number().int().nonnegative().optional(),
});
export type Usage = z.infer<typeof usageSchema>;

export type ModelPrices = Pick<ModelSpec, 'inputPricePerMTokUsd' | 'outputPricePerMTokUsd' | 'cachedInputPricePerMTokUsd' | 'reasoningPricePerMTokUsd'>;

/**
 * Cost in USD from registry prices: uncached input, cached input, non-reasoning output and reasoning
 * output, each at its own price (a detail the provider reported more of than its total is capped at it).
 */
export function costUsd(model: ModelPrices, usage: Usage): number {
  const cached = Math.min(usage.cachedInputTokens ?? 0, usage.inputTokens);
  const reasoning = Math.min(usage.reasoningTokens ?? 0, usage.outputTokens);
  return (
    ((usage.inputTokens - cached) * model.inputPricePerMTokUsd +
      cached * (model.cachedInputPricePerMTokUsd ?? model.inputPricePerMTokUsd) +
      (usage.outputTokens - reasoning) * model.outputPricePerMTokUsd +
      reasoning * (model.reasoningPricePerMTokUsd ?? model.outputPricePerMTokUsd)) /
    1_000_000
  );
}

/** Two usages added (a call and its repair): details are kept when either reported them. */
export function addUsage(a: Usage, b: Usage): Usage {
  const detail = (x: number | undefined, y: number | undefined) => (x === undefined && y === undefined ? {} : { value: (x ?? 0) + (y ?? 0) });
  const cached = detail(a.cachedInputTokens, b.cachedInputTokens);
  const reasoning = detail(a.reasoningTokens, b.reasoningTokens);
  return {
    inputTokens: a.inputTokens + b.inputTokens,
    outputTokens: a.outputTokens + b.outputTokens,
    ...('value' in cached ? { cachedInputTokens: cached.value } : {}),
    ...('value' in reasoning ? { reasoningTokens: reasoning.value } : {}),
  };
}
