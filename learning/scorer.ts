/**
 * A learned scorer of (input, answer) pairs: the probability that a model's answer to an input is
 * right, learned from recorded, checked outcomes (a reviewer's decision, or a top-tier answer to
 * compare with). It has two parts:
 *
 * 1. a verifier: the local text classifier (providers/local/classifier.ts, labels 'correct'/'wrong')
 *    reading the input text, the answer as a marker word, and every input word joined to the answer
 *    (`<answer>x<word>`), so it learns which wordings go with which answers and which answers are
 *    often wrong; the featurizer is the classifier's own (hashed word 1–2-grams);
 * 2. a small logistic regression over the verifier's logit and the answering model's own confidence
 *    (as a logit; an indicator when the model gave none), fitted on the verifier's out-of-fold logits
 *    (4-fold cross-fitting), so it learns how far to trust each and is calibrated on the outcomes.
 *
 * In an exploratory run on bench/scoring.ts's BANKING77 and CLINC150 splits, the margin to the model's
 * second label moved the curve's area by less than 0.0001 once the verifier was there, so it is not a
 * feature (and ScoredPair does not carry it). The calibration error reported at
 * training is measured on fully out-of-fold scores (verifier and regression both fitted without the
 * pair). A trained scorer is saved as a classifier model file (the regression's weights in its notes)
 * and registered in the learning registry under `scorer.<id>`.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { calibrationReport, type CalibrationReport } from '../domain/stats';
import { predictProbabilities, trainClassifier, type TextClassifier, type TrainingSettings } from '../providers/local/classifier';
import { wordsOf, type FeatureSettings } from '../providers/local/features';
import { loadClassifier, modelVersionOf, saveClassifier } from '../providers/local/model-file';
import { createSeededRandom, shuffleInPlace } from '../providers/local/prng';
import { InvalidTrainingDataError } from '../providers/local/errors';
import { ModelRegistry, ModelRegistryError, type RegistryPlace } from './model-registry';

export { calibrationReport, type CalibrationReport };

export interface ScoredPair {
  text: string;
  answer: string;
  /** The answering model's own confidence in its answer, when it gave one. */
  modelConfidence: number | null;
}

export interface CheckedPair extends ScoredPair {
  correct: boolean;
}

export interface LearnedScorer {
  id: string;
  version: string;
  /** Probability in (0, 1) that the answer is right. */
  score(pair: ScoredPair): number;
}

export type TrainedScorer = LearnedScorer & { calibration: CalibrationReport };

/** What the learning registry keeps scorers under. */
export const scorerRegistryName = (id: string) => `scorer.${id}`;

export const SCORER_FORMAT = 'conveyor-learned-scorer';
export const SCORER_FORMAT_VERSION = 1;
export const DEFAULT_SCORER_SEED = 20_260_601;
const CROSS_FIT_FOLDS = 4;
const CALIBRATION_BINS = 10;
const CORRECT = 'correct';
const WRONG = 'wrong';

export const scorerFeatures: FeatureSettings = { hashBits: 18, maxWordNgram: 2, charNgrams: null, charBlockWeight: 0 };
export const scorerTraining: Omit<TrainingSettings, 'seed'> = { epochs: 6, learningRate: 0.1, l2: 1e-4, calibrationFraction: 0 };
/** The regression's columns, in order (a bias is added last). */
export const stackerColumns = ['modelConfidenceLogit', 'modelConfidenceMissing', 'verifierLogit'] as const;
const stackerL2 = 1e-3;

const stackerSchema = z.object({ columns: z.array(z.string()), weights: z.array(z.number()) });
const scorerNotesSchema = z.object({
  format: z.literal(SCORER_FORMAT),
  formatVersion: z.literal(SCORER_FORMAT_VERSION),
  id: z.string().min(1),
  stacker: stackerSchema,
});

