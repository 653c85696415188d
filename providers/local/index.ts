/**
 * The `local` model provider: small models that run in-process, with no network and no cost. Intent
 * and call-relevance classification use calibrated logistic-regression classifiers; extraction, risk,
 * replies, actions and action documents use rules and templates. Which classifier answers is chosen by
 * `model.providerModel` (local-small | local-medium | local-large); `model.options.modelFile` (intent)
 * and `model.options.relevanceModelFile` (relevance) load saved models trained with `conveyor train`.
 */
import type { ZodType } from 'zod';
import type { ModelProvider, ProviderRequest, ProviderResponse } from '../port';
import type { LocalSkill, ModelSpec } from '../../domain/models';
import {
  assessRiskInputSchema,
  draftReplyInputSchema,
  proposeActionInputSchema,
  supportIntents,
  ticketTextInputSchema,
  transcriptInputSchema,
  writeActionDocumentInputSchema,
  type CheckRelevanceOutput,
  type ClassifyIntentOutput,
  type SupportIntent,
} from '../../factories/support/schemas';
import { classifyText } from './classifier';
import { extractEntities } from './entities';
import { assessRisk } from './risk';
import { draftReply } from './reply';
import { proposeAction } from './action';
import { extractCallInfo } from './call-info';
import { writeActionDocument } from './action-document';
import { ClassifierStore, type ClassifierTask, type LoadedClassifier } from './model-store';
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

interface SkillAnswer {
  output: unknown;
  confidence: number;
  modelVersion: string;
}

function parseInput<T>(schema: ZodType<T>, request: ProviderRequest): T {
  const parsed = schema.safeParse(request.input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InvalidLocalInputError(`input of skill ${request.skill}: ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

function checkLabels(loaded: LoadedClassifier, task: ClassifierTask, allowed: readonly string[], source: string): LoadedClassifier {
  const foreign = loaded.model.labels.filter((label) => !allowed.includes(label));
  if (foreign.length > 0) {
    throw new InvalidModelFileError(`${source}: a ${task} model may only use the labels ${allowed.join(', ')}; it has ${foreign.join(', ')}`);
  }
  return loaded;
}

export function createLocalProvider(options: LocalProviderOptions = {}): ModelProvider {
  const store = new ClassifierStore(options.modelDir);

  const classifierFor = (model: ModelSpec, task: ClassifierTask): LoadedClassifier => {
    if (!isLocalModelName(model.providerModel)) {
      throw new UnknownLocalModelError(`model ${model.id}: providerModel "${model.providerModel}" is not a local model; use one of ${localModelNames.join(', ')}`);
    }
    const optionName = task === 'intent' ? 'modelFile' : 'relevanceModelFile';
    const file = model.options[optionName];
    const allowed = task === 'intent' ? supportIntents : ['relevant', 'irrelevant'];
    if (file !== undefined) {
      if (typeof file !== 'string' || file === '') throw new InvalidModelFileError(`model ${model.id}: options.${optionName} must be a file path`);
      return checkLabels(store.modelFromFile(file), task, allowed, file);
    }
    return checkLabels(store.defaultModel(task, sizeOfLocalModel(model.providerModel)), task, allowed, `default ${task} model`);
  };

  const skills: Record<LocalSkill, (request: ProviderRequest) => SkillAnswer> = {
    'classify-intent': (request) => {
      const { text } = parseInput(ticketTextInputSchema, request);
      const classifier = classifierFor(request.model, 'intent');
      const { label, confidence, ranked } = classifyText(classifier.model, text);
      const output: ClassifyIntentOutput = {
        intent: label as SupportIntent,
        confidence,
        alternatives: ranked.slice(1, 5).map(({ label: intent, probability }) => ({ intent, probability })),
      };
      return { output, confidence, modelVersion: classifier.version };
    },
    'extract-entities': (request) => {
      const { entities, confidence } = extractEntities(parseInput(ticketTextInputSchema, request).text);
      return { output: entities, confidence, modelVersion: 'entity-rules@1' };
    },
    'assess-risk': (request) => {
      const { risk, confidence } = assessRisk(parseInput(assessRiskInputSchema, request));
      return { output: risk, confidence, modelVersion: 'risk-rules@1' };
    },
    'draft-reply': (request) => {
      const { reply, confidence } = draftReply(parseInput(draftReplyInputSchema, request));
      return { output: reply, confidence, modelVersion: 'reply-templates@1' };
    },
    'propose-action': (request) => {
      const { action, confidence } = proposeAction(parseInput(proposeActionInputSchema, request));
      return { output: action, confidence, modelVersion: 'action-rules@1' };
    },
    'check-relevance': (request) => {
      const { transcript } = parseInput(transcriptInputSchema, request);
      const classifier = classifierFor(request.model, 'relevance');
      const { label, confidence } = classifyText(classifier.model, transcript);
      const output: CheckRelevanceOutput = { relevant: label === 'relevant', confidence };
      return { output, confidence, modelVersion: classifier.version };
    },
    'extract-call-info': (request) => {
      const { info, confidence } = extractCallInfo(parseInput(transcriptInputSchema, request).transcript);
      return { output: info, confidence, modelVersion: 'call-info-rules@1' };
    },
    'write-action-document': (request) => {
      const { info } = parseInput(writeActionDocumentInputSchema, request);
      const { document, confidence } = writeActionDocument(info);
      return { output: document, confidence, modelVersion: 'action-document-template@1' };
    },
    plan: () => {
      throw new UnsupportedSkillError('skill "plan" has no local model: planning needs a large LLM (or a recipe); route it to a remote provider');
    },
  };

  const bundledSkill = (request: ProviderRequest): ((request: ProviderRequest) => SkillAnswer) => {
    const skill = request.skill !== undefined && Object.hasOwn(skills, request.skill) ? skills[request.skill] : undefined;
    if (skill) return skill;
    throw new UnsupportedSkillError(
      request.skill === undefined
        ? `station ${request.schemaName} has no offline answerer (its definition sets no \`local\`): the local model cannot answer it, so the step escalates`
        : `skill "${String(request.skill)}" is not known to the local provider`,
    );
  };

  return {
    kind: 'local',
    async generate(request: ProviderRequest): Promise<ProviderResponse> {
      try {
        request.signal?.throwIfAborted();
        const answer = request.localAnswer
          ? await request.localAnswer(request.input, { model: { id: request.model.id, tier: request.model.tier, options: { ...request.model.options } } })
          : bundledSkill(request)(request);
        const text = JSON.stringify(answer.output);
        return {
          json: answer.output,
          text,
          ...(answer.confidence !== undefined ? { confidence: answer.confidence } : {}),
          usage: { inputTokens: countValueTokens(request.input), outputTokens: countTokens(text) },
          ...(answer.modelVersion !== undefined ? { modelVersion: answer.modelVersion } : {}),
        };
      } catch (error) {
        throw error instanceof Error ? error : new Error(String(error));
      }
    },
  };
}
