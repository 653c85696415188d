/**
 * The model gateway: what an activity calls to get one schema-valid answer from one registry model.
 * In order: resolve the model, look the call up in the cross-run cache, wait for rate-limit capacity,
 * call the provider with the station schema as JSON Schema, validate with the zod schema, repair once
 * (the second prompt quotes the validation error), then account tokens, cost and latency. Long calls
 * heartbeat so Temporal can tell a slow model from a dead worker; the caller's abort signal cancels.
 * The cache is an optimisation, never a dependency: when the store fails, calls go on without it.
 * Requests to remote providers are redacted first (providers/redaction.ts): the provider, the cache
 * key and the cached answer see placeholders, and the answer is restored before validation.
 */
import { z } from 'zod';
import { addUsage, costUsd, DEFAULT_COOLDOWN_MS, type ModelSpec, type Usage } from '../domain/models';
import { openCacheStore, cacheKey, type CacheStore } from './cache';
import { ContextLengthExceededError, isProviderOutage, ModelRateLimitedError, ModelsCoolingDownError, ProviderNotConfiguredError, SchemaViolationError } from './errors';
import type { CacheStats, FailoverStep, ModelCall, ModelCallOutcome, ModelGateway } from './gateway-types';
import { createAnthropicProvider } from './anthropic';
import { countTokens as countLocalTokens, createLocalProvider } from './local';
import { createOpenAICompatibleProvider } from './openai-compatible';
import type { ModelProvider, ProviderRequest, ProviderResponse } from './port';
import { createRateLimiter, type RateLimiter } from './rate-limit';
import { loadRegistry, type ModelRegistry } from './registry';
import { Redactor, redactionEnabledFor, redactionFromEnvironment } from './redaction';
import { createReplayProvider } from './replay';

type ProviderKind = ModelSpec['provider'];

export interface ModelGatewayOptions {
  registry?: ModelRegistry;
  /** Overrides per provider kind; kinds not given are created on first use from the environment. */
  providers?: Partial<Record<ProviderKind, ModelProvider>>;
  /** undefined: the configured store (openCacheStore); null: no cache. A store passed in is not closed by the gateway. */
  cache?: CacheStore | null;
  /** undefined: a limiter of its own (per-model limits from the registry); null: no limits. */
  rateLimiter?: RateLimiter | null;
  now?: () => number;
  countTokens?: (text: string) => number;
  heartbeatIntervalMs?: number;
  defaultCacheTtlSeconds?: number;
  /** A cache operation slower than this counts as a cache error and the call goes on without it. */
  cacheTimeoutMs?: number;
  /** After a cache error the cache is left alone this long, so a dead store costs one timeout, not one per call. */
  cacheRetryAfterMs?: number;
  log?: (message: string) => void;
  env?: NodeJS.ProcessEnv;
}

export interface GatewayCacheStats extends CacheStats {
  /** Cache operations that failed or timed out (the calls went on uncached). */
  cacheErrors: number;
}

interface CachedOutcome {
  output: unknown;
  confidence: number | null;
  confidenceSource?: ModelCallOutcome<unknown>['confidenceSource'];
  usage: Usage;
  costUsd: number;
  repaired: boolean;
  modelVersion?: string;
  /** The call that paid for this answer (ModelCall.settles), and how long it took. */
  settles?: string;
  latencyMs?: number;
}

type Validation<T> = { ok: true; output: T } | { ok: false; issues: string[]; answer: string };

const sevenDays = 7 * 24 * 3600;

function stripCodeFence(text: string): string {
  const fenced = /^\s*```(?:json)?\s*([\s\S]*?)\s*```\s*$/i.exec(text);
  return fenced?.[1] ?? text;
}

function validate<T>(schema: z.ZodType<T>, response: ProviderResponse): Validation<T> {
  let candidate = response.json;
  if (candidate === undefined) {
    try {
      candidate = JSON.parse(stripCodeFence(response.text)) as unknown;
    } catch {
      return { ok: false, issues: ['the answer is not a JSON object'], answer: response.text };
    }
  }
  const parsed = schema.safeParse(candidate);
  if (parsed.success) return { ok: true, output: parsed.data };
  const issues = parsed.error.issues.map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(root)'}: ${issue.message}`);
  return { ok: false, issues, answer: response.text || JSON.stringify(candidate) };
}

function repairPrompt(prompt: string, failure: { issues: string[]; answer: string }): string {
  const answer = failure.answer.length > 2_000 ? `${failure.answer.slice(0, 2_000)}…` : failure.answer;
  return [
    prompt,
    '',
    'Your previous answer was rejected because it does not match the required JSON schema:',
    ...failure.issues.map((issue) => `- ${issue}`),
    'Previous answer:',
    answer,
    'Answer again with only a JSON object that matches the schema.',
  ].join('\n');
}

