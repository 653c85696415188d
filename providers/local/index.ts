/**
 * The `local` model provider: small models that run in-process, with no network and no cost. It answers
 * a station the way the station's definition says (`local`): a classifier it trains from the labelled
 * file the definition names (a calibrated logistic regression; `model.providerModel` — local-small,
 * local-medium, local-large — picks its size, and the model option the definition names may load a saved
 * model from `conveyor train`), or the factory's own function. A station without `local` cannot be
 * answered offline: the provider refuses it, and the step escalates.
 */
import type { ModelProvider, ProviderRequest, ProviderResponse } from '../port';
import type { ModelSpec } from '../../domain/models';
import type { LocalAnswerResult, LocalClassifier } from '../../factory/define';
import { classifyText } from './classifier';
import { ClassifierStore, type LoadedClassifier } from './model-store';
import { isLocalModelName, localModelNames, sizeOfLocalModel } from './tiers';
import { countTokens, countValueTokens } from './tokens';
import { InvalidLocalInputError, InvalidModelFileError, UnknownLocalModelError, UnsupportedSkillError } from './errors';

export { countTokens } from './tokens';
export { localModelNames, type LocalModelName } from './tiers';
export * from './errors';

export interface LocalProviderOptions {
  /** Where default models are cached as files and relative `modelFile` paths are resolved. */
  modelDir?: string;
}

function checkLabels(loaded: LoadedClassifier, classifier: LocalClassifier, source: string): LoadedClassifier {
  const foreign = loaded.model.labels.filter((label) => !classifier.labels.includes(label));
  if (foreign.length > 0) {
    throw new InvalidModelFileError(`${source}: a ${classifier.name} model may only use the labels ${classifier.labels.join(', ')}; it has ${foreign.join(', ')}`);
  }
  return loaded;
}

export function createLocalProvider(options: LocalProviderOptions = {}): ModelProvider {
  const store = new ClassifierStore(options.modelDir);

  const classifierFor = (model: ModelSpec, classifier: LocalClassifier): LoadedClassifier => {
    if (!isLocalModelName(model.providerModel)) {
      throw new UnknownLocalModelError(`model ${model.id}: providerModel "${model.providerModel}" is not a local model; use one of ${localModelNames.join(', ')}`);
    }
    const optionName = classifier.modelFileOption;
    const file = optionName === undefined ? undefined : model.options[optionName];
    if (file !== undefined) {
      if (typeof file !== 'string' || file === '') throw new InvalidModelFileError(`model ${model.id}: options.${optionName} must be a file path`);
      return checkLabels(store.modelFromFile(file), classifier, file);
    }
    return checkLabels(store.defaultModel(classifier, sizeOfLocalModel(model.providerModel)), classifier, `default ${classifier.name} model`);
  };

  const classify = (classifier: LocalClassifier, request: ProviderRequest): LocalAnswerResult => {
    let text: unknown;
    try {
      text = classifier.text(request.input);
    } catch {
      text = undefined;
    }
    if (typeof text !== 'string') {
      throw new InvalidLocalInputError(`input of station ${request.schemaName}: the classifier "${classifier.name}" found no text to classify (got ${text === undefined ? 'undefined' : typeof text})`);
    }
    const loaded = classifierFor(request.model, classifier);
    const { label, confidence, ranked } = classifyText(loaded.model, text);
    return { output: classifier.output({ label, confidence, ranked }), confidence, modelVersion: loaded.version };
  };

  const answer = (request: ProviderRequest): LocalAnswerResult | Promise<LocalAnswerResult> => {
    const local = request.local;
    if (typeof local === 'function') {
      return local(request.input, { model: { id: request.model.id, tier: request.model.tier, options: { ...request.model.options } } });
    }
    if (local?.kind === 'classifier') return classify(local, request);
    throw new UnsupportedSkillError(
      `station ${request.schemaName} has no offline answerer (its definition sets no \`local\`): the local model cannot answer it, so the step escalates`,
    );
  };

  return {
    kind: 'local',
    async generate(request: ProviderRequest): Promise<ProviderResponse> {
      try {
        request.signal?.throwIfAborted();
        const answered = await answer(request);
        const text = JSON.stringify(answered.output);
        return {
          json: answered.output,
          text,
          ...(answered.confidence !== undefined ? { confidence: answered.confidence, confidenceSource: typeof request.local === 'function' ? 'local-answer' : 'classifier' } : {}),
          usage: { inputTokens: countValueTokens(request.input), outputTokens: countTokens(text) },
          ...(answered.modelVersion !== undefined ? { modelVersion: answered.modelVersion } : {}),
        };
      } catch (error) {
        throw error instanceof Error ? error : new Error(String(error));
      }
    },
  };
}
