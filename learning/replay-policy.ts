/**
 * Policy replay: re-decides the routing of recorded runs under a new policy (confidence thresholds,
 * starting tiers, a budget) using what the runs recorded — each call's tier, confidence, cost and
 * answer — and estimates the change in cost and in agreement with the answers the runs settled on.
 * Steps whose new decision needs an answer that was never recorded are counted, never guessed; with
 * `replayPolicyWithCalls` exactly those steps are asked of the model the new policy would call (and
 * the tiers above it while the answer is not confident enough), and the report says how many calls
 * that took and what they cost.
 */
import { z } from 'zod';
import type { JobRecord, LedgerEntry } from '../domain/job';
import { labelFrom } from '../domain/learnable';
import { tiers, tierSchema, type Tier } from '../domain/models';
import type { Factory } from '../factory/define';

export const replayPolicySchema = z
  .object({
    /** Per-station confidence thresholds (stations not named keep their default). */
    confidenceThresholds: z.record(z.string(), z.number().min(0).max(1)).default({}),
    /** Per-station starting tiers. */
    startTiers: z.record(z.string(), tierSchema).default({}),
    /** A per-job budget: jobs whose replayed cost exceeds it are counted. */
    budgetUsd: z.number().positive().optional(),
    /**
     * A learned router from the learning registry, evaluated before it goes live: each recorded step
     * starts at the tier it picks from the step's input (`escalateTo` when the default will not do).
     */
    router: z
      .object({ id: z.string().min(1), version: z.string().min(1).optional(), stations: z.array(z.string()).optional(), escalateTo: tierSchema.default('large') })
      .strict()
      .optional(),
  })
  .strict();

/** A router's choice for one recorded step (`<jobId>:<stepId>`): the tier it starts at and why. */
export interface RoutedStart {
  tier: Tier;
  reason: string;
  escalated: boolean;
}
export type ReplayPolicy = z.infer<typeof replayPolicySchema>;

/** `answered-by-new-call`: the new decision needed an answer never recorded, and a new model call gave it. */
export type StepVerdict = 'unchanged' | 'changed' | 'needs-new-call' | 'answered-by-new-call' | 'needs-review';

export interface NewCall {
  modelId: string;
  tier: Tier;
  confidence: number | null;
  costUsd: number;
}

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
  /** When the policy names a router: the tier it picked for this step. */
  routedTier?: Tier;
  /** For a step needing a new call: the tier the new policy asks next. */
  neededTier?: Tier;
  /** The model calls made for this step by `replayPolicyWithCalls`, in order. */
  newCalls?: NewCall[];
  /** Why a step that needed a new call could not get one (its input could not be rebuilt, the model failed, the call limit). */
  newCallProblem?: string;
}

export interface PolicyReplayReport {
  jobs: number;
  steps: number;
  unchanged: number;
  decisionsChanged: number;
  /** Steps the new policy sends to a tier whose answer was never recorded: replaying them needs new model calls. */
  needNewModelCalls: number;
  /** Model calls made for those steps (0 unless replayed with calls), what they cost, and how many steps they answered. */
  newModelCalls: number;
  newModelCallCostUsd: number;
  answeredByNewCalls: number;
  /** Steps the new policy sends past the top tier: a person would review them. */
  needReview: number;
  costBeforeUsd: number;
  /** Cost of the steps decided from records or new calls (excludes the ones still needing new calls). */
  costAfterUsd: number;
  /** Among steps whose decision changed and that have an answer, the share whose answer equals the recorded one. */
  agreementOnChanged: number | null;
  jobsOverBudget: number;
  /** When the policy names a router: the steps it routed, those it sent to its escalation tier, and the steps it could not read. */
  router?: { id: string; version?: string; routed: number; escalated: number; escalatedShare: number | null; unrouted: number };
  details: StepReplay[];
}

const tierRank = (tier: Tier) => tiers.indexOf(tier);

/**
 * What a replay reads of the factory whose jobs it replays: each station's default threshold (a policy
 * that names none keeps it) and its learnable field (classification answers are compared by label).
 * A station the factory no longer has replays with threshold 0 and answers compared whole.
 */
class ReplayStations {
  private readonly byName: Factory['stations'];
  constructor(factory: Factory) {
    this.byName = factory.stations;
  }

  threshold(station: string, policy: ReplayPolicy): number {
    return policy.confidenceThresholds[station] ?? this.byName.get(station)?.confidenceThreshold ?? 0;
  }

  /** Classification answers agree when their labels do (confidences differ between models); others when equal. */
  sameAnswer(station: string, a: unknown, b: unknown): boolean {
    const learnable = this.byName.get(station)?.learnable;
    const label = labelFrom(learnable, a);
    return label !== undefined ? label === labelFrom(learnable, b) : JSON.stringify(a) === JSON.stringify(b);
  }
}

