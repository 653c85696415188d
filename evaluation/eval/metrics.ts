/**
 * The evaluation report, computed purely from per-item decisions: accuracy, coverage, accuracy on
 * covered items, escalation rates, cost per item, latency percentiles, the coverage–accuracy curve
 * over thresholds, and the agreement check between the offline and the durable runs.
 */
import { tiers } from '../../domain/models';
import type { FinalStop, ItemDecision } from './offline';
import { percentile } from '../../domain/stats';

export interface CurvePoint {
  threshold: number;
  coverage: number;
  accuracyOnCovered: number;
  /** Overall accuracy at this threshold (escalated items counted right). */
  accuracy: number;
  /** Small-model cost plus the next tier's estimate for every escalated item. */
  costPerItemUsd: number;
}

export interface EvalReport {
  n: number;
  threshold: number;
  accuracy: number;
  coverage: number;
  accuracyOnCovered: number;
  escalationRate: number;
  /** Per tier: the share of the items that reached it which it passed on (to the next tier or a person). */
  escalationRateByTier: Record<string, number>;
  /** How many items reached each tier (the denominators of escalationRateByTier). */
  reachedByTier: Record<string, number>;
  /** Where items ended: the tier whose answer was accepted, a person, or a failure. */
  finalStopShare: Record<FinalStop, number>;
  /** Small-model cost (registry prices × tokens) + the next tier's estimated cost for escalated items. */
  costPerItemUsd: number;
  /** What every call of the simulated route actually cost (people not priced). */
  routeCostPerItemUsd: number;
  p50Ms: number;
  p95Ms: number;
  outOfScope: { n: number; escalated: number; coveredWrongly: number };
  curve: CurvePoint[];
  assumptions: string[];
}

export const reportAssumptions = [
  'Escalated items count as correct: the escalation tier or the human reviewer is assumed to answer correctly (for items whose gold label the small model does not know, escalating is the right answer).',
  'Covered items are correct only when the small model’s label equals the gold label; an out-of-scope item the small model keeps is wrong.',
  'costPerItemUsd = the small model’s cost from registry prices and token counts + route()’s estimated cost of the next tier for each escalated item; local prices are notional.',
];

const ratio = (part: number, whole: number) => (whole === 0 ? 0 : part / whole);

export { percentile };

/** Covered at threshold t: the small tier answered with confidence ≥ t (the workflow's rule). */
export function coveredAt(decision: ItemDecision, threshold: number): boolean {
  return decision.smallConfidence !== null && decision.smallConfidence >= threshold;
}

export function curvePoint(decisions: readonly ItemDecision[], threshold: number): CurvePoint {
  let covered = 0;
  let coveredCorrect = 0;
  let cost = 0;
  for (const decision of decisions) {
    const isCovered = coveredAt(decision, threshold);
    cost += decision.smallCostUsd + (isCovered ? 0 : decision.escalationEstimateUsd);
    if (!isCovered) continue;
    covered++;
    if (decision.goldKnown && decision.smallLabel === decision.gold) coveredCorrect++;
  }
  const n = decisions.length;
  return {
    threshold,
    coverage: ratio(covered, n),
    accuracyOnCovered: ratio(coveredCorrect, covered),
    accuracy: ratio(coveredCorrect + (n - covered), n),
    costPerItemUsd: ratio(cost, n),
  };
}

export function defaultCurveThresholds(threshold: number): number[] {
  const grid = Array.from({ length: 21 }, (_, step) => Math.round(step * 5) / 100);
  return [...new Set([...grid, threshold])].sort((a, b) => a - b);
}

