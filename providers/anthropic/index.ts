/**
 * Anthropic's Messages API through @ai-sdk/anthropic. Models with `structuredOutput` use Anthropic's
 * native output format; the others answer through the SDK's forced JSON tool. Model options: `baseUrl`
 * (default ANTHROPIC_BASE_URL, then Anthropic's own) and `apiKeyEnv` (default ANTHROPIC_API_KEY).
 */
import { createAnthropic, type AnthropicProvider } from '@ai-sdk/anthropic';
import { z } from 'zod';
import type { ModelSpec } from '../../domain/models';
import { generateStructured } from '../ai-sdk';
import { ProviderNotConfiguredError } from '../errors';
import type { ModelProvider } from '../port';

export const anthropicOptionsSchema = z.object({
  baseUrl: z.string().url().optional(),
  apiKeyEnv: z.string().default('ANTHROPIC_API_KEY'),
});

export interface AnthropicProviderSettings {
  /** Where keys and base URLs are read (process.env by default). */
  env?: NodeJS.ProcessEnv;
}

export function createAnthropicProvider(settings: AnthropicProviderSettings = {}): ModelProvider {
  const env = settings.env ?? process.env;
  const clients = new Map<string, AnthropicProvider>();

  function connectionFor(model: ModelSpec) {
    const parsed = anthropicOptionsSchema.safeParse(model.options);
    if (!parsed.success) {
      throw new ProviderNotConfiguredError(`${model.id}: invalid options for anthropic (${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')})`, model.id);
    }
    const apiKey = env[parsed.data.apiKeyEnv];
    if (!apiKey) throw new ProviderNotConfiguredError(`${model.id}: ${parsed.data.apiKeyEnv} is not set`, model.id);
    const baseUrl = parsed.data.baseUrl ?? (env.ANTHROPIC_BASE_URL || undefined);
    const clientKey = `${baseUrl ?? ''}\u0000${apiKey}`;
    let client = clients.get(clientKey);
    if (!client) {
      client = createAnthropic({ baseURL: baseUrl, apiKey });
      clients.set(clientKey, client);
    }
    return { client, apiKey };
  }

  return {
    kind: 'anthropic',
    async generate(request) {
      const { client, apiKey } = connectionFor(request.model);
      return generateStructured(client.messages(request.model.providerModel), request, {
        secrets: [apiKey],
        providerOptions: { anthropic: { structuredOutputMode: request.model.structuredOutput ? 'outputFormat' : 'jsonTool' } },
      });
    },
  };
}
