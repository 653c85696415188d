/**
 * Offline evaluation: each item goes through the target station's step the way its job type's workflow
 * runs it — `route()` picks the model, the answer's confidence (the station's own rule) is compared with
 * the threshold, a low-confidence answer escalates to the next tier, and above the top tier to a person —
 * with the model calls made in-process through the model gateway instead of as Temporal activities. The
 * per-item decisions it returns are what the metrics and the durable comparison are computed from.
 */
import type { ModelSpec, Tier } from '../../domain/models';
import { route, type EscalationCause } from '../../domain/routing';
import { scoreConfidence } from '../../factory/confidence';
import type { ModelGateway } from '../../providers/gateway-types';
import type { LabelledText } from '../../providers/local/classifier';
import { labelOfAnswer, stationInputOf, thresholdOf, type EvaluationTarget } from './target';

export interface TierCall {
  tier: Tier;
  modelId: string;
  /** The answer's label, or null when the call failed. */
  label: string | null;
  confidence: number | null;
  outcome: 'accepted' | 'escalated';
  costUsd: number;
}

export type FinalStop = Tier | 'human' | 'failed';

export interface ItemDecision {
  /** Position in the evaluated sample. */
  index: number;
  gold: string;
  /** False when the gold label is not one the small model knows (out of scope): only escalating is right. */
  goldKnown: boolean;
  /** The small model's label and confidence; null when the small tier was not asked (or failed). */
  smallLabel: string | null;
  smallConfidence: number | null;
  /** The small model's answer was accepted (confidence ≥ threshold). */
  covered: boolean;
  /** Covered and right, or escalated (assumed right, see the report's assumptions). */
  correct: boolean;
  calls: TierCall[];
  /** Where the step ended: the tier whose answer was accepted, a person, or a failure. */
  finalStop: FinalStop;
  smallCostUsd: number;
  /** What route() estimates one escalation from the small tier costs, whether or not it happened. */
  escalationEstimateUsd: number;
  /** Cost actually spent on every call of the route. */
  routeCostUsd: number;
  latencyMs: number;
}

export interface StepSettings {
  /** The station under evaluation and the job type whose policy decides its steps. */
  target: EvaluationTarget;
  threshold: number;
  models: readonly ModelSpec[];
}

/** The target job type's threshold for its station (or a --threshold override), with the models to route over. */
export function targetStepSettings(target: EvaluationTarget, models: readonly ModelSpec[], thresholdOverride?: number): StepSettings {
  return { target, threshold: thresholdOf(target, thresholdOverride), models };
}

/** What route() needs of the target's station. */
const routedStation = (target: EvaluationTarget) => ({ name: target.station.name, defaultTier: target.station.defaultTier, maxOutputTokens: target.station.maxOutputTokens });

const escalatingErrorNames: Record<string, EscalationCause> = {
  SchemaViolationError: 'schema-violation',
  MalformedModelOutputError: 'schema-violation',
  ContextLengthExceededError: 'context-length',
};

function escalationCauseOf(error: unknown): EscalationCause | undefined {
  const name = error instanceof Error ? error.name : '';
  if (name === 'UnknownStationError') return undefined;
  return escalatingErrorNames[name] ?? 'model-failure';
}

/**
 * An item's decision from the calls its step made, however they were made (offline here, or read back
 * from a durable job's ledger): coverage, correctness and costs are derived the same way for both.
 */
export function itemDecision(made: {
  item: LabelledText;
  index: number;
  calls: TierCall[];
  finalStop: FinalStop;
  knownLabels: ReadonlySet<string>;
  settings: StepSettings;
  routeCostUsd: number;
  latencyMs: number;
}): ItemDecision {
  const { item, calls } = made;
  const small = calls[0]?.tier === 'small' ? calls[0] : undefined;
  const smallCostUsd = small?.costUsd ?? 0;
  const covered = small?.outcome === 'accepted';
  const goldKnown = made.knownLabels.has(item.label);
  return {
    index: made.index,
    gold: item.label,
    goldKnown,
    smallLabel: small?.label ?? null,
    smallConfidence: small?.confidence ?? null,
    covered,
    correct: isCorrect(covered, small?.label ?? null, item.label, goldKnown),
    calls,
    finalStop: made.finalStop,
    smallCostUsd,
    escalationEstimateUsd: escalationEstimateUsd(item.text, smallCostUsd, made.settings),
    routeCostUsd: made.routeCostUsd,
    latencyMs: made.latencyMs,
  };
}

