/**
 * The job metrics operators scrape, emitted from workflow code through the SDK's workflow metric meter:
 * it drops every value while a workflow replays, so a job evicted from the worker's cache (or moved to
 * another worker) and replayed counts each model call, escalation and outcome once — exactly its ledger.
 * The worker exports them with the SDK's own metrics on CONVEYOR_METRICS_ADDRESS (Prometheus).
 *
 * Names follow Prometheus, and the OpenTelemetry GenAI conventions where one exists
 * (`gen_ai.client.token.usage` → `gen_ai_client_token_usage`, attributes with `_` for `.`).
 */
import { metricMeter } from '@temporalio/workflow';
import type { ActionAttempt, LedgerEntry } from '../domain/job';
import type { ModelSpec } from '../domain/models';
import { jobMetricNames } from '../domain/metrics';
import type { JobStatus } from '../domain/search-attributes';

/** A model call settled in the ledger: its cost by tier, its tokens and duration as GenAI client metrics. */
export function recordModelCall(jobType: string, entry: LedgerEntry, model: Pick<ModelSpec, 'provider' | 'providerModel'>): void {
  const tags = { tier: entry.tier, station: entry.station, job_type: jobType };
  metricMeter.createHistogram(jobMetricNames.modelCost, 'float', 'USD', 'Cost of settled model calls, in US dollars (the ledger’s costUsd)').record(entry.costUsd, tags);
  metricMeter.createCounter(jobMetricNames.modelCalls, 'call', 'Model calls settled in the ledger, by outcome').add(1, { ...tags, outcome: entry.outcome, cache_hit: String(entry.cacheHit) });
  if (entry.outcome === 'escalated') metricMeter.createCounter(jobMetricNames.escalations, 'escalation', 'Escalations from a tier (low confidence or a failed call)').add(1, tags);
  const genAi = { gen_ai_operation_name: 'chat', gen_ai_provider_name: model.provider, gen_ai_request_model: model.providerModel, conveyor_tier: entry.tier };
  const tokens = metricMeter.createHistogram(jobMetricNames.tokenUsage, 'int', '{token}', 'Tokens used per model call (GenAI gen_ai.client.token.usage)');
  tokens.record(entry.inputTokens, { ...genAi, gen_ai_token_type: 'input' });
  tokens.record(entry.outputTokens, { ...genAi, gen_ai_token_type: 'output' });
  metricMeter.createHistogram(jobMetricNames.operationDuration, 'float', 's', 'Duration of model calls (GenAI gen_ai.client.operation.duration)').record(entry.latencyMs / 1000, genAi);
}

export function recordJobFinished(jobType: string, status: JobStatus): void {
  metricMeter.createCounter(jobMetricNames.jobsFinished, 'job', 'Jobs finished, by final status').add(1, { job_type: jobType, status });
}

export function recordActionAttempt(jobType: string, attempt: ActionAttempt): void {
  metricMeter.createCounter(jobMetricNames.actionAttempts, 'attempt', 'Action attempts, by outcome').add(1, { job_type: jobType, action: attempt.actionName, outcome: attempt.outcome });
}

export function recordApprovalRequested(jobType: string, kind: string): void {
  metricMeter.createCounter(jobMetricNames.approvalsRequested, 'approval', 'Approvals asked of people, by kind').add(1, { job_type: jobType, kind });
}
