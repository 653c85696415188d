/**
 * The one place remote providers call the Vercel AI SDK: `generateText` with a JSON output spec, no
 * SDK-level retries (Temporal owns retries), the model's timeout combined with the caller's abort signal,
 * and every failure mapped onto the typed errors of ./errors. An answer that is not JSON is returned as
 * text rather than thrown, because the gateway repairs it.
 */
import { generateText, jsonSchema, NoObjectGeneratedError, Output, type LanguageModel } from 'ai';
import type { JSONSchema7 } from 'ai';
import type { Usage } from '../domain/models';
import type { ProviderRequest, ProviderResponse } from './port';
import { fromAiSdkError } from './errors';
import { answerProbability, tokenLogprobsOf } from './logprobs';

export interface StructuredCallOptions {
  /** Secrets that must never appear in an error message (the API key). */
  secrets: ReadonlyArray<string | undefined>;
  /**
   * For endpoints with JSON mode but no schema support: the schema goes into the system prompt and the
   * request asks for plain JSON (no response schema, which such endpoints would ignore or refuse).
   */
  schemaInPromptOnly?: boolean;
  providerOptions?: Parameters<typeof generateText>[0]['providerOptions'];
}

interface SdkUsage {
  inputTokens: number | undefined;
  outputTokens: number | undefined;
  inputTokenDetails?: { cacheReadTokens?: number | undefined };
  outputTokenDetails?: { reasoningTokens?: number | undefined };
}

/** The SDK's usage as the ledger keeps it: totals, and the cached-input and reasoning counts when reported. */
export function usageOf(usage: SdkUsage | undefined): Usage | undefined {
  if (usage?.inputTokens === undefined || usage.outputTokens === undefined) return undefined;
  const cached = usage.inputTokenDetails?.cacheReadTokens;
  const reasoning = usage.outputTokenDetails?.reasoningTokens;
  return {
    inputTokens: usage.inputTokens,
    outputTokens: usage.outputTokens,
    ...(cached !== undefined ? { cachedInputTokens: cached } : {}),
    ...(reasoning !== undefined ? { reasoningTokens: reasoning } : {}),
  };
}

export async function generateStructured(
  languageModel: LanguageModel,
  request: ProviderRequest,
  options: StructuredCallOptions,
): Promise<ProviderResponse> {
  const { model } = request;
  const timeout = AbortSignal.timeout(model.timeoutMs);
  const abortSignal = request.signal ? AbortSignal.any([request.signal, timeout]) : timeout;
  const system = options.schemaInPromptOnly
    ? `${request.system}\n\nAnswer with one JSON object, and nothing else, that matches this JSON Schema:\n${JSON.stringify(request.jsonSchema)}`
    : request.system;
  try {
    const result = await generateText({
      model: languageModel,
      system,
      prompt: request.prompt,
      temperature: request.temperature,
      maxOutputTokens: request.maxOutputTokens,
      maxRetries: 0,
      abortSignal,
      providerOptions: options.providerOptions,
      output: options.schemaInPromptOnly
        ? Output.json({ name: request.schemaName })
        : Output.object({ schema: jsonSchema(request.jsonSchema as JSONSchema7), name: request.schemaName }),
    });
    let json: unknown;
    try {
      json = result.output;
    } catch {
      // No output (e.g. an empty answer cut off by the token limit): the gateway's repair sees the text.
      json = undefined;
    }
    const probability = request.logprobs ? answerProbability(tokenLogprobsOf(result.response.body), request.logprobs.field) : undefined;
    return {
      json,
      text: result.text,
      usage: usageOf(result.usage),
      modelVersion: result.response.modelId,
      ...(probability !== undefined ? { confidence: probability, confidenceSource: 'logprobs' as const } : {}),
    };
  } catch (error) {
    if (NoObjectGeneratedError.isInstance(error) && !(request.signal?.aborted || timeout.aborted)) {
      return { text: error.text ?? '', usage: usageOf(error.usage), modelVersion: error.response?.modelId };
    }
    if (request.signal?.aborted) throw request.signal.reason;
    throw fromAiSdkError(error, {
      modelId: model.id,
      timeoutMs: model.timeoutMs,
      timedOut: timeout.aborted,
      secrets: options.secrets,
    });
  }
}
