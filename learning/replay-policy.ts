/**
 * Policy replay: re-decides the routing of recorded runs under a new policy (confidence thresholds,
 * starting tiers, a budget) using only what the runs recorded — each call's tier, confidence, cost and
 * answer — and estimates the change in cost and in agreement with the answers the runs settled on.
 * Steps whose new decision needs an answer that was never recorded are counted, not guessed.
 */
import { z } from 'zod';
import type { JobRecord, LedgerEntry } from '../domain/job';
import { tiers, tierSchema, type Tier } from '../domain/models';
import { stations } from '../domain/stations';

export const replayPolicySchema = z
  .object({
    /** Per-station confidence thresholds (stations not named keep their default). */
    confidenceThresholds: z.record(z.string(), z.number().min(0).max(1)).default({}),
    /** Per-station starting tiers. */
    startTiers: z.record(z.string(), tierSchema).default({}),
    /** A per-job budget: jobs whose replayed cost exceeds it are counted. */
    budgetUsd: z.number().positive().optional(),
  })
  .strict();
export type ReplayPolicy = z.infer<typeof replayPolicySchema>;

export type StepVerdict = 'unchanged' | 'changed' | 'needs-new-call' | 'needs-review';

export interface StepReplay {
  jobId: string;
  stepId: string;
  station: string;
  verdict: StepVerdict;
  recordedCall: number;
  replayedCall: number | null;
  costBeforeUsd: number;
  costAfterUsd: number;
  /** Whether the replayed answer equals the recorded one (undefined when there is no replayed answer). */
  agrees?: boolean;
}

export interface PolicyReplayReport {
  jobs: number;
  steps: number;
  unchanged: number;
  decisionsChanged: number;
  /** Steps the new policy sends to a tier whose answer was never recorded: replaying them needs new model calls. */
  needNewModelCalls: number;
  /** Steps the new policy sends past the top tier: a person would review them. */
  needReview: number;
  costBeforeUsd: number;
  /** Cost of the steps that can be replayed from records (excludes the ones needing new calls). */
  costAfterUsd: number;
  /** Among replayable steps whose decision changed, the share whose answer equals the recorded one. */
  agreementOnChanged: number | null;
  jobsOverBudget: number;
  details: StepReplay[];
}

const defaultThresholds = new Map(stations.flatMap((station) => (station.kind === 'model' ? [[station.name, station.confidenceThreshold] as const] : [])));
const tierRank = (tier: Tier) => tiers.indexOf(tier);

function sameAnswer(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Re-decides one recorded step: the first recorded call, at or above the starting tier, confident enough. */
export function replayStep(jobId: string, calls: readonly LedgerEntry[], finalOutput: unknown, policy: ReplayPolicy): StepReplay {
  const ordered = [...calls].sort((a, b) => a.call - b.call);
  const first = ordered[0]!;
  const threshold = policy.confidenceThresholds[first.station] ?? defaultThresholds.get(first.station) ?? 0;
  const startTier = policy.startTiers[first.station];
  const recorded = ordered.find((call) => call.outcome === 'accepted');
  const recordedCall = recorded?.call ?? ordered.at(-1)!.call;
  const costBeforeUsd = ordered.reduce((sum, call) => sum + call.costUsd, 0);
  const base = { jobId, stepId: first.stepId, station: first.station, recordedCall, costBeforeUsd };

  let costAfterUsd = 0;
  for (const call of ordered) {
    if (startTier && tierRank(call.tier) < tierRank(startTier)) continue;
    costAfterUsd += call.costUsd;
    const answer = call.outcome === 'accepted' ? finalOutput : call.output;
    if (answer !== undefined && call.confidence !== null && call.confidence >= threshold) {
      const agrees = sameAnswer(answer, finalOutput);
      return { ...base, verdict: call.call === recordedCall ? 'unchanged' : 'changed', replayedCall: call.call, costAfterUsd, agrees };
    }
  }
  // No recorded answer satisfies the policy: the next tier up was never asked, or there is none.
  const lastTier = ordered.at(-1)!.tier;
  const higher = startTier && tierRank(startTier) > tierRank(lastTier) ? startTier : tiers[tierRank(lastTier) + 1];
  return { ...base, verdict: higher ? 'needs-new-call' : 'needs-review', replayedCall: null, costAfterUsd };
}

export function replayPolicy(records: readonly JobRecord[], policy: ReplayPolicy): PolicyReplayReport {
  const details: StepReplay[] = [];
  let jobsOverBudget = 0;
  for (const record of records) {
    const byStep = new Map<string, LedgerEntry[]>();
    for (const entry of record.ledger) byStep.set(entry.stepId, [...(byStep.get(entry.stepId) ?? []), entry]);
    const steps = [...byStep.entries()].map(([stepId, calls]) => replayStep(record.id, calls, record.outputs[stepId], policy));
    details.push(...steps);
    if (policy.budgetUsd !== undefined && steps.reduce((sum, step) => sum + step.costAfterUsd, 0) > policy.budgetUsd) jobsOverBudget++;
  }
  const changed = details.filter((step) => step.verdict === 'changed');
  return {
    jobs: records.length,
    steps: details.length,
    unchanged: details.filter((step) => step.verdict === 'unchanged').length,
    decisionsChanged: details.filter((step) => step.verdict !== 'unchanged').length,
    needNewModelCalls: details.filter((step) => step.verdict === 'needs-new-call').length,
    needReview: details.filter((step) => step.verdict === 'needs-review').length,
    costBeforeUsd: details.reduce((sum, step) => sum + step.costBeforeUsd, 0),
    costAfterUsd: details.filter((step) => step.verdict !== 'needs-new-call').reduce((sum, step) => sum + step.costAfterUsd, 0),
    agreementOnChanged: changed.length ? changed.filter((step) => step.agrees).length / changed.length : null,
    jobsOverBudget,
    details,
  };
}
