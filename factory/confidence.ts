/**
 * A station's confidence in one answer, by the rule its definition names, and which scorer gave it. Pure:
 * the activities score answers with it, and offline evaluation and policy replay score recorded answers
 * the same way. Three rules need more than the answer — `samples` (more calls), `scorer` (a learned
 * scorer from the learning registry) and `cheaper-tier` (a cheaper tier's answer) — and are scored by the
 * activities; here they fall back to the model's own probability (then `otherwise`), as a recorded answer
 * carries no more.
 */
import type { CheaperTierConfidence, ConfidenceRule } from './define';

/** `cheaper-tier`'s confidence when the answer matches the cheaper tier's, and when it does not. */
export const DEFAULT_AGREE_CONFIDENCE = 0.95;
export const DEFAULT_DISAGREE_CONFIDENCE = 0.4;

/** Where the model's own probability came from (ProviderResponse.confidenceSource). */
export type ModelConfidenceSource = 'classifier' | 'local-answer' | 'logprobs';

/** A confidence and the scorer that gave it, as the ledger records it (`scorer`). */
export interface ScoredConfidence {
  confidence: number | null;
  /**
   * `model:classifier`, `model:logprobs`, `model:local-answer` (the model's own probability), `constant`
   * (the rule's `otherwise`), `field:<name>`, `rule` (the station's function), `samples:<k>`,
   * `scorer:<id>@<version>`; null when the answer was accepted unscored.
   */
  scorer: string | null;
}

/** The confidence routing compares with the station's threshold; null when the rule finds none (accepted unscored). */
export function scoreConfidence(rule: ConfidenceRule, output: unknown, modelConfidence: number | null): number | null {
  return scoreConfidenceWithScorer(rule, output, modelConfidence).confidence;
}

export function scoreConfidenceWithScorer(rule: ConfidenceRule, output: unknown, modelConfidence: number | null, source?: ModelConfidenceSource): ScoredConfidence {
  if (typeof rule === 'function') return { confidence: rule(output, modelConfidence), scorer: 'rule' };
  if (rule.from === 'field') {
    const value = output !== null && typeof output === 'object' ? (output as Record<string, unknown>)[rule.field] : undefined;
    return typeof value === 'number' && Number.isFinite(value) ? { confidence: value, scorer: `field:${rule.field}` } : { confidence: null, scorer: null };
  }
  if (modelConfidence !== null) return { confidence: modelConfidence, scorer: `model:${source ?? 'classifier'}` };
  const otherwise = 'otherwise' in rule ? rule.otherwise : undefined;
  return otherwise !== undefined ? { confidence: otherwise, scorer: 'constant' } : { confidence: null, scorer: null };
}

/** `cheaper-tier`'s verdict: the answer compared with the cheaper tier's on the rule's field (default: the learnable label). */
export function cheaperTierConfidence(rule: CheaperTierConfidence, learnableLabel: string | undefined, output: unknown, cheaper: { modelId: string; output: unknown }): ScoredConfidence {
  const field = rule.field ?? learnableLabel;
  const agree = agreementKey(output, field) === agreementKey(cheaper.output, field);
  return { confidence: agree ? (rule.agree ?? DEFAULT_AGREE_CONFIDENCE) : (rule.disagree ?? DEFAULT_DISAGREE_CONFIDENCE), scorer: `cheaper-tier:${cheaper.modelId}` };
}

/** The value answers are compared on (samples' agreement): `field`'s value, or the whole answer. */
export function agreementKey(output: unknown, field: string | undefined): string {
  const value = field !== undefined && output !== null && typeof output === 'object' ? (output as Record<string, unknown>)[field] : output;
  return JSON.stringify(value) ?? 'undefined';
}