export function summarize(decisions: readonly ItemDecision[], threshold: number, curveThresholds = defaultCurveThresholds(threshold)): EvalReport {
  const n = decisions.length;
  const covered = decisions.filter((decision) => decision.covered);
  const coveredCorrect = covered.filter((decision) => decision.correct).length;
  const reachedByTier: Record<string, number> = {};
  const escalatedByTier: Record<string, number> = {};
  for (const tier of tiers) {
    reachedByTier[tier] = 0;
    escalatedByTier[tier] = 0;
  }
  const finalStopShare: Record<FinalStop, number> = { small: 0, medium: 0, large: 0, human: 0, failed: 0 };
  for (const decision of decisions) {
    for (const call of decision.calls) {
      reachedByTier[call.tier] = (reachedByTier[call.tier] ?? 0) + 1;
      if (call.outcome === 'escalated') escalatedByTier[call.tier] = (escalatedByTier[call.tier] ?? 0) + 1;
    }
    finalStopShare[decision.finalStop]++;
  }
  for (const stop of Object.keys(finalStopShare) as FinalStop[]) finalStopShare[stop] = ratio(finalStopShare[stop], n);
  const outOfScope = decisions.filter((decision) => !decision.goldKnown);
  const headline = curvePoint(decisions, threshold);
  return {
    n,
    threshold,
    accuracy: ratio(coveredCorrect + (n - covered.length), n),
    coverage: ratio(covered.length, n),
    accuracyOnCovered: ratio(coveredCorrect, covered.length),
    escalationRate: ratio(n - covered.length, n),
    escalationRateByTier: Object.fromEntries(tiers.map((tier) => [tier, ratio(escalatedByTier[tier] ?? 0, reachedByTier[tier] ?? 0)])),
    reachedByTier,
    finalStopShare,
    costPerItemUsd: headline.costPerItemUsd,
    routeCostPerItemUsd: ratio(
      decisions.reduce((sum, decision) => sum + decision.routeCostUsd, 0),
      n,
    ),
    p50Ms: percentile(decisions.map((decision) => decision.latencyMs), 50),
    p95Ms: percentile(decisions.map((decision) => decision.latencyMs), 95),
    outOfScope: {
      n: outOfScope.length,
      escalated: outOfScope.filter((decision) => !decision.covered).length,
      coveredWrongly: outOfScope.filter((decision) => decision.covered).length,
    },
    curve: curveThresholds.map((point) => curvePoint(decisions, point)),
    assumptions: reportAssumptions,
  };
}

// ---- offline vs durable --------------------------------------------------------------------------

/** What one run decided about one item, in the terms both runs can state. */
export interface ComparableDecision {
  index: number;
  covered: boolean;
  smallLabel: string | null;
  smallConfidence: number | null;
  finalStop: FinalStop;
}

export interface Disagreement {
  index: number;
  field: keyof Omit<ComparableDecision, 'index'> | 'missing';
  offline: unknown;
  durable: unknown;
}

export interface Agreement {
  n: number;
  /** Items on which covered/escalated, the small model's label and confidence, and the final stop all agree. */
  agreed: number;
  disagreements: Disagreement[];
}

export function compareDecisions(offline: readonly ComparableDecision[], durable: readonly ComparableDecision[]): Agreement {
  const durableByIndex = new Map(durable.map((decision) => [decision.index, decision]));
  const disagreements: Disagreement[] = [];
  let agreed = 0;
  for (const expected of offline) {
    const actual = durableByIndex.get(expected.index);
    if (!actual) {
      disagreements.push({ index: expected.index, field: 'missing', offline: expected, durable: undefined });
      continue;
    }
    const fields = (['covered', 'smallLabel', 'smallConfidence', 'finalStop'] as const).filter((field) => expected[field] !== actual[field]);
    for (const field of fields) disagreements.push({ index: expected.index, field, offline: expected[field], durable: actual[field] });
    if (fields.length === 0) agreed++;
  }
  const offlineIndexes = new Set(offline.map((decision) => decision.index));
  for (const extra of durable) {
    if (!offlineIndexes.has(extra.index)) disagreements.push({ index: extra.index, field: 'missing', offline: undefined, durable: extra });
  }
  return { n: offline.length, agreed, disagreements };
}
