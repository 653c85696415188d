/**
 * Any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama, llama.cpp server, LiteLLM, …)
 * through @ai-sdk/openai-compatible. Models with `structuredOutput` get the station schema as a
 * `json_schema` response format; the others get JSON mode and the schema in the system prompt.
 * Model options: `baseUrl` (or `baseUrlEnv`, the name of a variable holding it) and `apiKeyEnv`
 * (default OPENAI_API_KEY), read when the call is made so keys never sit in a model spec.
 */
import { createOpenAICompatible, type OpenAICompatibleProvider } from '@ai-sdk/openai-compatible';
import { z } from 'zod';
import type { ModelSpec } from '../../domain/models';
import { generateStructured } from '../ai-sdk';
import { ProviderNotConfiguredError } from '../errors';
import type { ModelProvider } from '../port';

export const openAICompatibleOptionsSchema = z.object({
  baseUrl: z.string().url().optional(),
  baseUrlEnv: z.string().optional(),
  apiKeyEnv: z.string().default('OPENAI_API_KEY'),
});

/**
 * OpenAI's strict structured outputs accept only closed objects whose properties are all required. A
 * station schema with optional fields is still sent as the response format, just not as strict.
 */
export function isStrictCompatible(schema: unknown): boolean {
  if (Array.isArray(schema)) return schema.every(isStrictCompatible);
  if (schema === null || typeof schema !== 'object') return true;
  const node = schema as Record<string, unknown>;
  if (node.type === 'object' || node.properties !== undefined) {
    const properties = Object.keys((node.properties as Record<string, unknown> | undefined) ?? {});
    const required = new Set((node.required as string[] | undefined) ?? []);
    if (node.additionalProperties !== false || !properties.every((name) => required.has(name))) return false;
  }
  return Object.values(node).every(isStrictCompatible);
}

const providerName = 'conveyor-openai-compatible';

export interface OpenAICompatibleProviderSettings {
  /** Where keys and base URLs named by model options are read (process.env by default). */
  env?: NodeJS.ProcessEnv;
}

export function createOpenAICompatibleProvider(settings: OpenAICompatibleProviderSettings = {}): ModelProvider {
  const env = settings.env ?? process.env;
  const clients = new Map<string, OpenAICompatibleProvider>();

  function connectionFor(model: ModelSpec) {
    const parsed = openAICompatibleOptionsSchema.safeParse(model.options);
    if (!parsed.success) {
      throw new ProviderNotConfiguredError(`${model.id}: invalid options for openai-compatible (${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')})`, model.id);
    }
    const baseUrl = parsed.data.baseUrl ?? (parsed.data.baseUrlEnv ? env[parsed.data.baseUrlEnv] : undefined) ?? env.OPENAI_BASE_URL;
    if (!baseUrl) {
      throw new ProviderNotConfiguredError(`${model.id}: no base URL; set options.baseUrl in the registry or OPENAI_BASE_URL`, model.id);
    }
    const apiKey = env[parsed.data.apiKeyEnv] || undefined;
    const clientKey = `${baseUrl}\u0000${model.structuredOutput}\u0000${apiKey ?? ''}`;
    let client = clients.get(clientKey);
    if (!client) {
      client = createOpenAICompatible({ name: providerName, baseURL: baseUrl, apiKey, supportsStructuredOutputs: model.structuredOutput });
      clients.set(clientKey, client);
    }
    return { client, apiKey };
  }

  return {
    kind: 'openai-compatible',
    async generate(request) {
      const { client, apiKey } = connectionFor(request.model);
      return generateStructured(client.chatModel(request.model.providerModel), request, {
        secrets: [apiKey],
        schemaInPromptOnly: !request.model.structuredOutput,
        providerOptions: {
          openaiCompatible: { strictJsonSchema: isStrictCompatible(request.jsonSchema) },
          // Options under the provider's own name that the SDK does not know go into the request body as they are.
          ...(request.logprobs ? { [providerName]: { logprobs: true } } : {}),
        },
      });
    },
  };
}
