/**
 * The offline comparison of a learned answer scorer with the answering model's own confidence.
 * The answering model is the small local classifier ('local-small' preset: hashed word 1–2-grams,
 * 2^14 buckets, 8 epochs, temperature-calibrated). It answers a scorer-training slice it never saw
 * and a test set; every answer is checked against the gold label (an out-of-scope CLINC150 item is
 * one the model cannot answer, so its answer is wrong). The scorer learns from the slice's checked
 * (input, answer, own confidence, right?) pairs and scores the test answers; both scores are compared
 * on the test set by coverage–accuracy curves, their area, accuracy at set coverages and calibration.
 *
 * The scorer is passed in (bench/scoring.ts and the test pass learning/scorer.ts's trainScorer), so
 * evaluation/ stays below learning/ in the import graph.
 *
 * Splits, all seeded:
 * - banking77: train.csv is split into the model's training part and the scorer's slice; the test
 *   set is the published test.csv.
 * - clinc150: the model trains on the published train (in-scope intents only); the published test
 *   with its out-of-scope pool (the only out-of-scope items the shared loader reads) is split into
 *   the scorer's slice and the test set, so both hold out-of-scope items.
 */
import { calibrationReport, type CalibrationReport } from '../../domain/stats';
import { cheaperTierConfidence, DEFAULT_AGREE_CONFIDENCE, DEFAULT_DISAGREE_CONFIDENCE } from '../../factory/confidence';
import { classifyText, type LabelledText } from '../../providers/local/classifier';
import { trainSizedClassifier } from '../../providers/local/model-store';
import { classifierPresets } from '../../providers/local/tiers';
import { splitHeldOut } from '../../providers/local/prng';
import { loadNamedDataset, sampleItems, EVAL_SEED } from '../eval/datasets';
import { accuracyAtCoverage, areaUnderCoverageCurve, coverageAccuracyCurve, percentGrid, type CoveragePoint, type ScoredOutcome } from './coverage';

export const scoringDatasets = ['banking77', 'clinc150'] as const;
export type ScoringDataset = (typeof scoringDatasets)[number];

export interface AnsweredItem {
  text: string;
  answer: string;
  gold: string;
  modelConfidence: number;
  correct: boolean;
}

/** What the comparison needs of a scorer: trained on checked pairs, it scores (input, answer) pairs. */
export type ScorerTrainer = (
  pairs: readonly { text: string; answer: string; modelConfidence: number | null; correct: boolean }[],
  seed: number,
) => { version: string; score(pair: { text: string; answer: string; modelConfidence: number | null }): number; calibration?: CalibrationReport };

export interface ScoringSetup {
  /** Share of the data that becomes the scorer's training slice (see the module notes for which data). */
  sliceFraction: number;
  /** Seed of the split and of the sample. */
  splitSeed: number;
  /** Seed of the answering model's training. */
  modelSeed: number;
  /** Seed of the scorer's training. */
  scorerSeed: number;
  /** A seeded sample of the data before splitting (all of it when absent). */
  limits?: { train?: number; test?: number };
}

export const defaultScoringSetup: ScoringSetup = { sliceFraction: 0.4, splitSeed: EVAL_SEED, modelSeed: classifierPresets.small.training.seed, scorerSeed: 20_260_601 };

export const coveragesReported = [0.5, 0.7, 0.8, 0.9] as const;

export interface ScoreMeasurement {
  /** Mean accuracy over accepting the top 1…n items. */
  area: number;
  atCoverage: { coverage: number; accuracy: number }[];
  calibration: CalibrationReport;
  curve: CoveragePoint[];
}

export interface ScoringComparison {
  dataset: ScoringDataset;
  source: string;
  split: { description: string; seed: number; sliceFraction: number; limits: ScoringSetup['limits'] | null };
  sizes: { modelTraining: number; scorerSlice: number; test: number; sliceWrong: number; testWrong: number; testOutOfScope: number };
  seeds: { split: number; model: number; scorer: number };
  answeringModel: { name: 'local-small'; labels: number; accuracyOnSlice: number; accuracyOnTest: number };
  scorer: { version: string; trainingCalibration: CalibrationReport | null; trainMs: number };
  own: ScoreMeasurement;
  learned: ScoreMeasurement;
  /** On the 1%…100% coverage grid: where the learned scorer's accuracy is higher, equal, lower. */
  matchedCoverage: { higher: number; equal: number; lower: number; points: number };
}

export interface PreparedAnswers {
  dataset: ScoringDataset;
  source: string;
  description: string;
  modelTraining: number;
  labels: number;
  slice: AnsweredItem[];
  test: AnsweredItem[];
}

