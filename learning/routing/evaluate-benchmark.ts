/**
 * One routing evaluation, end to end: read a benchmark's recorded questions, replay both models on
 * them, split them (MMLU by default holds out whole subjects; GSM8K, which has none, is split by random
 * question), train the router on the train side through the learning registry (learning/router.ts, in
 * a temporary data dir: trained, threshold calibrated on a held-out slice of the train side to a target
 * share of strong calls, registered, then loaded back), and measure on the test side the router's
 * cost–quality curve next to random routing and the oracle, the saving at 95% of the strong model's
 * accuracy, and what the calibrated threshold does. Everything is determined by the seeds, so two runs
 * give the same figures.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { splitHeldOut } from '../../providers/local/prng';
import {
  allStrongPoint,
  allWeakPoint,
  heldOutThresholdCheck,
  oraclePoint,
  randomRoutingCurve,
  routeAtThreshold,
  randomSavingAtQuality,
  savingAtQuality,
  sweepThresholds,
  type HeldOutThresholdCheck,
  type OperatingPoint,
  type RoutedQuestion,
  type SavingAtQuality,
} from './cost-quality';
import { splitByQuestion, splitBySubject, type SplitSettings } from './question-split';
import { loadRecordedBenchmark, type BenchmarkName, type RecordedBenchmark } from './recorded-questions';
import { replayOutcomes, routellmPricesPerMTokUsd, type ReplayedQuestion } from './replayed-outcomes';
import { defaultRouterSettings, routerTargets, trainWeakModelRouter, type RouterSettings, type RouterTarget } from './router';
import type { RouterRule } from '../router';

export type SplitMethod = 'subject-held-out' | 'random-question';

export interface RoutingSplitSettings extends SplitSettings {
  method: SplitMethod;
  /** subject-held-out only: which subject fold is the test side (question-split.ts), default 0. */
  fold?: number;
}

/** The stated splits: MMLU holds out whole subjects (fold 0 of seed 20260519), GSM8K has no subjects and is split by random question. */
export const defaultSplitSettings: Record<BenchmarkName, RoutingSplitSettings> = {
  mmlu: { method: 'subject-held-out', seed: 20_260_519, testFraction: 0.25, fold: 0 },
  gsm8k: { method: 'random-question', seed: 20_260_519, testFraction: 0.25 },
};

export const splitDescriptions: Record<SplitMethod, string> = {
  'subject-held-out':
    'whole subjects held out: the subjects, shuffled with the seed, are cut into round(1 / testFraction) folds of about testFraction of the rows each, ' +
    'and one fold is the test side; rows of training subjects whose prompt is also recorded in a held-out subject are dropped from training, so no prompt and no subject is on both sides',
  'random-question': 'random question split: a seeded shuffle of the distinct prompt texts (rows sharing a prompt stay on one side); the router trains on questions drawn from the same pool it is tested on (for MMLU, the same subjects)',
};

export const tokenEstimateMethod =
  'estimated token counts: prompt tokens plus recorded-response tokens, counted by providers/local/tokens.ts ' +
  "(the replay provider's usage); MMLU has no recorded responses, so its calls count prompt tokens only. " +
  'Both models are priced per token, input and output alike.';

export interface RoutingEvaluationSettings {
  dataDir: string;
  /** Default: defaultSplitSettings[benchmark]. */
  split?: RoutingSplitSettings;
  router?: RouterSettings;
  qualityShare?: number;
  /** Evaluate on a seeded random sample of this many recorded questions instead of all of them. */
  sample?: { questions: number; seed: number };
  /** Also train the router on the other target, for comparison. */
  compareOtherTarget?: boolean;
}

export interface CalibratedThresholdResult {
  /** The share of strong calls the threshold was calibrated to, on a held-out slice of the train side. */
  targetStrongShare: number;
  threshold: number;
  calibrationQuestions: number;
  strongShareOnCalibration: number;
  /** On the test side, at that threshold. */
  strongShare: number;
  accuracy: number;
  qualityShareOfStrong: number;
  costSaved: number;
}

export interface RouterMeasurement {
  settings: RouterSettings;
  /** The registered artifact the figures are measured with (registered in a temporary data dir). */
  artifact: { id: string; version: string; threshold: number; targetLargeShare: number; rule: RouterRule };
  labels: string[];
  weightRows: number;
  temperature: number;
  trainMs: number;
  curve: OperatingPoint[];
  saving: SavingAtQuality;
  /** The same router ranking by P(weak suffices) alone (the `probability` rule), swept the same way. */
  probabilityRuleSaving: SavingAtQuality;
  heldOutThreshold: HeldOutThresholdCheck;
  calibrated: CalibratedThresholdResult;
  /** The test questions with the router's value and probability, for pooling folds (not written to the report). */
  routed: (RoutedQuestion & { probability: number })[];
}

