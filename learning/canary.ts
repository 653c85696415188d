/**
 * Shadow and canary, as pure decisions: a candidate in shadow answers live items next to the serving
 * model (its answer recorded, never used) and its agreement with the accepted answers is measured; a
 * canary serves a stable, hash-chosen share of the items, and falls back automatically — the registry
 * rolls back to the previous version — as soon as enough observations show agreement below the gate.
 */
import { createHash } from 'node:crypto';
import type { ModelRegistry } from './model-registry';
import { ModelRegistryError } from './registry-store';
import type { Agreement, CanarySettings } from './types';

export type { Agreement, CanarySettings } from './types';

export interface ShadowObservation {
  itemId: string;
  /** The accepted answer for the item (the serving model's, a larger tier's or a reviewer's). */
  acceptedLabel: string;
  /** What the candidate (in shadow or as canary) answered. */
  candidateLabel: string;
}

export type CanaryDecision =
  | { kind: 'wait'; reason: string; agreement: Agreement }
  | { kind: 'continue'; reason: string; agreement: Agreement }
  | { kind: 'keep'; reason: string; agreement: Agreement }
  | { kind: 'rollback'; reason: string; agreement: Agreement };

/**
 * A decision as `superviseCanary` applied it: a rollback or keep is `applied`, or `refused` when
 * another monitor (on this host or another) decided the same canary first — `refusal` says how the
 * registry stood; a wait or continue changes nothing and carries no outcome.
 */
export type SupervisedDecision = CanaryDecision & { outcome?: 'applied' | 'refused'; refusal?: string };

export function agreementOf(observations: readonly ShadowObservation[]): Agreement {
  const agreed = observations.filter((observation) => observation.candidateLabel === observation.acceptedLabel).length;
  return { n: observations.length, agreed, agreement: observations.length === 0 ? 0 : agreed / observations.length };
}

/** Whether an item goes to the canary: a stable hash of its id against the share, so retries land on the same model. */
export function routesToCanary(itemId: string, share: number): boolean {
  const bucket = createHash('sha256').update(itemId).digest().readUInt32BE(0) / 0x1_0000_0000;
  return bucket < share;
}

const percent = (value: number) => `${(value * 100).toFixed(1)}%`;

export function canaryDecision(observations: readonly ShadowObservation[], settings: CanarySettings): CanaryDecision {
  return canaryDecisionFor(agreementOf(observations), settings);
}

/**
 * The decision for an agreement already counted (the observation store counts it in SQL). `agreement`
 * is over the checked items — escalated to a larger tier or reviewed, so an answer other than the
 * canary's own exists; `settled` counts every item the canary served and the job settled (default: the
 * checked ones). A canary is rolled back once enough checked items show agreement below the gate, and
 * kept for all traffic once it served `fullObservations` settled items without that happening.
 */
export function canaryDecisionFor(agreement: Agreement, settings: CanarySettings, settled = agreement.n): CanaryDecision {
  const enough = agreement.n >= settings.minObservations;
  if (enough && agreement.agreement < settings.agreementGate) {
    return { kind: 'rollback', reason: `agreement ${percent(agreement.agreement)} over ${agreement.n} checked items is below the gate ${percent(settings.agreementGate)}`, agreement };
  }
  const soFar = enough ? `agreement ${percent(agreement.agreement)} over ${agreement.n} checked items, at or above ${percent(settings.agreementGate)}` : `${agreement.n} of ${settings.minObservations} checked items needed before judging agreement`;
  if (settled >= settings.fullObservations) {
    return { kind: 'keep', reason: `served ${settled} settled items without falling below the gate (${soFar})`, agreement };
  }
  return enough ? { kind: 'continue', reason: `${soFar} so far`, agreement } : { kind: 'wait', reason: soFar, agreement };
}

/**
 * Applies a canary decision to the registry: a rollback restores the stable version, a keep lets the
 * canary serve all traffic. Observations may be given as a list or as an agreement already counted.
 */
export async function superviseCanary(
  registry: ModelRegistry,
  observed: readonly ShadowObservation[] | Agreement,
  settings: CanarySettings,
  by = 'canary-monitor',
  /** Act only while this version is still the canary (another settle may have decided first). */
  canaryVersion?: string,
  /** Settled items the canary served, checked or not (default: the observations given). */
  settled?: number,
): Promise<SupervisedDecision> {
  const decision = Array.isArray(observed) ? canaryDecision(observed, settings) : canaryDecisionFor(observed as Agreement, settings, settled);
  if (decision.kind !== 'rollback' && decision.kind !== 'keep') return decision;
  try {
    if (decision.kind === 'rollback') await registry.rollback(by, `automatic rollback: ${decision.reason}`, new Date(), { canaryVersion });
    else await registry.keepCanary(by, `canary kept: ${decision.reason}`, new Date(), { canaryVersion });
  } catch (error) {
    // Another settle (on this host or another) decided this canary first; its decision stands.
    if (canaryVersion !== undefined && error instanceof ModelRegistryError) return { ...decision, outcome: 'refused', refusal: error.message };
    throw error;
  }
  return { ...decision, outcome: 'applied' };
}
