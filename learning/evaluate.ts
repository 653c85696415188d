/**
 * How a distill run judges a model: every golden item goes through the factory's own routing of the
 * station offline (evaluation/eval's evaluateOffline, with the model as the small tier and the models
 * file's other tiers behind it), and the per-item decisions are read with the evaluation's pure
 * metrics: top-1 accuracy, the coverage–accuracy curve on a fine threshold grid, the largest coverage
 * whose accuracy on covered items reaches the target, and the projected cost per item there. Only the
 * models file is read for the registry — no remote provider is called during an evaluation.
 */
import type { LabelledText } from '../providers/local/classifier';
import { loadClassifier, modelVersionOf } from '../providers/local/model-file';
import { evaluateOffline, targetStepSettings, type ItemDecision } from '../evaluation/eval/offline';
import { curvePoint, type CurvePoint } from '../evaluation/eval/metrics';
import { evaluationGateway, evaluationRegistry } from '../evaluation/eval/serving';
import { withModelLabels, type EvaluationTarget } from '../evaluation/eval/target';
import type { ModelEvaluation } from './types';

/** 0.00–0.99 in steps of 0.01, then 0.991–0.999 in steps of 0.001: fine enough near a 97% target. */
export const targetThresholds: readonly number[] = [
  ...Array.from({ length: 100 }, (_, step) => step / 100),
  ...Array.from({ length: 9 }, (_, step) => Math.round((0.991 + step / 1000) * 1000) / 1000),
];

/** The routing decisions of a saved model (as the small tier of the target station) on labelled items, in item order. */
export async function decideWithModel(target: EvaluationTarget, modelFile: string, items: readonly LabelledText[], env: NodeJS.ProcessEnv = process.env): Promise<ItemDecision[]> {
  const saved = loadClassifier(modelFile);
  // Only the models file: remote tiers added from the environment would be called for escalations.
  const registryEnv = { CONVEYOR_MODELS_FILE: env.CONVEYOR_MODELS_FILE };
  const registry = evaluationRegistry(modelFile, registryEnv);
  const gateway = evaluationGateway(registry, registryEnv);
  try {
    return await evaluateOffline(items, gateway, targetStepSettings(withModelLabels(target, saved.model.labels), registry.models), saved.model.labels);
  } finally {
    await gateway.close();
  }
}

/** The largest coverage whose accuracy on covered items reaches the target (ties: the cheaper point). */
export function coverageAtAccuracy(
  decisions: readonly ItemDecision[],
  targetAccuracy: number,
  thresholds: readonly number[] = targetThresholds,
): { threshold: number | null; point: CurvePoint } {
  let best: CurvePoint | undefined;
  for (const threshold of thresholds) {
    const point = curvePoint(decisions, threshold);
    if (point.coverage === 0 || point.accuracyOnCovered < targetAccuracy) continue;
    if (!best || point.coverage > best.coverage || (point.coverage === best.coverage && point.costPerItemUsd < best.costPerItemUsd)) best = point;
  }
  // No threshold reaches the target: everything escalates.
  return best ? { threshold: best.threshold, point: best } : { threshold: null, point: curvePoint(decisions, Number.POSITIVE_INFINITY) };
}

/** Top-1 accuracy per gold label (the model alone, nothing escalated). */
export function perLabelAccuracy(decisions: readonly ItemDecision[]): Record<string, number> {
  const totals = new Map<string, { n: number; right: number }>();
  for (const decision of decisions) {
    const total = totals.get(decision.gold) ?? { n: 0, right: 0 };
    total.n++;
    if (decision.smallLabel === decision.gold) total.right++;
    totals.set(decision.gold, total);
  }
  return Object.fromEntries([...totals.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([label, total]) => [label, total.right / total.n]));
}

/** Reads a model's golden and held-out decisions into the figures a distill report compares. */
export function summarizeModel(version: string, golden: readonly ItemDecision[], heldOut: readonly ItemDecision[], targetAccuracy: number): ModelEvaluation {
  const atTarget = coverageAtAccuracy(golden, targetAccuracy);
  // Threshold 0 covers every item, so accuracy on covered items is plain top-1 accuracy.
  const heldOutPoint = curvePoint(heldOut, atTarget.threshold ?? Number.POSITIVE_INFINITY);
  return {
    version,
    accuracy: curvePoint(golden, 0).accuracyOnCovered,
    coverageAtTarget: atTarget.point.coverage,
    thresholdAtTarget: atTarget.threshold,
    accuracyOnCoveredAtTarget: atTarget.point.accuracyOnCovered,
    costPerItemUsdAtTarget: atTarget.point.costPerItemUsd,
    perLabelAccuracy: perLabelAccuracy(golden),
    curve: targetThresholds.filter((threshold) => Math.round(threshold * 100) % 5 === 0 && threshold <= 1).map((threshold) => curvePoint(golden, threshold)),
    golden: { n: golden.length },
    heldOut: { n: heldOut.length, accuracy: curvePoint(heldOut, 0).accuracyOnCovered, coverage: heldOutPoint.coverage, accuracyOnCovered: heldOutPoint.accuracyOnCovered },
  };
}

/** Evaluates a saved model on the golden items and the held-out collected items. */
export async function evaluateModelFile(
  target: EvaluationTarget,
  modelFile: string,
  golden: readonly LabelledText[],
  heldOut: readonly LabelledText[],
  targetAccuracy: number,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ModelEvaluation> {
  const saved = loadClassifier(modelFile);
  const goldenDecisions = await decideWithModel(target, modelFile, golden, env);
  const heldOutDecisions = heldOut.length > 0 ? await decideWithModel(target, modelFile, heldOut, env) : [];
  return summarizeModel(modelVersionOf(saved.task, saved.model), goldenDecisions, heldOutDecisions, targetAccuracy);
}