function answerAll(model: ReturnType<typeof trainSizedClassifier>, items: readonly LabelledText[]): AnsweredItem[] {
  return items.map((item) => {
    const answer = classifyText(model, item.text);
    return { text: item.text, answer: answer.label, gold: item.label, modelConfidence: answer.confidence, correct: answer.label === item.label };
  });
}

interface ScoringSplits {
  source: string;
  description: string;
  modelTraining: LabelledText[];
  slice: LabelledText[];
  test: LabelledText[];
}

/** The answering model's training items, the scorer's slice and the test set (see the module notes). */
function scoringSplits(dataset: ScoringDataset, setup: ScoringSetup, env: NodeJS.ProcessEnv): ScoringSplits {
  const data = loadNamedDataset(dataset, env);
  const train = sampleItems(data.train, setup.limits?.train, setup.splitSeed);
  const published = sampleItems(data.test, setup.limits?.test, setup.splitSeed);
  if (dataset === 'banking77') {
    const { train: modelTraining, heldOut: slice } = splitHeldOut(train, setup.sliceFraction, setup.splitSeed);
    const description =
      `train.csv (${train.length} rows${setup.limits?.train ? ', a seeded sample' : ''}) split at random: ${modelTraining.length} train the answering model, ` +
      `${slice.length} (${Math.round(setup.sliceFraction * 100)}%) are the scorer's checked slice; test: test.csv (${published.length} rows${setup.limits?.test ? ', a seeded sample' : ''})`;
    return { source: data.source, description, modelTraining, slice, test: published };
  }
  const { train: test, heldOut: slice } = splitHeldOut(published, setup.sliceFraction, setup.splitSeed);
  const description =
    `the answering model trains on the published train (${train.length} in-scope rows); the published test + oos_test ` +
    `(${published.length} rows${setup.limits?.test ? ', a seeded sample' : ''}) split at random: ${slice.length} (${Math.round(setup.sliceFraction * 100)}%) are the scorer's checked slice, ${test.length} the test set`;
  return { source: data.source, description, modelTraining: train, slice, test };
}

/** Trains the small model and has it answer the scorer slice and the test set. */
export function prepareAnswers(dataset: ScoringDataset, setup: ScoringSetup = defaultScoringSetup, env: NodeJS.ProcessEnv = process.env): PreparedAnswers {
  const splits = scoringSplits(dataset, setup, env);
  const model = trainSizedClassifier(splits.modelTraining, 'small', setup.modelSeed);
  return { dataset, source: splits.source, description: splits.description, modelTraining: splits.modelTraining.length, labels: model.labels.length, slice: answerAll(model, splits.slice), test: answerAll(model, splits.test) };
}

function measure(scored: readonly ScoredOutcome[]): ScoreMeasurement {
  return {
    area: areaUnderCoverageCurve(scored),
    atCoverage: coveragesReported.map((coverage) => ({ coverage, accuracy: accuracyAtCoverage(scored, coverage) })),
    calibration: calibrationReport(scored),
    curve: coverageAccuracyCurve(scored),
  };
}

const share = (items: readonly AnsweredItem[], test: (item: AnsweredItem) => boolean) => (items.length === 0 ? 0 : items.filter(test).length / items.length);

/** Trains the scorer on the slice's checked pairs and compares it with the model's own confidence on the test set. */
export function compareOnAnswers(prepared: PreparedAnswers, trainScorer: ScorerTrainer, setup: ScoringSetup = defaultScoringSetup): ScoringComparison {
  const started = Date.now();
  const scorer = trainScorer(
    prepared.slice.map(({ text, answer, modelConfidence, correct }) => ({ text, answer, modelConfidence, correct })),
    setup.scorerSeed,
  );
  const trainMs = Date.now() - started;
  const own = measure(prepared.test.map((item) => ({ score: item.modelConfidence, correct: item.correct })));
  const learned = measure(prepared.test.map((item) => ({ score: scorer.score(item), correct: item.correct })));
  const grid = percentGrid();
  const matchedCoverage = { higher: 0, equal: 0, lower: 0, points: grid.length };
  grid.forEach((_, index) => {
    const difference = learned.curve[index]!.accuracy - own.curve[index]!.accuracy;
    if (Math.abs(difference) < 1e-12) matchedCoverage.equal++;
    else if (difference > 0) matchedCoverage.higher++;
    else matchedCoverage.lower++;
  });
  return {
    dataset: prepared.dataset,
    source: prepared.source,
    split: { description: prepared.description, seed: setup.splitSeed, sliceFraction: setup.sliceFraction, limits: setup.limits ?? null },
    sizes: {
      modelTraining: prepared.modelTraining,
      scorerSlice: prepared.slice.length,
      test: prepared.test.length,
      sliceWrong: prepared.slice.filter((item) => !item.correct).length,
      testWrong: prepared.test.filter((item) => !item.correct).length,
      testOutOfScope: prepared.test.filter((item) => item.gold === 'oos').length,
    },
    seeds: { split: setup.splitSeed, model: setup.modelSeed, scorer: setup.scorerSeed },
    answeringModel: {
      name: 'local-small',
      labels: prepared.labels,
      accuracyOnSlice: share(prepared.slice, (item) => item.correct),
      accuracyOnTest: share(prepared.test, (item) => item.correct),
    },
    scorer: { version: scorer.version, trainingCalibration: scorer.calibration ?? null, trainMs },
    own,
    learned,
    matchedCoverage,
  };
}

