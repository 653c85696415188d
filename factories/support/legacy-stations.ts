/**
 * The station catalogue as the first job workflow (`jobWorkflow`) reads it: derived from the built-in
 * support factory's definitions, so prompts, schemas, tiers and thresholds have one home. Kept only to
 * finish and replay jobs started on that workflow type, and for the tools that still read it.
 */
import { z } from 'zod';
import type { Tier } from '../../domain/models';
import { scoreConfidence } from '../../factory/confidence';
import type { AnyStation, AnyLocalAnswer } from '../../factory/define';
import { act, actionSensitivity, highRiskStakes } from './actions';
import { proposedActionSchema, type ProposedAction } from './schemas';
import { supportStations } from './stations';

export interface SensitivityPolicy {
  /** Refunds above this amount need a reviewer. */
  refundThresholdUsd: number;
  /** Outbound messages to customers need a reviewer. */
  outboundMessagesNeedApproval: boolean;
  /** Any action waits for a reviewer when an earlier step (a risk assessment) rated the job high risk. */
  highRiskNeedsApproval?: boolean;
}

/** Stakes seen in earlier steps' outputs (a `high` risk assessment makes any action sensitive). */
export function stakesSensitivity(outputs: Record<string, unknown>, policy: SensitivityPolicy): string | undefined {
  return highRiskStakes(outputs, { highRiskNeedsApproval: policy.highRiskNeedsApproval ?? false });
}

export interface ModelStation {
  kind: 'model';
  name: string;
  description: string;
  /** How it answers offline (the definition's `local`). */
  local?: AnyLocalAnswer;
  input: z.ZodType;
  output: z.ZodType;
  defaultTier: Tier;
  /** Answers whose confidence is below this escalate to the next tier. */
  confidenceThreshold: number;
  /** Upper bound on output tokens, used to estimate cost before the call. */
  maxOutputTokens: number;
  /** The station's confidence in an answer: the model's own where it has one, else a rule. */
  confidenceOf(output: unknown, modelConfidence: number | null): number;
  prompt(input: unknown): { system: string; user: string };
}

export interface ActionStation {
  kind: 'action';
  name: string;
  description: string;
  input: z.ZodType<{ action: ProposedAction }>;
  /** Why this action needs a person, or undefined when it may run on its own. */
  sensitivity(action: ProposedAction, policy: SensitivityPolicy): string | undefined;
}

export type Station = ModelStation | ActionStation;

function modelStationOf(station: AnyStation): ModelStation {
  const rule = station.confidence;
  return {
    kind: 'model',
    name: station.name,
    description: station.description,
    ...(station.local ? { local: station.local } : {}),
    input: station.input,
    output: station.output,
    defaultTier: station.defaultTier,
    confidenceThreshold: station.confidenceThreshold,
    maxOutputTokens: station.maxOutputTokens,
    // Every built-in station's rule finds a number (a field, or the model's probability with a fallback).
    confidenceOf: (output, modelConfidence) => scoreConfidence(rule, output, modelConfidence)!,
    prompt: (input) => station.prompt(input),
  };
}

const actStation: ActionStation = {
  kind: 'action',
  name: act.name,
  description: act.description,
  input: z.object({ action: proposedActionSchema }),
  sensitivity: (action, policy) => actionSensitivity(action, policy),
};

const models = supportStations.map(modelStationOf);
const afterProposeAction = models.findIndex((station) => station.name === 'propose-action') + 1;

/** In the first workflow's catalogue order: the action station `act` after `propose-action`. */
export const stations: readonly Station[] = [...models.slice(0, afterProposeAction), actStation, ...models.slice(afterProposeAction)];

export class UnknownStationError extends Error {
  override readonly name = 'UnknownStationError';
}

export function stationByName(name: string): Station {
  const station = stations.find((candidate) => candidate.name === name);
  if (!station) throw new UnknownStationError(`Unknown station "${name}"; known: ${stations.map((s) => s.name).join(', ')}`);
  return station;
}

export function modelStation(name: string): ModelStation {
  const station = stationByName(name);
  if (station.kind !== 'model') throw new UnknownStationError(`Station "${name}" does not call a model`);
  return station;
}

/** Catalogue entries for plan validation and for the model planner's prompt. */
export const stationCatalogue = stations.map((station) => {
  const shape = (station.input as z.ZodObject).shape as Record<string, z.ZodType>;
  return {
    name: station.name,
    description: station.description,
    inputFields: Object.keys(shape),
    requiredInputFields: Object.keys(shape).filter((field) => !shape[field]!.safeParse(undefined).success),
  };
});
