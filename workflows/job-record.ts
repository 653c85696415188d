/**
 * The job's record as it runs: decisions, the ledger, approvals, actions, cost and the tier reached, and
 * what operators see of it — search attributes, the current details in the Temporal UI, the `record`
 * and `progress` queries, and the result. One per job (or per workflow using the primitives).
 */
import { ApplicationFailure, setCurrentDetails, setHandler, upsertMemo, upsertSearchAttributes } from '@temporalio/workflow';
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import type { PendingApproval, RecordedDecision } from '../domain/approvals';
import { type JobBudget } from '../domain/budget';
import type { ActionAttempt, ActionRecord, JobRecord, JobResult, LedgerEntry, RoutingDecisionRecord } from '../domain/job';
import type { ModelSpec } from '../domain/models';
import { tiers, type Tier } from '../domain/model-kinds';
import type { RecipeStep } from '../domain/recipe';
import type { ScreeningResult } from '../domain/screening';
import { ConveyorBatchId, ConveyorCostUsd, ConveyorEscalations, ConveyorJobType, ConveyorStatus, ConveyorTopTier, type JobStatus } from '../domain/search-attributes';
import { MAX_RECORD_CHARS, progressQuery, recordQuery } from './messages';
import { quietUpsertsOn, upsertsAtWaitsOn } from './patches';
import { recordActionAttempt, recordJobFinished, recordModelCall } from './metrics';
import { roundUsd } from './proxies';

export interface RecordIdentity {
  jobId: string;
  jobType: string;
  batchId?: string;
  /** Upsert Conveyor's search attributes (ConveyorStatus, …): on for factory jobs, opt-in for the primitives. */
  searchAttributes?: boolean;
  /**
   * Hold search-attribute and memo changes until the job waits for something outside its workflow task
   * (ENGINE_V2_PATCH, workflows/patches.ts). Only for a workflow whose every wait calls {@link JobRecorder.flush}: the
   * factory job's interpreter. A team's workflow using the primitives waits on its own calls, so it upserts at once.
   */
  upsertsAtWaits?: boolean;
}

/** Statuses that are themselves a wait or an end: upserted at once even when the job holds its changes. */
const visibleAtOnce: ReadonlySet<JobStatus> = new Set(['awaiting_approval', 'action_failed', 'completed', 'failed', 'rejected']);

export class JobRecorder {
  /** The search attributes' values as last upserted (key name → value). */
  private readonly upserted = new Map<string, unknown>();
  /** Whether changes wait for the next {@link flush} (decided once, by the patch, on the first change). */
  private holding: boolean | undefined;
  /** Search attributes changed since the last upsert; memo fields not yet upserted. */
  private attributesChanged = false;
  private heldMemo: Record<string, unknown> = {};

  readonly startedAt = new Date().toISOString();
  status: JobStatus = 'planning';
  plan: { strategy: 'recipe' | 'model'; steps: RecipeStep[]; fallbackReason?: string } = { strategy: 'recipe', steps: [] };
  readonly outputs: Record<string, unknown> = {};
  readonly confidences: Record<string, number | null> = {};
  readonly ledger: LedgerEntry[] = [];
  readonly decisions: RoutingDecisionRecord[] = [];
  readonly approvals: RecordedDecision[] = [];
  readonly actions: ActionRecord[] = [];
  /** Every attempt to run an action (the action half of the ledger). */
  readonly actionLedger: ActionAttempt[] = [];
  /** What waits for people now: the approval desk adds and removes, the record shows. */
  readonly pending: PendingApproval[] = [];
  escalations = 0;
  topTier: Tier | 'human' | 'none' = 'none';
  stepsDone = 0;
  screening: ScreeningResult | undefined;
  definition: JobResult['definition'];

  constructor(
    readonly identity: RecordIdentity,
    /** Replaced once the job's definition (and so its budget) is known. */
    public budget: JobBudget,
  ) {}

  /** Answers the `record` and `progress` queries from this record. */
  registerQueries(): void {
    setHandler(recordQuery, () => this.snapshot(this.status));
    setHandler(progressQuery, () => ({
      id: this.identity.jobId,
      type: this.identity.jobType,
      status: this.status,
      stepsDone: this.stepsDone,
      stepsTotal: this.plan.steps.length,
      costUsd: roundUsd(this.budget.spentUsd),
      escalations: this.escalations,
      pendingApprovals: this.pending,
    }));
  }

  /** A settled model call: into the ledger, and into the job metrics (skipped on replay). */
  recordCall(entry: LedgerEntry, model: Pick<ModelSpec, 'provider' | 'providerModel'>, escalationCause?: string): void {
    this.ledger.push(entry);
    recordModelCall(this.identity.jobType, entry, model, escalationCause);
  }

  /** An action attempt: into the action ledger, and into the job metrics. */
  recordAttempt(attempt: ActionAttempt): void {
    this.actionLedger.push(attempt);
    recordActionAttempt(this.identity.jobType, attempt);
  }

  decide(record: Omit<RoutingDecisionRecord, 'at'>): void {
    this.decisions.push({ at: new Date().toISOString(), ...record });
  }