/** Re-decides one recorded step: the first recorded call, at or above the starting tier, confident enough. */
function replayStep(stations: ReplayStations, jobId: string, calls: readonly LedgerEntry[], finalOutput: unknown, policy: ReplayPolicy, routed?: RoutedStart): StepReplay {
  const ordered = [...calls].sort((a, b) => a.call - b.call);
  const first = ordered[0]!;
  const threshold = stations.threshold(first.station, policy);
  const startTier = routed?.tier ?? policy.startTiers[first.station];
  const recorded = ordered.find((call) => call.outcome === 'accepted');
  const recordedCall = recorded?.call ?? ordered.at(-1)!.call;
  const costBeforeUsd = ordered.reduce((sum, call) => sum + call.costUsd, 0);
  const base = { jobId, stepId: first.stepId, station: first.station, recordedCall, costBeforeUsd, ...(routed ? { routedTier: routed.tier } : {}) };

  let costAfterUsd = 0;
  for (const call of ordered) {
    if (startTier && tierRank(call.tier) < tierRank(startTier)) continue;
    costAfterUsd += call.costUsd;
    const answer = call.outcome === 'accepted' ? finalOutput : call.output;
    if (answer !== undefined && call.confidence !== null && call.confidence >= threshold) {
      const agrees = stations.sameAnswer(first.station, answer, finalOutput);
      return { ...base, verdict: call.call === recordedCall ? 'unchanged' : 'changed', replayedCall: call.call, costAfterUsd, agrees };
    }
  }
  // No recorded answer satisfies the policy: the next tier up was never asked, or there is none.
  const lastTier = ordered.at(-1)!.tier;
  const higher = startTier && tierRank(startTier) > tierRank(lastTier) ? startTier : tiers[tierRank(lastTier) + 1];
  return higher ? { ...base, verdict: 'needs-new-call', replayedCall: null, costAfterUsd, neededTier: higher } : { ...base, verdict: 'needs-review', replayedCall: null, costAfterUsd };
}

interface ReplayedJob {
  record: JobRecord;
  steps: StepReplay[];
}

function replaySteps(stations: ReplayStations, records: readonly JobRecord[], policy: ReplayPolicy, routed?: ReadonlyMap<string, RoutedStart>): ReplayedJob[] {
  return records.map((record) => {
    const byStep = new Map<string, LedgerEntry[]>();
    for (const entry of record.ledger) byStep.set(entry.stepId, [...(byStep.get(entry.stepId) ?? []), entry]);
    return { record, steps: [...byStep.entries()].map(([stepId, calls]) => replayStep(stations, record.id, calls, record.outputs[stepId], policy, routed?.get(`${record.id}:${stepId}`))) };
  });
}

/** The recorded steps a policy's router reads (`<jobId>:<stepId>` and station), in the records' order. */
export function routedSteps(records: readonly JobRecord[], policy: ReplayPolicy): { record: JobRecord; stepId: string; station: string }[] {
  const router = policy.router;
  if (!router) return [];
  const steps: { record: JobRecord; stepId: string; station: string }[] = [];
  for (const record of records) {
    const seen = new Set<string>();
    for (const entry of record.ledger) {
      if (seen.has(entry.stepId) || (router.stations && !router.stations.includes(entry.station))) continue;
      seen.add(entry.stepId);
      steps.push({ record, stepId: entry.stepId, station: entry.station });
    }
  }
  return steps;
}

/** What a policy's router did to the replayed steps: those it routed, those it started higher, those it could not read. */
function routerSummary(router: NonNullable<ReplayPolicy['router']>, details: readonly StepReplay[], routed: ReadonlyMap<string, RoutedStart> | undefined): NonNullable<PolicyReplayReport['router']> {
  const eligible = details.filter((step) => !router.stations || router.stations.includes(step.station));
  const decided = eligible.filter((step) => step.routedTier !== undefined);
  const escalated = decided.filter((step) => routed?.get(`${step.jobId}:${step.stepId}`)?.escalated).length;
  return {
    id: router.id,
    ...(router.version ? { version: router.version } : {}),
    routed: decided.length,
    escalated,
    escalatedShare: decided.length ? escalated / decided.length : null,
    unrouted: eligible.length - decided.length,
  };
}

