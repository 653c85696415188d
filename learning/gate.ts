/**
 * The promotion gate, pure: a candidate may replace the current model only if its golden-set accuracy
 * drops by no more than the tolerance AND its coverage at the target accuracy goes up. A refusal says
 * which check failed with the figures. Passing the gate is necessary, not sufficient: a reviewer still
 * approves the promotion.
 */
import type { GateCheck, GateVerdict, LabelChange, ModelEvaluation } from './types';

const percent = (value: number) => `${(value * 100).toFixed(1)}%`;

export function gateCandidate(
  candidate: ModelEvaluation,
  current: ModelEvaluation | null,
  settings: { tolerance: number; targetAccuracy: number },
): GateVerdict {
  const accuracyFloor = current ? current.accuracy - settings.tolerance : 0;
  const accuracyCheck: GateCheck = {
    name: 'golden-accuracy',
    // A hair of slack so equal accuracies computed differently never refuse.
    passed: candidate.accuracy >= accuracyFloor - 1e-9,
    detail: current
      ? `golden accuracy ${percent(candidate.accuracy)} vs ${percent(current.accuracy)} now (a drop of at most ${percent(settings.tolerance)} is allowed)`
      : `golden accuracy ${percent(candidate.accuracy)} (no current model to compare with)`,
  };
  const currentCoverage = current?.coverageAtTarget ?? 0;
  const coverageCheck: GateCheck = {
    name: 'coverage-at-target',
    passed: candidate.coverageAtTarget > currentCoverage,
    detail: `coverage at ${percent(settings.targetAccuracy)} accuracy ${percent(candidate.coverageAtTarget)} vs ${percent(currentCoverage)} ${current ? 'now' : '(no current model)'} (must go up)`,
  };
  const checks = [accuracyCheck, coverageCheck];
  const failed = checks.filter((check) => !check.passed);
  return failed.length === 0
    ? { passed: true, checks }
    : { passed: false, checks, refusal: `candidate ${candidate.version} refused: ${failed.map((check) => check.detail).join('; ')}` };
}

/** Per-label golden accuracy, current against candidate, regressions first. */
export function labelChanges(candidate: ModelEvaluation, current: ModelEvaluation | null): LabelChange[] {
  const labels = new Set([...Object.keys(candidate.perLabelAccuracy), ...Object.keys(current?.perLabelAccuracy ?? {})]);
  return [...labels]
    .map((label) => {
      const before = current?.perLabelAccuracy[label] ?? null;
      const after = candidate.perLabelAccuracy[label] ?? 0;
      return { label, current: before, candidate: after, delta: before === null ? null : after - before };
    })
    .sort((a, b) => (a.delta ?? 0) - (b.delta ?? 0) || a.label.localeCompare(b.label));
}
