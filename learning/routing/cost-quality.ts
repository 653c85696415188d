/**
 * Cost and quality of routing policies on recorded outcomes. A policy sends each question to the weak
 * or the strong model; its quality is the accuracy of the chosen model's recorded answers and its cost
 * the sum of the chosen calls' costs. Compared here: the router at every threshold (weak when its
 * value for the question ≥ threshold), random routing (its expected value: a share p of questions to the weak
 * model picked at random), and the oracle (weak whenever the strong model would not do better).
 * The headline figure is RouteLLM's: the cheapest operating point that keeps 95% of the strong model's
 * accuracy, as the share of cost saved and the share of strong-model calls avoided.
 */
import { splitHeldOut } from '../../providers/local/prng';

export interface RoutedQuestion {
  /** The router's value for the question: weak when it is ≥ the threshold (learning/router.ts RouterRule; P(weak suffices) under `probability`). */
  routerValue: number;
  weak: { correct: boolean; costUsd: number };
  strong: { correct: boolean; costUsd: number };
}

export interface OperatingPoint {
  /** Weak when the router's weak probability ≥ threshold; Infinity sends everything to the strong model. */
  threshold: number;
  weakShare: number;
  accuracy: number;
  costUsd: number;
  /** Cost relative to sending every question to the strong model. */
  costShare: number;
}

export interface SavingAtQuality {
  qualityTarget: number;
  point: OperatingPoint;
  /** 1 − cost / all-strong cost. */
  costSaved: number;
  /** Share of questions not sent to the strong model (RouteLLM's "calls to GPT-4 avoided"). */
  strongCallsAvoided: number;
  qualityShareOfStrong: number;
}

interface Totals {
  weakCalls: number;
  correct: number;
  costUsd: number;
}

function pointOf(totals: Totals, threshold: number, questionCount: number, allStrongCostUsd: number): OperatingPoint {
  return {
    threshold,
    weakShare: totals.weakCalls / questionCount,
    accuracy: totals.correct / questionCount,
    costUsd: totals.costUsd,
    costShare: totals.costUsd / allStrongCostUsd,
  };
}

function sumOf(questions: readonly RoutedQuestion[], choose: (question: RoutedQuestion) => 'weak' | 'strong'): Totals {
  const totals: Totals = { weakCalls: 0, correct: 0, costUsd: 0 };
  for (const question of questions) {
    const role = choose(question);
    const call = question[role];
    if (role === 'weak') totals.weakCalls++;
    if (call.correct) totals.correct++;
    totals.costUsd += call.costUsd;
  }
  return totals;
}

function requireQuestions(questions: readonly RoutedQuestion[]): void {
  if (questions.length === 0) throw new RangeError('cost and quality need at least one question');
}

export function allStrongCostUsd(questions: readonly RoutedQuestion[]): number {
  return sumOf(questions, () => 'strong').costUsd;
}

export function routeAtThreshold(questions: readonly RoutedQuestion[], threshold: number): OperatingPoint {
  requireQuestions(questions);
  const totals = sumOf(questions, (question) => (question.routerValue >= threshold ? 'weak' : 'strong'));
  return pointOf(totals, threshold, questions.length, allStrongCostUsd(questions));
}

export function allStrongPoint(questions: readonly RoutedQuestion[]): OperatingPoint {
  return routeAtThreshold(questions, Number.POSITIVE_INFINITY);
}

export function allWeakPoint(questions: readonly RoutedQuestion[]): OperatingPoint {
  return routeAtThreshold(questions, Number.NEGATIVE_INFINITY);
}

/**
 * Every distinct operating point of the router, from all-strong (threshold Infinity) down to all-weak
 * (the lowest predicted probability), moving the questions of one probability value at a time.
 */
export function sweepThresholds(questions: readonly RoutedQuestion[]): OperatingPoint[] {
  requireQuestions(questions);
  const strongCost = allStrongCostUsd(questions);
  const byValue = [...questions].sort((a, b) => b.routerValue - a.routerValue);
  const totals = sumOf(questions, () => 'strong');
  const points = [pointOf(totals, Number.POSITIVE_INFINITY, questions.length, strongCost)];
  for (let index = 0; index < byValue.length; ) {
    const threshold = (byValue[index] as RoutedQuestion).routerValue;
    for (; index < byValue.length && (byValue[index] as RoutedQuestion).routerValue === threshold; index++) {
      const question = byValue[index] as RoutedQuestion;
      totals.weakCalls++;
      totals.correct += Number(question.weak.correct) - Number(question.strong.correct);
      totals.costUsd += question.weak.costUsd - question.strong.costUsd;
    }
    points.push(pointOf(totals, threshold, questions.length, strongCost));
  }
  return points;
}