  noteTier(tier: Tier | 'human'): void {
    const rank = (value: Tier | 'human' | 'none') => (value === 'none' ? -1 : value === 'human' ? tiers.length : tiers.indexOf(value));
    if (rank(tier) > rank(this.topTier)) this.topTier = tier;
  }

  /** Publishes the job's status, cost, tier and escalations as search attributes (now, or at the next wait). */
  publish(status: JobStatus = this.status): void {
    this.status = status;
    if (this.identity.searchAttributes === false) return this.refreshDetails();
    if (this.holdsChanges()) {
      this.attributesChanged = true;
      if (visibleAtOnce.has(status)) this.flush();
    } else {
      this.upsertAttributes();
    }
    this.refreshDetails();
  }

  /** Sets memo fields (the definition, the plan): now, or with the next {@link flush}. */
  memo(fields: Record<string, unknown>): void {
    if (this.holdsChanges()) Object.assign(this.heldMemo, fields);
    else upsertMemo(fields);
  }

  /**
   * Sends what changed since the last upsert — one search-attribute upsert and one memo upsert at most.
   * Called before every wait on something outside the workflow task and by the statuses that end or wait;
   * a no-op when nothing is held.
   */
  flush(): void {
    if (!this.holding) return;
    if (this.attributesChanged) {
      this.attributesChanged = false;
      this.upsertAttributes();
    }
    if (Object.keys(this.heldMemo).length > 0) {
      upsertMemo(this.heldMemo);
      this.heldMemo = {};
    }
  }

  private holdsChanges(): boolean {
    this.holding ??= this.identity.upsertsAtWaits === true && this.identity.searchAttributes !== false && upsertsAtWaitsOn();
    return this.holding;
  }

  private upsertAttributes(): void {
    const attributes: SearchAttributeUpdatePair[] = [
      { key: ConveyorStatus, value: this.status },
      { key: ConveyorJobType, value: this.identity.jobType },
      { key: ConveyorTopTier, value: this.topTier },
      { key: ConveyorCostUsd, value: roundUsd(this.budget.spentUsd) },
      { key: ConveyorEscalations, value: this.escalations },
      ...(this.identity.batchId ? [{ key: ConveyorBatchId, value: this.identity.batchId }] : []),
    ];
    if (quietUpsertsOn()) {
      const changed = attributes.filter((pair) => this.upserted.get(pair.key.name) !== pair.value);
      if (changed.length > 0) upsertSearchAttributes(changed);
      for (const pair of changed) this.upserted.set(pair.key.name, pair.value);
    } else {
      upsertSearchAttributes(attributes);
    }
  }

  refreshDetails(): void {
    const lines = [
      `**${this.status}** · ${this.stepsDone}/${this.plan.steps.length} steps · $${roundUsd(this.budget.spentUsd)} · ${this.escalations} escalation(s) · top tier ${this.topTier}`,
      ...this.ledger.map(
        (entry) =>
          `- ${entry.stepId}: ${entry.station} → ${entry.modelId} (${entry.tier}) ${entry.outcome}${entry.confidence !== null ? ` @ ${entry.confidence.toFixed(2)}` : ''}${entry.escalationReason ? ` — ${entry.escalationReason}` : ''}`,
      ),
      ...this.actionLedger.map((entry) => `- ${entry.stepId}: ${entry.actionName} attempt ${entry.attempt} ${entry.outcome}${entry.status !== undefined ? ` (HTTP ${entry.status})` : ''}${entry.retryInMs !== undefined ? `, next in ${Math.round(entry.retryInMs / 1000)} s` : ''}`),
      ...this.pending.map((approval) => `- ⏸ ${approval.approvalId} waits for ${approval.reviewers.join(' / ')}: ${approval.evidence.reason}`),
    ];
    setCurrentDetails(lines.join('\n'));
  }

  /** Fails the job visibly (before it acts, or instead of a result the server would refuse) when its record is too large. */
  checkSize(when: string): void {
    const chars = JSON.stringify(this.snapshot(this.status)).length;
    if (chars <= MAX_RECORD_CHARS) return;
    this.publish('failed');
    throw ApplicationFailure.create({
      type: 'RecordTooLargeError',
      nonRetryable: true,
      message: `the job's record is ${chars} characters, above the ${MAX_RECORD_CHARS} limit (${when}); nothing more was done`,
    });
  }

  finish(status: JobStatus, reason?: string): JobResult {
    this.checkSize('at the end');
    this.publish(status);
    recordJobFinished(this.identity.jobType, status);
    return { ...this.snapshot(status, reason), finishedAt: new Date().toISOString() };
  }

  snapshot(status: JobStatus, reason?: string): JobRecord {
    return {
      id: this.identity.jobId,
      type: this.identity.jobType,
      status,
      plan: this.plan as JobRecord['plan'],
      outputs: this.outputs,
      ledger: this.ledger,
      decisions: this.decisions,
      approvals: this.approvals,
      actions: this.actions,
      ...(this.actionLedger.length > 0 ? { actionLedger: this.actionLedger } : {}),
      costUsd: roundUsd(this.budget.spentUsd),
      budget: this.budget.snapshot(),
      escalations: this.escalations,
      topTier: this.topTier,
      screening: this.screening,
      reason,
      ...(this.definition ? { definition: this.definition } : {}),
      startedAt: this.startedAt,
    };
  }
}