function withTimeout<T>(operation: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`cache operation took longer than ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([operation, timeout]).finally(() => clearTimeout(timer));
}

export interface ConveyorModelGateway extends ModelGateway {
  cacheStats(): GatewayCacheStats;
}

export function createModelGateway(options: ModelGatewayOptions = {}): ConveyorModelGateway {
  const env = options.env ?? process.env;
  const registry = options.registry ?? loadRegistry(env);
  const now = options.now ?? Date.now;
  const countTokens = options.countTokens ?? countLocalTokens;
  const log = options.log ?? ((message: string) => console.warn(message));
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? 5_000;
  const defaultTtlSeconds = options.defaultCacheTtlSeconds ?? (Number(env.CONVEYOR_CACHE_TTL_SECONDS) || sevenDays);
  const cacheTimeoutMs = options.cacheTimeoutMs ?? 2_000;
  const cacheRetryAfterMs = options.cacheRetryAfterMs ?? 30_000;
  let cacheSuspendedUntil = 0;
  const ownsCache = options.cache === undefined;
  const cache = options.cache === undefined ? openCacheStore(env) : options.cache;
  const limiter = options.rateLimiter === undefined ? createRateLimiter({ now }) : options.rateLimiter;
  const stats: GatewayCacheStats = { hits: 0, misses: 0, costSavedUsd: 0, cacheErrors: 0 };
  let cacheFailureLogged = false;
  const jsonSchemas = new WeakMap<z.ZodType, Record<string, unknown>>();
  const providers = new Map<ProviderKind, ModelProvider>(Object.entries(options.providers ?? {}) as Array<[ProviderKind, ModelProvider]>);
  const redactionSetting = redactionFromEnvironment(env);

  const providerFactories: Record<ProviderKind, () => ModelProvider> = {
    local: () => createLocalProvider(),
    'openai-compatible': () => createOpenAICompatibleProvider({ env }),
    anthropic: () => createAnthropicProvider({ env }),
    replay: () => createReplayProvider(),
  };

  function providerFor(model: ModelSpec): ModelProvider {
    let provider = providers.get(model.provider);
    if (!provider) {
      provider = providerFactories[model.provider]();
      if (provider.kind !== model.provider) {
        throw new ProviderNotConfiguredError(`${model.id}: provider "${model.provider}" is not available in this worker`, model.id);
      }
      providers.set(model.provider, provider);
    }
    return provider;
  }

  function jsonSchemaOf(schema: z.ZodType): Record<string, unknown> {
    let jsonSchema = jsonSchemas.get(schema);
    if (!jsonSchema) {
      // io 'output': closed objects with every defaulted field required, which strict structured output needs.
      jsonSchema = z.toJSONSchema(schema, { io: 'output', unrepresentable: 'any' });
      jsonSchemas.set(schema, jsonSchema);
    }
    return jsonSchema;
  }

  async function guardCache<T>(operation: () => Promise<T>): Promise<T | undefined> {
    if (now() < cacheSuspendedUntil) return undefined;
    try {
      return await withTimeout(operation(), cacheTimeoutMs);
    } catch (error) {
      stats.cacheErrors++;
      cacheSuspendedUntil = now() + cacheRetryAfterMs;
      if (!cacheFailureLogged) {
        cacheFailureLogged = true;
        log(`conveyor: the ${cache?.kind ?? ''} model cache is unavailable (${error instanceof Error ? error.message : String(error)}); calls continue without it`);
      }
      return undefined;
    }
  }

  function usageOf(request: ProviderRequest, response: ProviderResponse): Usage {
    return (
      response.usage ?? {
        inputTokens: countTokens(`${request.system}\n${request.prompt}`),
        outputTokens: countTokens(response.text),
      }
    );
  }

  function startHeartbeat<T>(call: ModelCall<T>, started: number): () => void {
    const { heartbeat } = call;
    if (!heartbeat) return () => {};
    const timer = setInterval(() => heartbeat({ modelId: call.modelId, station: call.station, waitingMs: now() - started }), heartbeatIntervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  async function callModel<T>(call: ModelCall<T>): Promise<ModelCallOutcome<T>> {
    const started = now();
    const registered = registry.byId(call.modelId);
    const model = call.modelOptions ? { ...registered, options: { ...registered.options, ...call.modelOptions } } : registered;
    const provider = providerFor(model);
    const jsonSchema = jsonSchemaOf(call.schema);
    const temperature = call.temperature ?? 0;
    // One session per call, so system, prompt and input share placeholders and the answer can be restored.
    const redactor = redactionEnabledFor(model, redactionSetting) ? new Redactor() : undefined;
    const outgoing = redactor
      ? { system: redactor.redactText(call.system), prompt: redactor.redactText(call.prompt), input: redactor.redact(call.input) }
      : { system: call.system, prompt: call.prompt, input: call.input };
    const restore = <V>(value: V): V => (redactor ? redactor.restore(value) : value);
    const cacheable = cache !== null && call.cache?.enabled !== false && (temperature === 0 || call.cache?.cacheNonZeroTemperature === true);
    const key = cacheable
      ? cacheKey({
          modelId: model.id,
          providerModel: model.providerModel,
          system: outgoing.system,
          prompt: outgoing.prompt,
          input: outgoing.input,
          parameters: { temperature, ...(call.logprobs ? { logprobs: call.logprobs } : {}) },
          jsonSchema,
          ...(call.modelOptions ? { modelOptions: call.modelOptions } : {}),
        })
      : undefined;

    if (cache && key) {
      const entry = await guardCache(() => cache.get(key));
      const cached = entry?.value as CachedOutcome | undefined;
      const output = cached ? call.schema.safeParse(restore(cached.output)) : undefined;
      if (cached && output?.success) {
        // The same call asked again (its activity or workflow task ran again) is settled as it was the first
        // time, so the ledger shows what was paid once and every attempt's metrics agree with it. Any other
        // call with this content is a hit: nothing was consumed, and the saving shows in cacheStats.
        const settled = call.settles !== undefined && cached.settles === call.settles;
        if (!settled) {
          stats.hits++;
          stats.costSavedUsd += entry?.costUsd ?? 0;
        }
        return {
          output: output.data,
          confidence: cached.confidence,
          ...(cached.confidenceSource ? { confidenceSource: cached.confidenceSource } : {}),
          ...(settled
            ? { usage: cached.usage, costUsd: entry?.costUsd ?? cached.costUsd, latencyMs: cached.latencyMs ?? now() - started, cacheHit: false }
            : { usage: { inputTokens: 0, outputTokens: 0 }, costUsd: 0, latencyMs: now() - started, cacheHit: true }),
          repaired: cached.repaired,
          modelId: model.id,
          ...(cached.modelVersion ? { modelVersion: cached.modelVersion } : {}),
        };
      }
      stats.misses++;
    }

    const request: ProviderRequest = {
      model,
      ...(call.local ? { local: call.local } : {}),
      input: outgoing.input,
      system: outgoing.system,
      prompt: outgoing.prompt,
      jsonSchema,
      schemaName: call.station,
      temperature,
      ...(call.logprobs ? { logprobs: call.logprobs } : {}),
      signal: call.signal,
    };
    const promptTokens = countTokens(`${call.system}\n${call.prompt}\n${JSON.stringify(call.input) ?? ''}`);
    if (promptTokens > model.contextWindow) {
      throw new ContextLengthExceededError(
        `${model.id}: the prompt needs about ${promptTokens} tokens but the model's context window is ${model.contextWindow}`,
        model.id,
      );
    }

    const attempt = async (attemptRequest: ProviderRequest) => {
      const estimate = countTokens(`${attemptRequest.system}\n${attemptRequest.prompt}`);
      await limiter?.acquire(model, estimate, call.signal);
      const answer = await provider.generate(attemptRequest);
      const usage = usageOf(attemptRequest, answer);
      const response = redactor ? { ...answer, text: restore(answer.text), json: restore(answer.json) } : answer;
      limiter?.settle(model, usage.inputTokens + usage.outputTokens - estimate);
      return { response, usage };
    };

    const stopHeartbeat = startHeartbeat(call, started);
    try {
      const first = await attempt(request);
      let usage = first.usage;
      let response = first.response;
      let validation = validate(call.schema, response);
      let repaired = false;
      if (!validation.ok) {
        const repairRequestPrompt = repairPrompt(outgoing.prompt, validation);
        const repair = await attempt({ ...request, prompt: redactor ? redactor.redactText(repairRequestPrompt) : repairRequestPrompt });
        usage = addUsage(usage, repair.usage);
        response = repair.response;
        validation = validate(call.schema, response);
        if (!validation.ok) {
          throw new SchemaViolationError(
            `${model.id}: the answer for station "${call.station}" broke its schema twice (after one repair): ${validation.issues.join('; ')}`,
            model.id,
            validation.issues,
          );
        }
        repaired = true;
      }
      const outcome: ModelCallOutcome<T> = {
        output: validation.output,
        confidence: response.confidence ?? null,
        ...(response.confidenceSource && response.confidence !== undefined ? { confidenceSource: response.confidenceSource } : {}),
        usage,
        costUsd: costUsd(model, usage),
        latencyMs: now() - started,
        cacheHit: false,
        repaired,
        modelId: model.id,
        ...(response.modelVersion ? { modelVersion: response.modelVersion } : {}),
      };
      if (cache && key) {
        const stored: CachedOutcome = {
          // Stored as the remote model saw it: placeholders, restored with the next caller's own values.
          output: redactor ? redactor.redact(outcome.output) : outcome.output,
          confidence: outcome.confidence,
          ...(outcome.confidenceSource ? { confidenceSource: outcome.confidenceSource } : {}),
          usage,
          costUsd: outcome.costUsd,
          repaired,
          ...(outcome.modelVersion ? { modelVersion: outcome.modelVersion } : {}),
          ...(call.settles !== undefined ? { settles: call.settles, latencyMs: outcome.latencyMs } : {}),
        };
        await guardCache(() => cache.set(key, { value: stored, costUsd: outcome.costUsd }, call.cache?.ttlSeconds ?? defaultTtlSeconds));
      }
      return outcome;
    } finally {
      stopHeartbeat();
    }
  }

  // Failover within a tier: models cooling down after an outage, shared by every call this worker makes.
  const cooldowns = new Map<string, { until: number; reason: string; cooldowns: number }>();
  const coolingDown = (modelId: string) => {
    const cooldown = cooldowns.get(modelId);
    return cooldown && now() < cooldown.until ? cooldown : undefined;
  };

  function coolDown(modelId: string, error: Error): { until: number; reason: string } {
    const model = registry.byId(modelId);
    const retryAfter = error instanceof ModelRateLimitedError ? (error.retryAfterMs ?? 0) : 0;
    const until = now() + Math.max(model.cooldownMs ?? DEFAULT_COOLDOWN_MS, retryAfter);
    const reason = `${error.name}: ${error.message}`;
    const count = (cooldowns.get(modelId)?.cooldowns ?? 0) + 1;
    cooldowns.set(modelId, { until, reason, cooldowns: count });
    log(`conveyor: model ${modelId} cools down for ${Math.round((until - now()) / 1000)} s after ${error.name}; its tier's next model answers meanwhile`);
    return { until, reason };
  }

  /**
   * One call with failover: the chosen model, then the other models of its tier in the order given.
   * A model cooling down is passed over; one that fails with a provider outage is cooled down and passed
   * over. Without fallbacks nothing is cooled down (Temporal's retries and the router handle a lone model).
   */
  async function callWithFailover<T>(call: ModelCall<T>): Promise<ModelCallOutcome<T>> {
    const candidates = [call.modelId, ...(call.fallbacks ?? []).filter((id) => id !== call.modelId)];
    if (candidates.length === 1) return callModel(call);
    const passedOver: FailoverStep[] = [];
    let lastError: Error | undefined;
    for (const modelId of candidates) {
      const cooling = coolingDown(modelId);
      if (cooling) {
        passedOver.push({ modelId, reason: `cooling down: ${cooling.reason}`, coolingDownUntil: new Date(cooling.until).toISOString() });
        continue;
      }
      try {
        const outcome = await callModel({ ...call, modelId });
        return passedOver.length > 0 ? { ...outcome, failover: passedOver } : outcome;
      } catch (error) {
        if (!isProviderOutage(error) || call.signal?.aborted) throw error;
        lastError = error;
        const { until, reason } = coolDown(modelId, error);
        passedOver.push({ modelId, reason, coolingDownUntil: new Date(until).toISOString() });
      }
    }
    if (lastError) throw lastError;
    const soonest = Math.min(...candidates.map((id) => coolingDown(id)?.until ?? now()));
    throw new ModelsCoolingDownError(
      `every model of the tier is cooling down after an outage (${passedOver.map((step) => `${step.modelId}: ${step.reason}`).join('; ')})`,
      call.modelId,
      Math.max(0, soonest - now()),
    );
  }

  return {
    call: callWithFailover,
    models: () => registry.models,
    cacheStats: () => ({ ...stats }),
    cooldowns: () =>
      [...cooldowns.entries()]
        .filter(([, cooldown]) => now() < cooldown.until)
        .map(([modelId, cooldown]) => ({ modelId, until: new Date(cooldown.until).toISOString(), reason: cooldown.reason, cooldowns: cooldown.cooldowns })),
    async close() {
      if (ownsCache && cache) await cache.close();
    },
  };
}
