/**
 * What lets the factory run a classifier trained on an evaluation dataset's own labels (77 banking
 * intents, 150 assistant intents, …): the classify-intent station's output schema and the local
 * provider both admit only the ten support intents. The evaluation therefore serves its small tier
 * with this open-label adapter — the same saved model file, `classifyText`, output shape and token
 * counts as the local provider — and widens the station's `intent` to any label at the gateway.
 * Routing, thresholds, escalation and cost accounting stay exactly the factory's.
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { ModelSpec } from '../../domain/models';
import { classifyIntentOutputSchema, ticketTextInputSchema } from '../../factories/support/schemas';
import type { ModelCall, ModelGateway } from '../../providers/gateway-types';
import { createLocalProvider, countTokens, InvalidLocalInputError } from '../../providers/local';
import { classifyText } from '../../providers/local/classifier';
import { loadClassifier, modelVersionOf, type SavedClassifier } from '../../providers/local/model-file';
import { countValueTokens } from '../../providers/local/tokens';
import type { ModelProvider, ProviderRequest, ProviderResponse } from '../../providers/port';
import { createRegistry, loadRegistry, type ModelRegistry } from '../../providers/registry';

export const CLASSIFY_INTENT = 'classify-intent';
export const EVAL_SMALL_MODEL_ID = 'eval-small';

/** classify-intent's output with `intent` open to the model's own labels. */
export const openIntentOutputSchema = classifyIntentOutputSchema.extend({ intent: z.string().min(1) });
export type OpenIntentOutput = z.infer<typeof openIntentOutputSchema>;

/** The answer of a saved classifier for one text, shaped exactly like the local provider's. */
export function classifyWithSavedModel(saved: SavedClassifier, text: string): { output: OpenIntentOutput; confidence: number } {
  const { label, confidence, ranked } = classifyText(saved.model, text);
  const output: OpenIntentOutput = {
    intent: label,
    confidence,
    alternatives: ranked.slice(1, 5).map(({ label: intent, probability }) => ({ intent, probability })),
  };
  return { output, confidence };
}

/**
 * A `local` provider that answers classify-intent from `options.modelFile` with any label set; every
 * other call (other skills, specs without a model file) goes to the standard local provider.
 */
export function createOpenLabelLocalProvider(fallback: ModelProvider = createLocalProvider()): ModelProvider {
  const loaded = new Map<string, { modifiedMs: number; saved: SavedClassifier; version: string }>();

  const savedModelOf = (model: ModelSpec): { saved: SavedClassifier; version: string } | undefined => {
    const file = model.options.modelFile;
    if (typeof file !== 'string' || file === '') return undefined;
    const absolute = path.resolve(file);
    const modifiedMs = statSync(absolute).mtimeMs;
    const cached = loaded.get(absolute);
    if (cached && cached.modifiedMs === modifiedMs) return cached;
    const saved = loadClassifier(absolute);
    const entry = { modifiedMs, saved, version: modelVersionOf(saved.task, saved.model) };
    loaded.set(absolute, entry);
    return entry;
  };

  return {
    kind: 'local',
    generate(request: ProviderRequest): Promise<ProviderResponse> {
      if (request.schemaName !== CLASSIFY_INTENT) return fallback.generate(request);
      try {
        request.signal?.throwIfAborted();
        const model = savedModelOf(request.model);
        if (!model) return fallback.generate(request);
        const parsed = ticketTextInputSchema.safeParse(request.input);
        if (!parsed.success) throw new InvalidLocalInputError(`input of station ${request.schemaName}: text: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
        const { output, confidence } = classifyWithSavedModel(model.saved, parsed.data.text);
        const text = JSON.stringify(output);
        return Promise.resolve({
          json: output,
          text,
          confidence,
          usage: { inputTokens: countValueTokens(request.input), outputTokens: countTokens(text) },
          modelVersion: model.version,
        });
      } catch (error) {
        return Promise.reject(error instanceof Error ? error : new Error(String(error)));
      }
    },
  };
}

/** The gateway, with classify-intent answers validated against the open-label schema. */
export function withOpenIntentLabels(gateway: ModelGateway): ModelGateway {
  return {
    call<T>(call: ModelCall<T>) {
      if (call.station !== CLASSIFY_INTENT) return gateway.call(call);
      return gateway.call({ ...call, schema: openIntentOutputSchema as unknown as z.ZodType<T> });
    },
    models: () => gateway.models(),
    cacheStats: () => gateway.cacheStats(),
    close: () => gateway.close(),
  };
}

/**
 * The configured registry with its small tier replaced by the model under evaluation: a local spec
 * with `options.modelFile`, priced like the registry's local small model. Other tiers are unchanged,
 * so escalations go where the factory would send them.
 */
export function evaluationRegistry(modelFile: string, env: NodeJS.ProcessEnv = process.env): ModelRegistry {
  const configured = loadRegistry(env);
  const localSmall =
    configured.models.find((model) => model.provider === 'local' && model.tier === 'small') ??
    loadRegistry({ CONVEYOR_MODELS_FILE: env.CONVEYOR_MODELS_FILE }).byTier('small');
  const underEvaluation: ModelSpec = {
    ...localSmall,
    id: EVAL_SMALL_MODEL_ID,
    description: `The classifier under evaluation (${path.basename(modelFile)}), priced like ${localSmall.id}.`,
    options: { ...localSmall.options, modelFile: path.resolve(modelFile) },
  };
  return createRegistry([underEvaluation, ...configured.models.filter((model) => model.tier !== 'small')], 'evaluation registry');
}