/** Decides one item as the workflow's step loop would (see workflows/step-runner.ts runStation). */
export async function decideItem(
  item: LabelledText,
  index: number,
  gateway: ModelGateway,
  settings: StepSettings,
  knownLabels: ReadonlySet<string>,
): Promise<ItemDecision> {
  const startedAt = performance.now();
  const { target } = settings;
  const { station, policy } = target;
  const input = stationInputOf(target, item.text);
  const inputChars = JSON.stringify(input).length;
  const prompt = station.prompt(input);
  const calls: TierCall[] = [];
  let spentUsd = 0;
  let escalation: { fromTier: Tier; cause: EscalationCause } | undefined;
  let finalStop: FinalStop | undefined;

  const routeRequest = (budgetRemainingUsd: number, escalateFrom?: { fromTier: Tier; cause: EscalationCause }) => ({
    station: routedStation(target),
    models: settings.models,
    inputChars,
    longInputChars: policy.longInputChars,
    escalation: escalateFrom,
    budgetRemainingUsd,
  });

  while (finalStop === undefined) {
    const decision = route(routeRequest(Math.max(0, policy.budgetUsd - spentUsd), escalation));
    if (decision.kind === 'human') {
      finalStop = 'human';
      break;
    }
    if (decision.kind === 'over-budget') {
      // A policy that fails over budget ends the step; one that pauses hands it to a person.
      finalStop = policy.overBudget === 'fail' ? 'failed' : 'human';
      break;
    }
    try {
      const outcome = await gateway.call({
        modelId: decision.model.id,
        station: station.name,
        ...(station.local ? { local: station.local } : {}),
        input,
        system: prompt.system,
        prompt: prompt.user,
        schema: station.output,
      });
      spentUsd += outcome.costUsd;
      // As the step runner: an answer its station's rule finds no confidence in is accepted.
      const confidence = scoreConfidence(station.confidence, outcome.output, outcome.confidence);
      const accepted = confidence === null || confidence >= settings.threshold;
      calls.push({
        tier: decision.tier,
        modelId: decision.model.id,
        label: labelOfAnswer(target, outcome.output) ?? null,
        confidence,
        outcome: accepted ? 'accepted' : 'escalated',
        costUsd: outcome.costUsd,
      });
      if (accepted) finalStop = decision.tier;
      else escalation = { fromTier: decision.tier, cause: 'low-confidence' };
    } catch (error) {
      const cause = escalationCauseOf(error);
      calls.push({ tier: decision.tier, modelId: decision.model.id, label: null, confidence: null, outcome: 'escalated', costUsd: 0 });
      if (!cause) finalStop = 'failed';
      else escalation = { fromTier: decision.tier, cause };
    }
  }

  return itemDecision({ item, index, calls, finalStop, knownLabels, settings, routeCostUsd: spentUsd, latencyMs: performance.now() - startedAt });
}

/** What route() estimates one escalation from the small tier would cost for this text (0 when it would go to a person). */
export function escalationEstimateUsd(text: string, smallCostUsd: number, settings: StepSettings): number {
  const { target } = settings;
  const decision = route({
    station: routedStation(target),
    models: settings.models,
    inputChars: JSON.stringify(stationInputOf(target, text)).length,
    longInputChars: target.policy.longInputChars,
    escalation: { fromTier: 'small', cause: 'low-confidence' },
    budgetRemainingUsd: Math.max(0, target.policy.budgetUsd - smallCostUsd),
  });
  return decision.kind === 'human' ? 0 : decision.estimatedCostUsd;
}

/**
 * Covered items are right when the small model's label is the gold label (never, when the gold label
 * is unknown to it). Escalated items are counted right: the escalation tier or reviewer is assumed to
 * answer correctly, and for out-of-scope items escalating is the right move.
 */
export function isCorrect(covered: boolean, smallLabel: string | null, gold: string, goldKnown: boolean): boolean {
  if (!covered) return true;
  return goldKnown && smallLabel === gold;
}

/** Decides every item in order (in-process models are fast; order keeps the output reproducible). */
export async function evaluateOffline(
  items: readonly LabelledText[],
  gateway: ModelGateway,
  settings: StepSettings,
  knownLabels: readonly string[],
): Promise<ItemDecision[]> {
  const known = new Set(knownLabels);
  const decisions: ItemDecision[] = [];
  for (const [index, item] of items.entries()) decisions.push(await decideItem(item, index, gateway, settings, known));
  return decisions;
}