export function compareScorers(dataset: ScoringDataset, trainScorer: ScorerTrainer, setup: ScoringSetup = defaultScoringSetup, env: NodeJS.ProcessEnv = process.env): ScoringComparison {
  return compareOnAnswers(prepareAnswers(dataset, setup, env), trainScorer, setup);
}

/**
 * `{ from: 'cheaper-tier' }` measured: the large local classifier ('local-large') answers the same slice and
 * test items as the small one, and its answers are scored by agreement with the small model's answer —
 * with the rule's default values, and with values calibrated on the slice (the large model's accuracy where
 * the two agree and where they differ) — against the large model's own calibrated confidence. The rule is
 * the activities' own (factory/confidence.ts cheaperTierConfidence).
 */
export interface CheaperTierMeasurement {
  dataset: ScoringDataset;
  split: string;
  sizes: { slice: number; test: number };
  largeAccuracyOnTest: number;
  /** Share of test items where the two tiers agree, and the large model's accuracy on each side. */
  agreeShare: number;
  accuracyWhenAgree: number;
  accuracyWhenDisagree: number;
  calibrated: { agree: number; disagree: number };
  own: ScoreMeasurement;
  defaults: ScoreMeasurement & { agree: number; disagree: number };
  calibratedScore: ScoreMeasurement;
}

export function measureCheaperTierAgreement(dataset: ScoringDataset, setup: ScoringSetup = defaultScoringSetup, env: NodeJS.ProcessEnv = process.env): CheaperTierMeasurement {
  const splits = scoringSplits(dataset, setup, env);
  const smallModel = trainSizedClassifier(splits.modelTraining, 'small', setup.modelSeed);
  const large = trainSizedClassifier(splits.modelTraining, 'large', setup.modelSeed);
  const small = { description: splits.description, slice: answerAll(smallModel, splits.slice), test: answerAll(smallModel, splits.test) };
  const [largeSlice, largeTest] = [answerAll(large, splits.slice), answerAll(large, splits.test)];
  const rule = { from: 'cheaper-tier' as const };
  const agreeing = (largeItems: AnsweredItem[], smallItems: AnsweredItem[]) => largeItems.map((item, index) => ({ item, agree: item.answer === smallItems[index]!.answer }));
  const slicePairs = agreeing(largeSlice, small.slice);
  const testPairs = agreeing(largeTest, small.test);
  const accuracyWhere = (pairs: typeof testPairs, agree: boolean) => share(pairs.filter((pair) => pair.agree === agree).map((pair) => pair.item), (item) => item.correct);
  const calibrated = { agree: accuracyWhere(slicePairs, true), disagree: accuracyWhere(slicePairs, false) };
  const scoredWith = (values: { agree?: number; disagree?: number }) =>
    measure(testPairs.map(({ item }, index) => ({ score: cheaperTierConfidence({ ...rule, ...values }, undefined, item.answer, { modelId: 'local-small', output: small.test[index]!.answer }).confidence ?? 0, correct: item.correct })));
  const defaults = scoredWith({});
  return {
    dataset,
    split: small.description,
    sizes: { slice: small.slice.length, test: small.test.length },
    largeAccuracyOnTest: share(largeTest, (item) => item.correct),
    agreeShare: testPairs.filter((pair) => pair.agree).length / testPairs.length,
    accuracyWhenAgree: accuracyWhere(testPairs, true),
    accuracyWhenDisagree: accuracyWhere(testPairs, false),
    calibrated,
    own: measure(largeTest.map((item) => ({ score: item.modelConfidence, correct: item.correct }))),
    defaults: { ...defaults, agree: DEFAULT_AGREE_CONFIDENCE, disagree: DEFAULT_DISAGREE_CONFIDENCE },
    calibratedScore: scoredWith(calibrated),
  };
}
