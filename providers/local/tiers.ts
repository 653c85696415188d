/**
 * The three local models and how they honestly differ. All are the same kind of model (hashed n-gram
 * logistic regression for classification, rules for extraction and writing); the tiers differ in the
 * classifier's features and training effort, which is where size buys accuracy.
 */
import type { FeatureSettings } from './features';
import type { TrainingSettings } from './classifier';

export const localModelNames = ['local-small', 'local-medium', 'local-large'] as const;
export type LocalModelName = (typeof localModelNames)[number];
export type ModelSize = 'small' | 'medium' | 'large';

export interface ClassifierPreset {
  features: FeatureSettings;
  training: TrainingSettings;
}

const sharedTraining = { learningRate: 0.3, l2: 3e-5, seed: 20_260_312, calibrationFraction: 0.1 };

export const classifierPresets: Record<ModelSize, ClassifierPreset> = {
  /** Word unigrams and bigrams in a 2^14 hash space: tiny and fast, blind to spelling variants. */
  small: {
    features: { hashBits: 14, maxWordNgram: 2, charNgrams: null, charBlockWeight: 0 },
    training: { ...sharedTraining, epochs: 8 },
  },
  /** Adds character 3–5-grams inside words (typos, inflections) in a 2^18 hash space. */
  medium: {
    features: { hashBits: 18, maxWordNgram: 2, charNgrams: { min: 3, max: 5 }, charBlockWeight: 0.5 },
    training: { ...sharedTraining, epochs: 10 },
  },
  /** Character 2–5-grams in a 2^20 hash space (fewer collisions) and more epochs. */
  large: {
    features: { hashBits: 20, maxWordNgram: 2, charNgrams: { min: 2, max: 5 }, charBlockWeight: 0.5 },
    training: { ...sharedTraining, epochs: 12 },
  },
};

export function sizeOfLocalModel(name: LocalModelName): ModelSize {
  return name.slice('local-'.length) as ModelSize;
}

export function isLocalModelName(name: string): name is LocalModelName {
  return (localModelNames as readonly string[]).includes(name);
}
