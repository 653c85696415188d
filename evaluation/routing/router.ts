/**
 * The router: predicts from the question text alone whether the weak model is good enough for it. It is
 * the repository's local classifier (hashed word and character n-gram logistic regression with
 * temperature calibration, providers/local/classifier.ts) trained on two labels. Target 'weak-suffices'
 * (the default) asks "does sending this to the weak model lose nothing?" — the weak model is right, or
 * both are wrong — which is what routing needs and what RouteLLM's preference labels encode (a tie
 * counts for the weak model); target 'weak-right' asks only whether the weak model is right. A few
 * question signals ride along as marker words, because the classifier reads only text: the MMLU
 * subject, a length band and a band for how many numbers the question holds. Bands are spelled with
 * letters since the featurizer folds every digit to 0.
 */
import { predictProbabilities, trainClassifier, type TextClassifier } from '../../providers/local/classifier';
import type { FeatureSettings } from '../../providers/local/features';
import type { TrainingSettings } from '../../providers/local/classifier';
import { countTokens } from '../../providers/local/tokens';
import type { RecordedQuestion } from './recorded-questions';

export const routerTargets = {
  'weak-suffices': { weakLabel: 'weak-suffices', strongLabel: 'strong-needed', isWeakLabel: (outcome: Outcome) => outcome.weak.correct || !outcome.strong.correct },
  'weak-right': { weakLabel: 'weak-right', strongLabel: 'weak-wrong', isWeakLabel: (outcome: Outcome) => outcome.weak.correct },
} as const;
export type RouterTarget = keyof typeof routerTargets;

interface Outcome {
  weak: { correct: boolean };
  strong: { correct: boolean };
}

export interface RouterSettings {
  target: RouterTarget;
  features: FeatureSettings;
  training: TrainingSettings;
}

export const defaultRouterSettings: RouterSettings = {
  target: 'weak-suffices',
  features: { hashBits: 18, maxWordNgram: 2, charNgrams: { min: 3, max: 5 }, charBlockWeight: 0.4 },
  training: { epochs: 6, learningRate: 0.1, l2: 1e-4, seed: 20_260_501, calibrationFraction: 0.1 },
};

export interface WeakModelRouter {
  target: RouterTarget;
  classifier: TextClassifier;
  /** Calibrated probability of the target's weak label (e.g. that the weak model suffices) for this question. */
  weakProbability(question: RecordedQuestion): number;
}

function letterBand(value: number): string {
  return String.fromCharCode(97 + Math.min(25, Math.floor(Math.log2(1 + value))));
}

/** The question as the classifier reads it: its text followed by the marker words. */
export function routerTextOf(question: RecordedQuestion): string {
  const markers = [`lengthband${letterBand(countTokens(question.prompt))}`, `numbersband${letterBand(question.prompt.match(/\d+(?:[.,]\d+)*/g)?.length ?? 0)}`];
  if (question.subject !== undefined) markers.push(`subject${question.subject.replace(/[^a-z]/gi, '').toLowerCase()}`);
  return `${question.prompt}\n${markers.join(' ')}`;
}

export function trainWeakModelRouter(examples: readonly (RecordedQuestion & Outcome)[], settings: RouterSettings = defaultRouterSettings): WeakModelRouter {
  const target = routerTargets[settings.target];
  const classifier = trainClassifier(
    examples.map((example) => ({ text: routerTextOf(example), label: target.isWeakLabel(example) ? target.weakLabel : target.strongLabel })),
    settings.features,
    settings.training,
  );
  const weakLabelIndex = classifier.labels.indexOf(target.weakLabel);
  return {
    target: settings.target,
    classifier,
    weakProbability: (question) => predictProbabilities(classifier, routerTextOf(question))[weakLabelIndex] ?? 0,
  };
}
