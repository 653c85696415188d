/**
 * The benchmark router: predicts from the question text alone whether the weak model is good enough for
 * it. It is the learning registry's router artifact (learning/router.ts: the repository's local
 * classifier, hashed word and character n-gram logistic regression with temperature calibration,
 * trained on two labels, saved, registered and loaded back), so the router evaluated on the recorded
 * outcomes is the one `policy.router` would serve. Target 'weak-suffices' (the default) asks "does
 * sending this to the weak model lose nothing?" — the weak model is right, or both are wrong — which is
 * what routing needs and what RouteLLM's preference labels encode (a tie counts for the weak model);
 * target 'weak-right' asks only whether the weak model is right. A few question signals ride along as
 * marker words, because the classifier reads only text: a length band and a band for how many numbers
 * the question holds (and, only when asked, the MMLU subject: useless on held-out subjects, so off by
 * default). Bands are spelled with letters since the featurizer folds every digit to 0.
 */
import type { TrainingSettings } from '../../providers/local/classifier';
import type { FeatureSettings } from '../../providers/local/features';
import { ModelRegistry } from '../model-registry';
import {
  defaultRouterFeatures,
  defaultRouterTraining,
  loadRouter,
  routerRegistryName,
  trainAndRegisterRouter,
  type LoadedRouter,
  type RegisteredRouter,
  type RouterDecision,
  type RouterRule,
} from '../router';
import { loadClassifier } from '../../providers/local/model-file';
import type { RecordedQuestion } from './recorded-questions';

interface Outcome {
  weak: { correct: boolean };
  strong: { correct: boolean };
}

export const routerTargets = {
  'weak-suffices': { description: 'the weak model is right, or both are wrong', defaultSuffices: (outcome: Outcome) => outcome.weak.correct || !outcome.strong.correct },
  'weak-right': { description: 'the weak model is right', defaultSuffices: (outcome: Outcome) => outcome.weak.correct },
} as const;
export type RouterTarget = keyof typeof routerTargets;

export interface RouterSettings {
  target: RouterTarget;
  /** Add the MMLU subject as a marker word (in-domain only: a held-out subject's marker was never trained). */
  subjectMarker: boolean;
  features: FeatureSettings;
  training: TrainingSettings;
  /** Share of questions the calibrated threshold sends to the strong model (on the calibration slice). */
  targetStrongShare: number;
  /** What the router decides by (learning/router.ts RouterRule). */
  rule: RouterRule;
}

export const defaultRouterSettings: RouterSettings = {
  target: 'weak-suffices',
  subjectMarker: false,
  features: defaultRouterFeatures,
  training: defaultRouterTraining,
  targetStrongShare: 0.5,
  // A question's cost is its tokens: ranking by risk per token saves more at the same quality than risk alone
  // (chosen on subject-held-out MMLU folds of development seeds 7 and 11, pooled: 49.6% → 55.8% and 46.8% → 52.7% saved at 95%).
  rule: 'tokens-per-miss',
};

export interface WeakModelRouter {
  target: RouterTarget;
  registered: RegisteredRouter;
  /** The registered router loaded back from the registry (what the evaluation scores). */
  loaded: LoadedRouter;
  calibration: { examples: number; escalatedShare: number };
  weightRows: number;
  temperature: number;
  labels: string[];
  /** The loaded router's decision for this question: the calibrated probability that the weak model suffices, and the value its rule compares with the threshold. */
  decide(question: RecordedQuestion): RouterDecision;
}

/**
 * The question as the benchmark hands it to the router: its prompt, as a live step's text would be (the
 * router adds its own length and number signals), and the subject when asked — a line of its own, so the
 * signals then count one more word.
 */
export function routerTextOf(question: RecordedQuestion, options: { subjectMarker?: boolean } = {}): string {
  if (!options.subjectMarker || question.subject === undefined) return question.prompt;
  return `${question.prompt}\nsubject${question.subject.replace(/[^a-z]/gi, '').toLowerCase()}`;
}

export interface RouterArtifactPlace {
  /** Data dir of the learning registry the router is registered in (the evaluation uses a temporary one). */
  dataDir: string;
  id: string;
  notes?: Record<string, unknown>;
}

/** Trains the router through the registry path (train, calibrate, save, register, promote) and loads it back. */
export async function trainWeakModelRouter(examples: readonly (RecordedQuestion & Outcome)[], settings: RouterSettings, place: RouterArtifactPlace): Promise<WeakModelRouter> {
  const target = routerTargets[settings.target];
  const textOf = (question: RecordedQuestion) => routerTextOf(question, { subjectMarker: settings.subjectMarker });
  const registered = await trainAndRegisterRouter({
    id: place.id,
    examples: examples.map((example) => ({ text: textOf(example), defaultSuffices: target.defaultSuffices(example) })),
    targetLargeShare: settings.targetStrongShare,
    by: 'learning/routing',
    dataDir: place.dataDir,
    features: settings.features,
    training: settings.training,
    rule: settings.rule,
    notes: { target: settings.target, targetDescription: target.description, subjectMarker: settings.subjectMarker, ...place.notes },
  });
  const loaded = await loadRouter(place.dataDir, place.id, registered.version);
  const { versionFile, notes } = await registryDetailsOf(place.dataDir, place.id, registered.version);
  const calibration = (notes.calibration ?? {}) as { examples?: number; escalatedShare?: number };
  return {
    target: settings.target,
    registered,
    loaded,
    calibration: { examples: calibration.examples ?? 0, escalatedShare: calibration.escalatedShare ?? Number.NaN },
    ...versionFile,
    decide: (question) => loaded.decide(textOf(question)),
  };
}

/** The registered version's notes and the model file's size and temperature, for the report. */
async function registryDetailsOf(dataDir: string, id: string, version: string) {
  const entry = await new ModelRegistry(dataDir, routerRegistryName(id)).version(version);
  const { model } = loadClassifier(entry.file);
  return { notes: entry.notes, versionFile: { weightRows: model.rowBuckets.length, temperature: model.temperature, labels: model.labels } };
}