/** The answer as one marker word: letters only (the featurizer folds digits and splits on `_`), plus a short hash so no two labels meet. */
export function answerToken(answer: string): string {
  const letters = answer.normalize('NFKC').toLowerCase().replace(/[^a-z]/g, '').slice(0, 40);
  const hash = createHash('sha256').update(answer).digest();
  const suffix = Array.from(hash.subarray(0, 4), (byte) => String.fromCharCode(97 + (byte % 26))).join('');
  return `answer${letters}q${suffix}`;
}

/** What the verifier reads for a pair: the input, the answer marker, and each input word joined to the answer. */
export function verifierTextOf(pair: Pick<ScoredPair, 'text' | 'answer'>): string {
  const token = answerToken(pair.answer);
  const joined = wordsOf(pair.text).map((word) => `${token}x${word.replace(/[^\p{L}\p{N}]/gu, '')}`);
  return `${pair.text}\n${token} ${joined.join(' ')}`;
}

const logit = (probability: number) => {
  const p = Math.min(1 - 1e-6, Math.max(1e-6, probability));
  return Math.log(p / (1 - p));
};
const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

function verifierLogit(verifier: TextClassifier, pair: ScoredPair): number {
  const probabilities = predictProbabilities(verifier, verifierTextOf(pair));
  const correct = probabilities[verifier.labels.indexOf(CORRECT)] as number;
  const wrong = probabilities[verifier.labels.indexOf(WRONG)] as number;
  return Math.log(Math.max(correct, 1e-12) / Math.max(wrong, 1e-12));
}

function stackerRow(pair: ScoredPair, verifier: number): number[] {
  const confidence = pair.modelConfidence;
  const known = confidence !== null && Number.isFinite(confidence);
  return [known ? logit(confidence) : 0, known ? 0 : 1, verifier];
}

/** Solves a small dense system by Gaussian elimination with partial pivoting. */
function solve(matrix: number[][], vector: number[]): number[] {
  const n = vector.length;
  const rows = matrix.map((row, i) => [...row, vector[i] as number]);
  for (let column = 0; column < n; column++) {
    let pivot = column;
    for (let row = column + 1; row < n; row++) if (Math.abs(rows[row]![column]!) > Math.abs(rows[pivot]![column]!)) pivot = row;
    [rows[column], rows[pivot]] = [rows[pivot]!, rows[column]!];
    const lead = rows[column]![column]!;
    if (Math.abs(lead) < 1e-12) continue;
    for (let row = 0; row < n; row++) {
      if (row === column) continue;
      const factor = rows[row]![column]! / lead;
      if (factor === 0) continue;
      for (let k = column; k <= n; k++) rows[row]![k]! -= factor * rows[column]![k]!;
    }
  }
  return rows.map((row, i) => (Math.abs(row[i]!) < 1e-12 ? 0 : row[n]! / row[i]!));
}

/** L2-regularised logistic regression (bias unregularised) by Newton's method; returns the weights, bias last. */
export function fitLogisticRegression(rows: readonly number[][], outcomes: readonly boolean[], l2 = stackerL2): number[] {
  const width = (rows[0]?.length ?? 0) + 1;
  const weights = new Array<number>(width).fill(0);
  for (let iteration = 0; iteration < 50; iteration++) {
    const gradient = new Array<number>(width).fill(0);
    const hessian = Array.from({ length: width }, () => new Array<number>(width).fill(0));
    rows.forEach((row, i) => {
      const x = [...row, 1];
      const p = sigmoid(x.reduce((sum, value, j) => sum + value * weights[j]!, 0));
      const curvature = p * (1 - p);
      for (let j = 0; j < width; j++) {
        gradient[j]! += (p - (outcomes[i] ? 1 : 0)) * x[j]!;
        for (let k = 0; k < width; k++) hessian[j]![k]! += curvature * x[j]! * x[k]!;
      }
    });
    for (let j = 0; j < width - 1; j++) {
      gradient[j]! += l2 * rows.length * weights[j]!;
      hessian[j]![j]! += l2 * rows.length;
    }
    hessian[width - 1]![width - 1]! += 1e-9;
    const step = solve(hessian, gradient);
    let change = 0;
    for (let j = 0; j < width; j++) {
      weights[j]! -= step[j]!;
      change += Math.abs(step[j]!);
    }
    if (change < 1e-9) break;
  }
  return weights;
}

