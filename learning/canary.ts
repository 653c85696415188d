/**
 * Shadow and canary, as pure decisions: a candidate in shadow answers live items next to the serving
 * model (its answer recorded, never used) and its agreement with the accepted answers is measured; a
 * canary serves a stable, hash-chosen share of the items, and falls back automatically — the registry
 * rolls back to the previous version — as soon as enough observations show agreement below the gate.
 */
import { createHash } from 'node:crypto';
import type { ModelRegistry } from './model-registry';

export interface ShadowObservation {
  itemId: string;
  /** The accepted answer for the item (the serving model's, a larger tier's or a reviewer's). */
  acceptedLabel: string;
  /** What the candidate (in shadow or as canary) answered. */
  candidateLabel: string;
}

export interface Agreement {
  n: number;
  agreed: number;
  /** Share of observations where the candidate gave the accepted answer (0 when there are none). */
  agreement: number;
}

export interface CanarySettings {
  /** Share of items the canary serves (0–1). */
  share: number;
  /** Agreement below this rolls the canary back. */
  agreementGate: number;
  /** Observations needed before any decision is taken. */
  minObservations: number;
  /** Observations after which a canary that stayed above the gate is kept for good. */
  fullObservations: number;
}

export type CanaryDecision =
  | { kind: 'wait'; reason: string; agreement: Agreement }
  | { kind: 'continue'; reason: string; agreement: Agreement }
  | { kind: 'keep'; reason: string; agreement: Agreement }
  | { kind: 'rollback'; reason: string; agreement: Agreement };

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
  const agreement = agreementOf(observations);
  if (agreement.n < settings.minObservations) {
    return { kind: 'wait', reason: `${agreement.n} of ${settings.minObservations} observations needed before deciding`, agreement };
  }
  if (agreement.agreement < settings.agreementGate) {
    return { kind: 'rollback', reason: `agreement ${percent(agreement.agreement)} over ${agreement.n} items is below the gate ${percent(settings.agreementGate)}`, agreement };
  }
  if (agreement.n >= settings.fullObservations) {
    return { kind: 'keep', reason: `agreement ${percent(agreement.agreement)} over ${agreement.n} items stayed at or above ${percent(settings.agreementGate)}`, agreement };
  }
  return { kind: 'continue', reason: `agreement ${percent(agreement.agreement)} over ${agreement.n} items, at or above ${percent(settings.agreementGate)} so far`, agreement };
}

/** Applies a canary decision: a rollback restores the previous version in the registry. */
export function superviseCanary(registry: ModelRegistry, observations: readonly ShadowObservation[], settings: CanarySettings, by = 'canary-monitor'): CanaryDecision {
  const decision = canaryDecision(observations, settings);
  if (decision.kind === 'rollback') registry.rollback(by, `automatic rollback: ${decision.reason}`);
  return decision;
}