export interface RoutingEvaluation {
  benchmark: BenchmarkName;
  data: Omit<RecordedBenchmark, 'questions' | 'csvFiles'> & { csvFiles: number; questionsEvaluated: number };
  split: RoutingSplitSettings & {
    description: string;
    trainQuestions: number;
    testQuestions: number;
    trainPrompts: number;
    testPrompts: number;
    /** subject-held-out only. */
    testSubjects?: string[];
    trainSubjects?: string[];
    trainRowsDroppedAsSharedWithTest?: number;
  };
  costs: { pricesPerMTokUsd: typeof routellmPricesPerMTokUsd; method: string; meanTokensPerCall: { weak: number; strong: number } };
  test: { weak: OperatingPoint; strong: OperatingPoint; oracle: OperatingPoint };
  router: RouterMeasurement;
  otherTarget?: RouterMeasurement;
  random: { curve: OperatingPoint[]; saving: SavingAtQuality };
  oracleSaving: SavingAtQuality;
}

async function measureRouter(
  train: ReplayedQuestion[],
  test: ReplayedQuestion[],
  settings: RouterSettings,
  qualityShare: number,
  seed: number,
  place: { dataDir: string; id: string; notes: Record<string, unknown> },
): Promise<RouterMeasurement> {
  const startedAt = performance.now();
  const router = await trainWeakModelRouter(train, settings, place);
  const trainMs = Math.round(performance.now() - startedAt);
  const routed = test.map((question) => {
    const decision = router.decide(question);
    return { ...question, routerValue: decision.value, probability: decision.probability };
  });
  const curve = sweepThresholds(routed);
  const strong = allStrongPoint(routed);
  // The loaded router escalates when its value < threshold; routeAtThreshold sends weak when it is ≥ threshold: the same decision.
  const atCalibrated = routeAtThreshold(routed, router.loaded.threshold);
  return {
    settings,
    artifact: router.registered,
    labels: router.labels,
    weightRows: router.weightRows,
    temperature: router.temperature,
    trainMs,
    curve,
    saving: savingAtQuality(curve, strong, qualityShare),
    probabilityRuleSaving: savingAtQuality(sweepThresholds(rankedByProbability(routed)), strong, qualityShare),
    heldOutThreshold: heldOutThresholdCheck(routed, seed, qualityShare),
    calibrated: {
      targetStrongShare: settings.targetStrongShare,
      threshold: router.loaded.threshold,
      calibrationQuestions: router.calibration.examples,
      strongShareOnCalibration: router.calibration.escalatedShare,
      strongShare: 1 - atCalibrated.weakShare,
      accuracy: atCalibrated.accuracy,
      qualityShareOfStrong: atCalibrated.accuracy / strong.accuracy,
      costSaved: 1 - atCalibrated.costUsd / strong.costUsd,
    },
    routed,
  };
}

/** The same routed questions valued by the router's probability alone: how the `probability` rule would rank them. */
function rankedByProbability(routed: readonly (RoutedQuestion & { probability: number })[]): RoutedQuestion[] {
  return routed.map((question) => ({ ...question, routerValue: question.probability }));
}

function splitQuestions(benchmark: BenchmarkName, questions: ReplayedQuestion[], split: RoutingSplitSettings) {
  if (split.method === 'random-question') return { ...splitByQuestion(questions, split), testSubjects: undefined, trainSubjects: undefined, trainRowsDroppedAsSharedWithTest: undefined };
  if (benchmark !== 'mmlu') throw new RangeError(`${benchmark} has no subjects: split it by random question`);
  return splitBySubject(questions, split);
}

