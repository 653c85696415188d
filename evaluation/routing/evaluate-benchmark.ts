/**
 * One routing evaluation, end to end: read a benchmark's recorded questions, replay both models on
 * them, split by question, train the router in-domain on the train side, and measure on the test side
 * the router's cost–quality curve next to random routing and the oracle, with the saving at 95% of the
 * strong model's accuracy. Everything is determined by the seeds, so two runs give the same figures.
 */
import { splitHeldOut } from '../../providers/local/prng';
import {
  allStrongPoint,
  allWeakPoint,
  heldOutThresholdCheck,
  oraclePoint,
  randomRoutingCurve,
  randomSavingAtQuality,
  savingAtQuality,
  sweepThresholds,
  type HeldOutThresholdCheck,
  type OperatingPoint,
  type RoutedQuestion,
  type SavingAtQuality,
} from './cost-quality';
import { splitByQuestion, type SplitSettings } from './question-split';
import { loadRecordedBenchmark, type BenchmarkName, type RecordedBenchmark } from './recorded-questions';
import { replayOutcomes, routellmPricesPerMTokUsd, type ReplayedQuestion } from './replayed-outcomes';
import { defaultRouterSettings, routerTargets, trainWeakModelRouter, type RouterSettings, type RouterTarget } from './router';

export const defaultSplitSettings: SplitSettings = { seed: 20_260_519, testFraction: 0.25 };

export const tokenEstimateMethod =
  'estimated token counts: prompt tokens plus recorded-response tokens, counted by providers/local/tokens.ts ' +
  "(the replay provider's usage); MMLU has no recorded responses, so its calls count prompt tokens only. " +
  'Both models are priced per token, input and output alike.';

export interface RoutingEvaluationSettings {
  dataDir: string;
  split?: SplitSettings;
  router?: RouterSettings;
  qualityShare?: number;
  /** Evaluate on a seeded random sample of this many recorded questions instead of all of them. */
  sample?: { questions: number; seed: number };
  /** Also train the router on the other target, for comparison. */
  compareOtherTarget?: boolean;
}

export interface RouterMeasurement {
  settings: RouterSettings;
  labels: string[];
  weightRows: number;
  temperature: number;
  trainMs: number;
  curve: OperatingPoint[];
  saving: SavingAtQuality;
  heldOutThreshold: HeldOutThresholdCheck;
}

export interface RoutingEvaluation {
  benchmark: BenchmarkName;
  data: Omit<RecordedBenchmark, 'questions' | 'csvFiles'> & { csvFiles: number; questionsEvaluated: number };
  split: SplitSettings & { trainQuestions: number; testQuestions: number; trainPrompts: number; testPrompts: number };
  costs: { pricesPerMTokUsd: typeof routellmPricesPerMTokUsd; method: string; meanTokensPerCall: { weak: number; strong: number } };
  test: { weak: OperatingPoint; strong: OperatingPoint; oracle: OperatingPoint };
  router: RouterMeasurement;
  otherTarget?: RouterMeasurement;
  random: { curve: OperatingPoint[]; saving: SavingAtQuality };
  oracleSaving: SavingAtQuality;
}

function measureRouter(train: ReplayedQuestion[], test: ReplayedQuestion[], settings: RouterSettings, qualityShare: number, seed: number): RouterMeasurement {
  const startedAt = performance.now();
  const router = trainWeakModelRouter(train, settings);
  const trainMs = Math.round(performance.now() - startedAt);
  const routed: RoutedQuestion[] = test.map((question) => ({ ...question, weakProbability: router.weakProbability(question) }));
  const curve = sweepThresholds(routed);
  return {
    settings,
    labels: router.classifier.labels,
    weightRows: router.classifier.rowBuckets.length,
    temperature: router.classifier.temperature,
    trainMs,
    curve,
    saving: savingAtQuality(curve, allStrongPoint(routed), qualityShare),
    heldOutThreshold: heldOutThresholdCheck(routed, seed, qualityShare),
  };
}

export async function evaluateRouting(benchmark: BenchmarkName, settings: RoutingEvaluationSettings): Promise<RoutingEvaluation> {
  const split = settings.split ?? defaultSplitSettings;
  const routerSettings = settings.router ?? defaultRouterSettings;
  const qualityShare = settings.qualityShare ?? 0.95;
  const recorded = loadRecordedBenchmark(benchmark, settings.dataDir);
  const sample = settings.sample;
  const questions =
    sample && sample.questions < recorded.questions.length
      ? splitHeldOut(recorded.questions, sample.questions / recorded.questions.length, sample.seed).heldOut
      : recorded.questions;
  const replayed = await replayOutcomes({ ...recorded, questions }, settings.dataDir);
  const { train, test, trainPrompts, testPrompts } = splitByQuestion(replayed, split);
  // Random routing and the oracle ignore the router's probability.
  const outcomes: RoutedQuestion[] = test.map((question) => ({ ...question, weakProbability: 0 }));
  const strong = allStrongPoint(outcomes);
  const oracle = oraclePoint(outcomes);
  const otherTarget = (Object.keys(routerTargets) as RouterTarget[]).find((target) => target !== routerSettings.target);
  const meanTokens = (role: 'weak' | 'strong') =>
    replayed.reduce((sum, question) => sum + question[role].usage.inputTokens + question[role].usage.outputTokens, 0) / replayed.length;
  const { questions: _questions, csvFiles, ...dataCounts } = recorded;
  return {
    benchmark,
    data: { ...dataCounts, csvFiles: csvFiles.length, questionsEvaluated: replayed.length },
    split: { ...split, trainQuestions: train.length, testQuestions: test.length, trainPrompts, testPrompts },
    costs: { pricesPerMTokUsd: routellmPricesPerMTokUsd, method: tokenEstimateMethod, meanTokensPerCall: { weak: meanTokens('weak'), strong: meanTokens('strong') } },
    test: { weak: allWeakPoint(outcomes), strong, oracle },
    router: measureRouter(train, test, routerSettings, qualityShare, split.seed),
    ...(settings.compareOtherTarget && otherTarget
      ? { otherTarget: measureRouter(train, test, { ...routerSettings, target: otherTarget }, qualityShare, split.seed) }
      : {}),
    random: {
      curve: randomRoutingCurve(outcomes, Array.from({ length: 21 }, (_, index) => index / 20)),
      saving: randomSavingAtQuality(outcomes, qualityShare),
    },
    oracleSaving: savingAtQuality([oracle], strong, qualityShare),
  };
}
