/**
 * The job metrics operators scrape, sent from workflow code to the worker through the `conveyorMetrics`
 * sink (workers/metrics-sink.ts), which exports them with the SDK's own metrics on the worker's Prometheus
 * endpoint. Sinks are not called while a workflow replays, and every value carries a key unique within
 * its run (`<stepId>#<call>`, `finish`, …): a workflow task that ran, lost its cache slot or timed out and
 * ran again on the same worker sends the same keys, which the worker counts once.
 *
 * Names follow Prometheus, and the OpenTelemetry GenAI conventions where one exists
 * (`gen_ai.client.token.usage` → `gen_ai_client_token_usage`, attributes with `_` for `.`).
 */
import { proxySinks, type Sinks } from '@temporalio/workflow';
import type { ActionAttempt, LedgerEntry } from '../domain/job';
import { jobMetricNames } from '../domain/metrics';
import type { ModelSpec } from '../domain/models';
import type { JobStatus } from '../domain/search-attributes';

/** One metric value: a counter increment, a histogram sample or a gauge setting. */
export interface MetricValue {
  kind: 'counter' | 'histogram';
  name: string;
  unit: string;
  description: string;
  value: number;
  valueType: 'int' | 'float';
  tags: Record<string, string>;
}

export interface ConveyorMetricSinks extends Sinks {
  conveyorMetrics: {
    /** Values of one event of a run, counted once per (workflow, run, key) by the worker. */
    record(key: string, values: MetricValue[]): void;
  };
}

const { conveyorMetrics } = proxySinks<ConveyorMetricSinks>();

const counter = (name: string, unit: string, description: string, tags: Record<string, string>, value = 1): MetricValue => ({ kind: 'counter', name, unit, description, value, valueType: 'int', tags });
const histogram = (name: string, unit: string, description: string, tags: Record<string, string>, value: number, valueType: 'int' | 'float' = 'float'): MetricValue => ({ kind: 'histogram', name, unit, description, value, valueType, tags });

/** A model call settled in the ledger: its cost by tier, its tokens and duration as GenAI client metrics. */
export function recordModelCall(jobType: string, entry: LedgerEntry, model: Pick<ModelSpec, 'provider' | 'providerModel'>, cause?: string): void {
  const tags = { tier: entry.tier, station: entry.station, job_type: jobType, model: entry.modelId };
  const genAi = { gen_ai_operation_name: 'chat', gen_ai_provider_name: model.provider, gen_ai_request_model: model.providerModel, conveyor_tier: entry.tier };
  conveyorMetrics.record(`call:${entry.stepId}#${entry.call}`, [
    histogram(jobMetricNames.modelCost, 'USD', 'Cost of settled model calls, in US dollars (the ledger’s costUsd)', tags, entry.costUsd),
    counter(jobMetricNames.modelCalls, 'call', 'Model calls settled in the ledger, by outcome', { ...tags, outcome: entry.outcome, cache_hit: String(entry.cacheHit) }),
    ...(entry.outcome === 'escalated' ? [counter(jobMetricNames.escalations, 'escalation', 'Escalations from a tier, by cause', { ...tags, cause: cause ?? 'unknown' })] : []),
    // Each model of the tier passed over before this one answered: cooling down, or an outage now.
    ...(entry.failover ?? []).map((step) =>
      counter(jobMetricNames.modelFailovers, 'failover', 'Models passed over within a tier (cooling down after an outage, or failing now), by the model passed over', {
        tier: entry.tier,
        station: entry.station,
        job_type: jobType,
        model: step.modelId,
        answered_by: entry.modelId,
      }),
    ),
    histogram(jobMetricNames.tokenUsage, '{token}', 'Tokens used per model call (GenAI gen_ai.client.token.usage)', { ...genAi, gen_ai_token_type: 'input' }, entry.inputTokens, 'int'),
    histogram(jobMetricNames.tokenUsage, '{token}', 'Tokens used per model call (GenAI gen_ai.client.token.usage)', { ...genAi, gen_ai_token_type: 'output' }, entry.outputTokens, 'int'),
    histogram(jobMetricNames.operationDuration, 's', 'Duration of model calls (GenAI gen_ai.client.operation.duration)', genAi, entry.latencyMs / 1000),
  ]);
}

export function recordJobFinished(jobType: string, status: JobStatus): void {
  conveyorMetrics.record('finish', [counter(jobMetricNames.jobsFinished, 'job', 'Jobs finished, by final status', { job_type: jobType, status })]);
}

export function recordActionAttempt(jobType: string, attempt: ActionAttempt): void {
  conveyorMetrics.record(`attempt:${attempt.stepId}#${attempt.attempt}`, [counter(jobMetricNames.actionAttempts, 'attempt', 'Action attempts, by outcome', { job_type: jobType, action: attempt.actionName, outcome: attempt.outcome })]);
}

export function recordApprovalRequested(jobType: string, approvalId: string, kind: string): void {
  conveyorMetrics.record(`approval:${approvalId}`, [counter(jobMetricNames.approvalsRequested, 'approval', 'Approvals asked of people, by kind', { job_type: jobType, kind })]);
}

/** How long an approval waited for people (workflow time), by kind and how it was settled. */
export function recordApprovalWait(jobType: string, approvalId: string, kind: string, seconds: number, decision: string): void {
  conveyorMetrics.record(`settled:${approvalId}`, [histogram(jobMetricNames.approvalWait, 's', 'Time from an approval being asked to its settlement', { job_type: jobType, kind, decision }, seconds)]);
}
