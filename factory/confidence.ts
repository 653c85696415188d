/**
 * A station's confidence in one answer, by the rule its definition names. Pure: the activities score
 * answers with it, and offline evaluation and policy replay score recorded answers the same way.
 */
import type { ConfidenceRule } from './define';

/** The confidence routing compares with the station's threshold; null when the rule finds none (accepted unscored). */
export function scoreConfidence(rule: ConfidenceRule, output: unknown, modelConfidence: number | null): number | null {
  if (typeof rule === 'function') return rule(output, modelConfidence);
  if (rule.from === 'field') {
    const value = output !== null && typeof output === 'object' ? (output as Record<string, unknown>)[rule.field] : undefined;
    return typeof value === 'number' && Number.isFinite(value) ? value : null;
  }
  return modelConfidence ?? rule.otherwise ?? null;
}
