/**
 * The plain-data shapes of activity inputs and outputs (what crosses into workflow history).
 */
import type { Usage } from '../domain/models';
import type { FailoverStep } from '../providers/gateway-types';

export interface ModelCallRequest {
  jobId: string;
  stepId: string;
  call: number;
  station: string;
  modelId: string;
  input: unknown;
  /** Other models of the chosen model's tier, cheapest first: failover tries them when it has an outage. */
  fallbacks?: string[];
}

export interface ModelCallResult {
  output: unknown;
  confidence: number | null;
  usage: Usage;
  costUsd: number;
  latencyMs: number;
  cacheHit: boolean;
  repaired: boolean;
  modelId: string;
  modelVersion?: string;
  /** Where `confidence` came from (the model's own probability): classifier, local-answer or logprobs. */
  confidenceSource?: 'classifier' | 'local-answer' | 'logprobs';
  /** Models of the tier passed over before `modelId` answered (cooling down, or an outage now). */
  failover?: FailoverStep[];
  /**
   * Set when the learning registry had a say in this call: `servedAs` names the canary or the stable
   * version of a canary split; `shadow` is what a shadow candidate answered (recorded, never used).
   */
  live?: { servedAs?: 'canary' | 'stable'; shadow?: { version: string; label: string } };
}

export interface PlanRequest {
  jobId: string;
  jobType: string;
  input: unknown;
  modelId: string;
  /** The validation problems of the previous attempt, for the one repair. */
  repairHint?: string;
}

export interface PlanResult {
  plan: unknown;
  costUsd: number;
  modelId: string;
}

/** The first job workflow's action (legacy/): its proposal, as plain JSON, goes to the outbox as it is. */
export interface ActionRequest {
  jobId: string;
  stepId: string;
  action: Record<string, unknown>;
  approvedBy: string[];
}

export interface ActionReceipt {
  idempotencyKey: string;
  executedAt: string;
  firstExecution: boolean;
}