const applyStacker = (weights: readonly number[], row: readonly number[]) => sigmoid(row.reduce((sum, value, j) => sum + value * weights[j]!, weights[row.length]!));

function trainVerifier(pairs: readonly CheckedPair[], seed: number): TextClassifier {
  return trainClassifier(
    pairs.map((pair) => ({ text: verifierTextOf(pair), label: pair.correct ? CORRECT : WRONG })),
    scorerFeatures,
    { ...scorerTraining, seed },
  );
}

/** Folds that each hold a share of the correct and of the wrong pairs. */
function stratifiedFolds(pairs: readonly CheckedPair[], folds: number, seed: number): number[] {
  const foldOf = new Array<number>(pairs.length).fill(0);
  const random = createSeededRandom(seed);
  for (const outcome of [true, false]) {
    const indexes = shuffleInPlace(
      pairs.flatMap((pair, index) => (pair.correct === outcome ? [index] : [])),
      random,
    );
    indexes.forEach((index, position) => {
      foldOf[index] = position % folds;
    });
  }
  return foldOf;
}

function makeScorer(id: string, verifier: TextClassifier, stacker: readonly number[]): LearnedScorer {
  return {
    id,
    version: modelVersionOf(scorerRegistryName(id), verifier),
    score: (pair) => applyStacker(stacker, stackerRow(pair, verifierLogit(verifier, pair))),
  };
}

const verifiers = new WeakMap<LearnedScorer, { verifier: TextClassifier; stacker: number[] }>();

/**
 * Trains a scorer on checked pairs (both right and wrong answers needed: at least 2 of each). The
 * calibration report is on out-of-fold scores of the training pairs. Deterministic for a seed.
 */
export function trainScorer(id: string, pairs: readonly CheckedPair[], options: { seed?: number } = {}): TrainedScorer {
  const seed = options.seed ?? DEFAULT_SCORER_SEED;
  const correct = pairs.filter((pair) => pair.correct).length;
  const wrong = pairs.length - correct;
  if (Math.min(correct, wrong) < 2) {
    throw new InvalidTrainingDataError(`scorer ${id}: need at least 2 right and 2 wrong checked answers to learn from, got ${correct} right and ${wrong} wrong`);
  }
  const folds = Math.min(CROSS_FIT_FOLDS, correct, wrong);
  const foldOf = stratifiedFolds(pairs, folds, seed ^ 0x2545f491);
  const outOfFold = new Array<number>(pairs.length).fill(0);
  for (let fold = 0; fold < folds; fold++) {
    const verifier = trainVerifier(
      pairs.filter((_, index) => foldOf[index] !== fold),
      seed + fold + 1,
    );
    pairs.forEach((pair, index) => {
      if (foldOf[index] === fold) outOfFold[index] = verifierLogit(verifier, pair);
    });
  }
  const rows = pairs.map((pair, index) => stackerRow(pair, outOfFold[index]!));
  const outcomes = pairs.map((pair) => pair.correct);

  // Honest calibration: each pair scored by a regression fitted without its fold.
  const heldOutScores = new Array<{ score: number; correct: boolean }>(pairs.length);
  for (let fold = 0; fold < folds; fold++) {
    const keep = pairs.map((_, index) => foldOf[index] !== fold);
    const weights = fitLogisticRegression(
      rows.filter((_, index) => keep[index]),
      outcomes.filter((_, index) => keep[index]),
    );
    pairs.forEach((pair, index) => {
      if (!keep[index]) heldOutScores[index] = { score: applyStacker(weights, rows[index]!), correct: pair.correct };
    });
  }

  const stacker = fitLogisticRegression(rows, outcomes);
  const verifier = trainVerifier(pairs, seed);
  const trained: TrainedScorer = { ...makeScorer(id, verifier, stacker), calibration: calibrationReport(heldOutScores, CALIBRATION_BINS) };
  verifiers.set(trained, { verifier, stacker });
  return trained;
}