export async function evaluateRouting(benchmark: BenchmarkName, settings: RoutingEvaluationSettings): Promise<RoutingEvaluation> {
  const split = settings.split ?? defaultSplitSettings[benchmark];
  const routerSettings = settings.router ?? defaultRouterSettings;
  const qualityShare = settings.qualityShare ?? 0.95;
  const recorded = loadRecordedBenchmark(benchmark, settings.dataDir);
  const sample = settings.sample;
  const questions =
    sample && sample.questions < recorded.questions.length
      ? splitHeldOut(recorded.questions, sample.questions / recorded.questions.length, sample.seed).heldOut
      : recorded.questions;
  const replayed = await replayOutcomes({ ...recorded, questions }, settings.dataDir);
  const { train, test, trainPrompts, testPrompts, testSubjects, trainSubjects, trainRowsDroppedAsSharedWithTest } = splitQuestions(benchmark, replayed, split);
  // Random routing and the oracle ignore the router's probability.
  const outcomes: RoutedQuestion[] = test.map((question) => ({ ...question, routerValue: 0 }));
  const strong = allStrongPoint(outcomes);
  const oracle = oraclePoint(outcomes);
  const otherTarget = (Object.keys(routerTargets) as RouterTarget[]).find((target) => target !== routerSettings.target);
  const meanTokens = (role: 'weak' | 'strong') =>
    replayed.reduce((sum, question) => sum + question[role].usage.inputTokens + question[role].usage.outputTokens, 0) / replayed.length;
  const { questions: _questions, csvFiles, ...dataCounts } = recorded;
  const registryDir = fs.mkdtempSync(path.join(os.tmpdir(), 'conveyor-routing-'));
  const notes = { origin: `RouteLLM ${benchmark} recorded outcomes (routellm/${benchmark}), train side only`, split: { ...split, testSubjects } };
  try {
    return {
      benchmark,
      data: { ...dataCounts, csvFiles: csvFiles.length, questionsEvaluated: replayed.length },
      split: {
        ...split,
        description: splitDescriptions[split.method],
        trainQuestions: train.length,
        testQuestions: test.length,
        trainPrompts,
        testPrompts,
        ...(testSubjects ? { testSubjects, trainSubjects, trainRowsDroppedAsSharedWithTest } : {}),
      },
      costs: { pricesPerMTokUsd: routellmPricesPerMTokUsd, method: tokenEstimateMethod, meanTokensPerCall: { weak: meanTokens('weak'), strong: meanTokens('strong') } },
      test: { weak: allWeakPoint(outcomes), strong, oracle },
      router: await measureRouter(train, test, routerSettings, qualityShare, split.seed, { dataDir: registryDir, id: benchmark, notes }),
      ...(settings.compareOtherTarget && otherTarget
        ? { otherTarget: await measureRouter(train, test, { ...routerSettings, target: otherTarget }, qualityShare, split.seed, { dataDir: registryDir, id: `${benchmark}-${otherTarget}`, notes }) }
        : {}),
      random: {
        curve: randomRoutingCurve(outcomes, Array.from({ length: 21 }, (_, index) => index / 20)),
        saving: randomSavingAtQuality(outcomes, qualityShare),
      },
      oracleSaving: savingAtQuality([oracle], strong, qualityShare),
    };
  } finally {
    fs.rmSync(registryDir, { recursive: true, force: true });
  }
}

/**
 * The subject folds of one seed pooled: every question is tested once, by the router of the fold that held
 * its subject out, so the figure covers all subjects instead of the quarter one fold tests. One threshold
 * is swept over the pooled router values (each router is temperature-calibrated); the deployable point
 * is each fold's own calibrated threshold, pooled.
 */
export interface PooledFolds {
  folds: number[];
  questions: number;
  weakAccuracy: number;
  strongAccuracy: number;
  router: SavingAtQuality;
  /** The same routers ranking by P(weak suffices) alone (the `probability` rule). */
  probabilityRule: SavingAtQuality;
  random: SavingAtQuality;
  calibrated: { costSaved: number; qualityShareOfStrong: number; strongShare: number };
}

export function poolSubjectFolds(evaluations: readonly RoutingEvaluation[], qualityShare = 0.95): PooledFolds {
  const folds = evaluations.map((evaluation) => {
    if (evaluation.split.method !== 'subject-held-out') throw new RangeError(`pooling needs subject-held-out folds, got a ${evaluation.split.method} split`);
    return evaluation.split.fold ?? 0;
  });
  if (new Set(folds).size !== folds.length || new Set(evaluations.map((evaluation) => evaluation.split.seed)).size !== 1) {
    throw new RangeError(`pooling needs distinct folds of one seed, got folds ${folds.join(', ')}`);
  }
  const pooled = evaluations.flatMap((evaluation) => evaluation.router.routed);
  const strong = allStrongPoint(pooled);
  const calibrated = evaluations.map((evaluation) => routeAtThreshold(evaluation.router.routed, evaluation.router.calibrated.threshold));
  const total = (pick: (point: OperatingPoint, questions: number) => number) => calibrated.reduce((sum, point, index) => sum + pick(point, evaluations[index]!.router.routed.length), 0);
  return {
    folds,
    questions: pooled.length,
    weakAccuracy: allWeakPoint(pooled).accuracy,
    strongAccuracy: strong.accuracy,
    router: savingAtQuality(sweepThresholds(pooled), strong, qualityShare),
    probabilityRule: savingAtQuality(sweepThresholds(rankedByProbability(pooled)), strong, qualityShare),
    random: randomSavingAtQuality(pooled, qualityShare),
    calibrated: {
      costSaved: 1 - total((point) => point.costUsd) / strong.costUsd,
      qualityShareOfStrong: total((point, questions) => point.accuracy * questions) / pooled.length / strong.accuracy,
      strongShare: 1 - total((point, questions) => point.weakShare * questions) / pooled.length,
    },
  };
}