function summarize(jobs: readonly ReplayedJob[], policy: ReplayPolicy, routed?: ReadonlyMap<string, RoutedStart>): PolicyReplayReport {
  const details = jobs.flatMap((job) => job.steps);
  const jobsOverBudget = policy.budgetUsd === undefined ? 0 : jobs.filter((job) => job.steps.reduce((sum, step) => sum + step.costAfterUsd, 0) > policy.budgetUsd!).length;
  const answered = details.filter((step) => step.verdict === 'changed' || step.verdict === 'answered-by-new-call');
  const newCalls = details.flatMap((step) => step.newCalls ?? []);
  return {
    jobs: jobs.length,
    steps: details.length,
    unchanged: details.filter((step) => step.verdict === 'unchanged').length,
    decisionsChanged: details.filter((step) => step.verdict !== 'unchanged').length,
    needNewModelCalls: details.filter((step) => step.neededTier !== undefined).length,
    newModelCalls: newCalls.length,
    newModelCallCostUsd: newCalls.reduce((sum, call) => sum + call.costUsd, 0),
    answeredByNewCalls: details.filter((step) => step.verdict === 'answered-by-new-call').length,
    needReview: details.filter((step) => step.verdict === 'needs-review').length,
    costBeforeUsd: details.reduce((sum, step) => sum + step.costBeforeUsd, 0),
    costAfterUsd: details.filter((step) => step.verdict !== 'needs-new-call').reduce((sum, step) => sum + step.costAfterUsd, 0),
    agreementOnChanged: answered.length ? answered.filter((step) => step.agrees).length / answered.length : null,
    jobsOverBudget,
    ...(policy.router ? { router: routerSummary(policy.router, details, routed) } : {}),
    details,
  };
}

/** Replays the records of a factory's jobs from the records alone: steps needing answers that were never recorded are only counted. */
export function replayPolicy(records: readonly JobRecord[], policy: ReplayPolicy, factory: Factory, routed?: ReadonlyMap<string, RoutedStart>): PolicyReplayReport {
  return summarize(replaySteps(new ReplayStations(factory), records, policy, routed), policy, routed);
}

export interface NewCallPort {
  /** The step's input as the job saw it (rebuilt from the job's request and recorded outputs). */
  stepInput(record: JobRecord, stepId: string): Promise<unknown>;
  /** One answer of the station from the model the router picks at this tier. */
  call(request: { jobId: string; stepId: string; station: string; tier: Tier; input: unknown }): Promise<{ output: unknown; confidence: number | null; costUsd: number; modelId: string }>;
}

/**
 * Replays like `replayPolicy`, then asks models for the steps whose new decision needs an answer never
 * recorded — only those, at most `maxCalls` calls in all: the tier the policy asks next, and the tiers
 * above while the answer stays below the threshold (past the top tier a person would review).
 */
export async function replayPolicyWithCalls(
  records: readonly JobRecord[],
  policy: ReplayPolicy,
  factory: Factory,
  port: NewCallPort,
  options: { maxCalls?: number; routed?: ReadonlyMap<string, RoutedStart> } = {},
): Promise<PolicyReplayReport> {
  const stations = new ReplayStations(factory);
  const jobs = replaySteps(stations, records, policy, options.routed);
  let budget = options.maxCalls ?? Infinity;
  for (const { record, steps } of jobs) {
    for (const step of steps) {
      if (step.verdict !== 'needs-new-call' || step.neededTier === undefined) continue;
      if (budget <= 0) {
        step.newCallProblem = `not asked: the limit of ${options.maxCalls} new calls was reached`;
        continue;
      }
      let input: unknown;
      try {
        input = await port.stepInput(record, step.stepId);
      } catch (error) {
        step.newCallProblem = `its input could not be rebuilt: ${error instanceof Error ? error.message : String(error)}`;
        continue;
      }
      const threshold = stations.threshold(step.station, policy);
      step.newCalls = [];
      for (let tier: Tier | undefined = step.neededTier; tier; tier = tiers[tierRank(tier) + 1]) {
        if (budget <= 0) {
          step.newCallProblem = `not finished: the limit of ${options.maxCalls} new calls was reached`;
          break;
        }
        budget--;
        let answer;
        try {
          answer = await port.call({ jobId: record.id, stepId: step.stepId, station: step.station, tier, input });
        } catch (error) {
          step.newCallProblem = `the ${tier} model failed: ${error instanceof Error ? error.message : String(error)}`;
          break;
        }
        step.newCalls.push({ modelId: answer.modelId, tier, confidence: answer.confidence, costUsd: answer.costUsd });
        step.costAfterUsd += answer.costUsd;
        if (answer.confidence !== null && answer.confidence >= threshold) {
          step.verdict = 'answered-by-new-call';
          step.agrees = stations.sameAnswer(step.station, answer.output, record.outputs[step.stepId]);
          break;
        }
      }
      if (step.verdict === 'needs-new-call' && !step.newCallProblem) step.verdict = 'needs-review';
    }
  }
  return summarize(jobs, policy, options.routed);
}