function partsOf(scorer: LearnedScorer): { verifier: TextClassifier; stacker: number[] } {
  const parts = verifiers.get(scorer);
  if (!parts) throw new ModelRegistryError(`scorer ${scorer.id}: only a scorer returned by trainScorer or loadScorer can be registered`);
  return parts;
}

/**
 * Saves the scorer as a model file and registers it under `scorer.<id>` as the current version, its
 * calibration error in the version's notes. Registering the same scorer again changes nothing.
 */
export async function registerScorer(place: RegistryPlace, scorer: TrainedScorer, by: string): Promise<{ id: string; version: string }> {
  const { verifier, stacker } = partsOf(scorer);
  const registry = new ModelRegistry(place, scorerRegistryName(scorer.id));
  const temporaryDir = mkdtempSync(path.join(os.tmpdir(), 'conveyor-scorer-'));
  try {
    const file = path.join(temporaryDir, 'scorer.model.json');
    saveClassifier(file, verifier, scorerRegistryName(scorer.id), {
      format: SCORER_FORMAT,
      formatVersion: SCORER_FORMAT_VERSION,
      id: scorer.id,
      stacker: { columns: [...stackerColumns, 'bias'], weights: stacker },
    });
    const entry = await registry.register(file, {
      by,
      notes: {
        kind: 'learned-scorer',
        expectedCalibrationError: scorer.calibration.expectedCalibrationError,
        calibrationPairs: scorer.calibration.pairs,
        calibrationBins: scorer.calibration.bins.length,
        calibrationMeasuredOn: 'out-of-fold scores of the training pairs',
      },
    });
    await registry.promote(entry.version, by, 'learned scorer registered');
    return { id: scorer.id, version: entry.version };
  } finally {
    rmSync(temporaryDir, { recursive: true, force: true });
  }
}

const loaded = new Map<string, LearnedScorer>();

/** Loads `scorer.<id>` (a given version, or the current one); cached in-process per version file. */
export async function loadScorer(place: RegistryPlace, id: string, version?: string): Promise<LearnedScorer> {
  const name = scorerRegistryName(id);
  const registry = new ModelRegistry(place, name);
  const state = await registry.mirrored();
  let entry;
  if (version === undefined) {
    entry = state.current === null ? undefined : await registry.version(state.current, state);
    if (!entry) {
      throw new ModelRegistryError(
        `no learned scorer "${id}": nothing current under ${name} in ${registry.file}; train one with trainScorer on checked outcomes and register it with registerScorer(dataDir, scorer, by)`,
      );
    }
  } else {
    const found = state.versions.find((candidate) => candidate.version === version);
    if (!found) {
      throw new ModelRegistryError(`no learned scorer "${id}" version ${version} under ${name} in ${registry.file}; registered: ${state.versions.map((v) => v.version).join(', ') || 'none'}`);
    }
    entry = await registry.version(found.version, state);
  }
  const key = path.resolve(entry.file);
  const cached = loaded.get(key);
  if (cached) return cached;
  const saved = loadClassifier(entry.file);
  const notes = scorerNotesSchema.safeParse(saved.training);
  if (!notes.success || notes.data.stacker.weights.length !== stackerColumns.length + 1) {
    throw new ModelRegistryError(`${entry.file}: not a ${SCORER_FORMAT} version ${SCORER_FORMAT_VERSION} model (registered under ${name}); retrain and register the scorer`);
  }
  const scorer = makeScorer(id, saved.model, notes.data.stacker.weights);
  verifiers.set(scorer, { verifier: saved.model, stacker: notes.data.stacker.weights });
  loaded.set(key, scorer);
  return scorer;
}
