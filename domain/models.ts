/**
 * The model vocabulary shared by routing (pure, workflow side) and the model layer (activity side):
 * tiers, registry entries and the plain-data shape of one model call's outcome.
 */
import { z } from 'zod';

export const tiers = ['small', 'medium', 'large'] as const;
export const tierSchema = z.enum(tiers);
export type Tier = z.infer<typeof tierSchema>;

export const providerKinds = ['local', 'openai-compatible', 'anthropic', 'replay'] as const;

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
  contextWindow: z.number().int().positive(),
  structuredOutput: z.boolean(),
  rateLimit: z
    .object({
      requestsPerMinute: z.number().positive().optional(),
      tokensPerMinute: z.number().positive().optional(),
    })
    .default({}),
  timeoutMs: z.number().int().positive().default(60_000),
  /** Provider-specific settings (base URL env name, model file path, …). */
  options: z.record(z.string(), z.unknown()).default({}),
});
export type ModelSpec = z.infer<typeof modelSpecSchema>;

export const usageSchema = z.object({ inputTokens: z.number().int().nonnegative(), outputTokens: z.number().int().nonnegative() });
export type Usage = z.infer<typeof usageSchema>;

/** Cost in USD from registry prices. */
export function costUsd(model: Pick<ModelSpec, 'inputPricePerMTokUsd' | 'outputPricePerMTokUsd'>, usage: Usage): number {
  return (usage.inputTokens * model.inputPricePerMTokUsd + usage.outputTokens * model.outputPricePerMTokUsd) / 1_000_000;
}