/** Expected cost and accuracy of sending each given share of questions, picked at random, to the weak model. */
export function randomRoutingCurve(questions: readonly RoutedQuestion[], weakShares: readonly number[]): OperatingPoint[] {
  const weak = allWeakPoint(questions);
  const strong = allStrongPoint(questions);
  return weakShares.map((share) => ({
    threshold: Number.NaN,
    weakShare: share,
    accuracy: share * weak.accuracy + (1 - share) * strong.accuracy,
    costUsd: share * weak.costUsd + (1 - share) * strong.costUsd,
    costShare: share * weak.costShare + (1 - share) * strong.costShare,
  }));
}

/** Weak when the weak model is right or both are wrong, strong only when it alone is right. */
export function oraclePoint(questions: readonly RoutedQuestion[]): OperatingPoint {
  requireQuestions(questions);
  const totals = sumOf(questions, (question) => (question.strong.correct && !question.weak.correct ? 'strong' : 'weak'));
  return pointOf(totals, Number.NaN, questions.length, allStrongCostUsd(questions));
}

function savingOf(point: OperatingPoint, strong: OperatingPoint, qualityTarget: number): SavingAtQuality {
  return {
    qualityTarget,
    point,
    costSaved: 1 - point.costUsd / strong.costUsd,
    strongCallsAvoided: point.weakShare,
    qualityShareOfStrong: point.accuracy / strong.accuracy,
  };
}

const accuracyTolerance = 1e-12;

/** The cheapest of the given operating points whose accuracy is at least `qualityShare` of the strong model's. */
export function savingAtQuality(points: readonly OperatingPoint[], strong: OperatingPoint, qualityShare = 0.95): SavingAtQuality {
  const qualityTarget = qualityShare * strong.accuracy;
  const qualifying = points.filter((point) => point.accuracy >= qualityTarget - accuracyTolerance);
  const cheapest = qualifying.reduce<OperatingPoint | undefined>(
    (best, point) => (!best || point.costUsd < best.costUsd || (point.costUsd === best.costUsd && point.accuracy > best.accuracy) ? point : best),
    undefined,
  );
  return savingOf(cheapest ?? strong, strong, qualityTarget);
}

/** Random routing at the largest weak share whose expected accuracy still meets the target. */
export function randomSavingAtQuality(questions: readonly RoutedQuestion[], qualityShare = 0.95): SavingAtQuality {
  const weak = allWeakPoint(questions);
  const strong = allStrongPoint(questions);
  const qualityTarget = qualityShare * strong.accuracy;
  const accuracyGap = strong.accuracy - weak.accuracy;
  const weakShare = accuracyGap <= 0 ? 1 : Math.min(1, Math.max(0, (strong.accuracy - qualityTarget) / accuracyGap));
  const [point] = randomRoutingCurve(questions, [weakShare]);
  return savingOf(point as OperatingPoint, strong, qualityTarget);
}

export interface HeldOutThresholdCheck {
  seed: number;
  /** For each half of the test questions: the threshold picked on the other half, applied to this one. */
  halves: { questions: number; threshold: number; qualityShareOfStrong: number; costSaved: number; strongCallsAvoided: number }[];
  meanQualityShareOfStrong: number;
  meanCostSaved: number;
}

/**
 * Picking the threshold on the same questions it is scored on flatters the router (RouteLLM reports
 * it that way). This check picks it on one half of the test questions and scores it on the other.
 */
export function heldOutThresholdCheck(questions: readonly RoutedQuestion[], seed: number, qualityShare = 0.95): HeldOutThresholdCheck {
  const { train: firstHalf, heldOut: secondHalf } = splitHeldOut(questions, 0.5, seed);
  const scoreWithThresholdFrom = (pickOn: RoutedQuestion[], scoreOn: RoutedQuestion[]) => {
    const threshold = savingAtQuality(sweepThresholds(pickOn), allStrongPoint(pickOn), qualityShare).point.threshold;
    const scored = savingOf(routeAtThreshold(scoreOn, threshold), allStrongPoint(scoreOn), qualityShare * allStrongPoint(scoreOn).accuracy);
    return { questions: scoreOn.length, threshold, qualityShareOfStrong: scored.qualityShareOfStrong, costSaved: scored.costSaved, strongCallsAvoided: scored.strongCallsAvoided };
  };
  const halves = [scoreWithThresholdFrom(firstHalf, secondHalf), scoreWithThresholdFrom(secondHalf, firstHalf)];
  const mean = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;
  return {
    seed,
    halves,
    meanQualityShareOfStrong: mean(halves.map((half) => half.qualityShareOfStrong)),
    meanCostSaved: mean(halves.map((half) => half.costSaved)),
  };
}
