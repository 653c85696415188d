/**
 * How an evaluation serves the model under evaluation: the configured registry with its small tier
 * replaced by a local model that reads the saved classifier, and a gateway with the engine's own local
 * provider, no cache and no rate limiter (every item calls its models, offline and durably alike). The
 * target's station (see `withModelLabels` in target.ts) reads the file from `EVAL_MODEL_FILE_OPTION`.
 */
import path from 'node:path';
import type { ModelSpec } from '../../domain/models';
import { createModelGateway } from '../../providers/gateway';
import type { ModelGateway } from '../../providers/gateway-types';
import { createLocalProvider } from '../../providers/local';
import { createRegistry, loadRegistry, type ModelRegistry } from '../../providers/registry';
import { EVAL_MODEL_FILE_OPTION } from './target';

export const EVAL_SMALL_MODEL_ID = 'eval-small';

/**
 * The configured registry with its small tier replaced by the model under evaluation: a local spec
 * naming the saved classifier in `options.evaluatedModelFile`, priced like the registry's local small
 * model. Other tiers are unchanged, so escalations go where the factory would send them.
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
    options: { ...localSmall.options, [EVAL_MODEL_FILE_OPTION]: path.resolve(modelFile) },
  };
  return createRegistry([underEvaluation, ...configured.models.filter((model) => model.tier !== 'small')], 'evaluation registry');
}

/** The gateway an evaluation calls its models through: the engine's local provider, no cache, no rate limiter. */
export function evaluationGateway(registry: ModelRegistry, env: NodeJS.ProcessEnv): ModelGateway {
  return createModelGateway({ registry, providers: { local: createLocalProvider() }, cache: null, rateLimiter: null, env });
}
