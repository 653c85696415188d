/**
 * The routing policy: pure and deterministic, so the workflow, offline evaluation and policy replay
 * all make the same decision from the same signals. Picks the cheapest suitable model at a tier,
 * moves up a tier on difficulty signals or escalation, and hands off to a person above the top.
 */
import type { ModelSpec } from './models';
import { tiers, type Tier } from './model-kinds';

export type EscalationCause = 'low-confidence' | 'schema-violation' | 'context-length' | 'model-failure';

export interface RouteRequest {
  station: { name: string; defaultTier: Tier; maxOutputTokens: number };
  models: readonly ModelSpec[];
  inputChars: number;
  /** Inputs longer than this start one tier up. */
  longInputChars: number;
  /** Lowest confidence among the steps this one reads from. */
  upstreamConfidence?: number;
  /** The starting tier a learned router chose for this step (replaces the station's default), and why. */
  startTier?: { tier: Tier; reason: string };
  /** Set when this call escalates a previous one. */
  escalation?: { fromTier: Tier; cause: EscalationCause };
  budgetRemainingUsd: number;
}

export type RouteDecision =
  | {
      kind: 'model';
      model: ModelSpec;
      tier: Tier;
      estimatedCostUsd: number;
      reason: string;
      /** The tier's other fitting models, cheapest first: failover's order when `model` has an outage. */
      fallbacks: ModelSpec[];
    }
  | { kind: 'human'; reason: string }
  | { kind: 'over-budget'; model: ModelSpec; tier: Tier; estimatedCostUsd: number; reason: string };

const SYSTEM_PROMPT_TOKENS = 150;
const UPSTREAM_CONFIDENCE_FLOOR = 0.5;

export function estimateTokens(chars: number): number {
  return Math.ceil(chars / 4) + SYSTEM_PROMPT_TOKENS;
}

export function estimateCostUsd(model: ModelSpec, inputTokens: number, outputTokens: number): number {
  return (inputTokens * model.inputPricePerMTokUsd + outputTokens * model.outputPricePerMTokUsd) / 1_000_000;
}

export function nextTier(tier: Tier): Tier | undefined {
  return tiers[tiers.indexOf(tier) + 1];
}

const maxTier = (a: Tier, b: Tier): Tier => (tiers.indexOf(a) >= tiers.indexOf(b) ? a : b);

/** Decides which model (or person) handles the next call of a step, and says why. */
export function route(request: RouteRequest): RouteDecision {
  const reasons: string[] = [];
  let tier: Tier;
  if (request.escalation) {
    const next = nextTier(request.escalation.fromTier);
    if (!next) {
      return { kind: 'human', reason: `${request.escalation.cause} at the top tier (${request.escalation.fromTier}): needs human review` };
    }
    tier = next;
    reasons.push(`escalated from ${request.escalation.fromTier} after ${request.escalation.cause}`);
  } else {
    tier = request.startTier?.tier ?? request.station.defaultTier;
    reasons.push(request.startTier ? `${request.startTier.reason}` : `station default tier ${tier}`);
    if (request.inputChars > request.longInputChars) {
      tier = maxTier(tier, nextTier(tier) ?? tier);
      reasons.push(`long input (${request.inputChars} chars) → ${tier}`);
    }
    if (request.upstreamConfidence !== undefined && request.upstreamConfidence < UPSTREAM_CONFIDENCE_FLOOR) {
      tier = maxTier(tier, nextTier(tier) ?? tier);
      reasons.push(`low upstream confidence ${request.upstreamConfidence.toFixed(2)} → ${tier}`);
    }
  }

  const inputTokens = estimateTokens(request.inputChars);
  const outputTokens = request.station.maxOutputTokens;
  for (let candidateTier: Tier | undefined = tier; candidateTier; candidateTier = nextTier(candidateTier)) {
    const fitting = request.models
      .filter((model) => model.tier === candidateTier && model.contextWindow >= inputTokens + outputTokens)
      .map((model) => ({ model, estimatedCostUsd: estimateCostUsd(model, inputTokens, outputTokens) }))
      .sort((a, b) => a.estimatedCostUsd - b.estimatedCostUsd || a.model.id.localeCompare(b.model.id));
    const cheapest = fitting[0];
    if (!cheapest) {
      reasons.push(`no ${candidateTier} model fits ${inputTokens + outputTokens} tokens`);
      continue;
    }
    reasons.push(`cheapest fitting ${candidateTier} model ${cheapest.model.id} (est. $${cheapest.estimatedCostUsd.toFixed(6)})`);
    if (cheapest.estimatedCostUsd > request.budgetRemainingUsd) {
      return {
        kind: 'over-budget',
        model: cheapest.model,
        tier: candidateTier,
        estimatedCostUsd: cheapest.estimatedCostUsd,
        reason: `${reasons.join('; ')}; estimate exceeds the $${request.budgetRemainingUsd.toFixed(6)} left in the budget`,
      };
    }
    const fallbacks = fitting.slice(1).map((candidate) => candidate.model);
    if (fallbacks.length > 0) reasons.push(`failover order ${fallbacks.map((model) => model.id).join(', ')}`);
    return { kind: 'model', model: cheapest.model, tier: candidateTier, estimatedCostUsd: cheapest.estimatedCostUsd, reason: reasons.join('; '), fallbacks };
  }
  return { kind: 'human', reason: `${reasons.join('; ')}: no model can take this input, needs human review` };
}
