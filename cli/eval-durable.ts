/**
 * Durable evaluation, the `--durable` half of `conveyor eval`: the same items run through the factory
 * on Temporal as jobs of the target's job type (one batch, bounded concurrency), on a worker whose small
 * tier is the model under evaluation, and each job's recorded decisions — the ledger, and the station's answer
 * from the callModel activity result in the workflow history — become per-item decisions comparable
 * with the offline run's. It starts a worker and a client, so it lives with the composition roots, and
 * reaches evaluation/eval/run.ts as the `durable` option.
 */
import path from 'node:path';
import type { NativeConnection, Worker, WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { defaultPayloadConverter } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import { ConveyorClient } from '../client';
import type { ModelCallRequest, ModelCallResult } from '../activities/types';
import { stationCallsAnswered, type StationCallResult } from '../activities/factory';
import { Outbox } from '../activities/outbox';
import type { JobRequest, JobResult } from '../domain/job';
import { itemDecision, type FinalStop, type ItemDecision, type StepSettings, type TierCall } from '../evaluation/eval/offline';
import { evaluationGateway, evaluationRegistry } from '../evaluation/eval/serving';
import { jobInputOf, labelOfAnswer, type EvaluationTarget } from '../evaluation/eval/target';
import type { DurableEvaluator } from '../evaluation/eval/run';
import { connectWorkerConnection } from '../platform/connection';
import { ensureTemporal } from '../platform/embedded-server';
import type { LabelledText } from '../providers/local/classifier';
import type { ModelGateway } from '../providers/gateway-types';
import { createConveyorWorker } from '../workers/worker';

export interface EvaluationWorker {
  worker: Worker;
  gateway: ModelGateway;
  stop(): Promise<void>;
}

/**
 * A Conveyor worker (the real workflows and activities) running the target's factory — its station
 * opened to the model's labels (see withModelLabels) — with a gateway serving the evaluation registry:
 * the small tier runs `modelFile`, the other tiers are as configured. No cache: every job must call
 * its models, as the offline run does.
 */
export async function startEvaluationWorker(options: {
  target: EvaluationTarget;
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  modelFile: string;
  outboxFile: string;
  /** The evaluation's data dir (its settings'), where the worker's learning registry and example store live. */
  dataDir: string;
  workflowBundle?: WorkflowBundleWithSourceMap;
  env?: NodeJS.ProcessEnv;
}): Promise<EvaluationWorker> {
  const env = options.env ?? process.env;
  const gateway = evaluationGateway(evaluationRegistry(options.modelFile, env), env);
  const outbox = new Outbox(options.outboxFile);
  const worker = await createConveyorWorker({
    factory: options.target.factory,
    dataDir: options.dataDir,
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    gateway,
    outbox,
    workflowBundle: options.workflowBundle,
  });
  const running = worker.run();
  return {
    worker,
    gateway,
    async stop() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
      await gateway.close();
      await outbox.close();
    },
  };
}

export function evaluationOutboxFile(dataDir: string): string {
  return path.join(dataDir, 'eval-outbox.sqlite');
}

/**
 * Nobody reviews evaluation jobs: an item that escalates past the top tier waits this long, is handed to
 * the escalation reviewers, waits again and is rejected — the job ends and its ledger is complete.
 */
const EVAL_APPROVAL_TIMEOUT_MS = 1;

/** One job of the target's job type per item, with the evaluation's threshold for its station. */
export function evaluationJobs(target: EvaluationTarget, items: readonly LabelledText[], runId: string, threshold: number): JobRequest[] {
  return items.map((item, index) => ({
    id: `${runId}-${index}`,
    type: target.jobType.name,
    input: jobInputOf(target, item.text),
    requestedBy: 'conveyor-eval',
    policy: { confidenceThresholds: { [target.station.name]: threshold }, approvalTimeoutMs: EVAL_APPROVAL_TIMEOUT_MS },
  }));
}

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/** The marker a local activity's outcome is recorded as (Temporal's core SDK names it so). */
const LOCAL_ACTIVITY_MARKER = 'core_local_activity';

/**
 * The target station's label per call number (every tier's), from the model-call results in the history:
 * callStation's activity results or, for local steps, its local-activity markers, the job's start's among
 * them (callModel on the first job workflow).
 */
export function modelAnswersFromHistory(target: EvaluationTarget, events: readonly HistoryEvent[]): Map<number, string> {
  const callOfScheduledEvent = new Map<string, number>();
  const labels = new Map<number, string>();
  for (const event of events) {
    const scheduled = event.activityTaskScheduledEventAttributes;
    if ((scheduled?.activityType?.name === 'callStation' || scheduled?.activityType?.name === 'callModel') && event.eventId != null) {
      const payload = scheduled.input?.payloads?.[0];
      const request = payload ? defaultPayloadConverter.fromPayload<ModelCallRequest>(payload) : undefined;
      if (request?.station === target.station.name) callOfScheduledEvent.set(String(event.eventId), request.call);
    }
    // A local step's call is a marker: its data names the activity, its result says which call it answered
    // (the job's start's marker, on engine v3, the opening calls it answered ahead).
    const marker = event.markerRecordedEventAttributes;
    if (marker?.markerName === LOCAL_ACTIVITY_MARKER) {
      const data = marker.details?.data?.payloads?.[0];
      const payload = marker.details?.result?.payloads?.[0];
      const activityType = data ? defaultPayloadConverter.fromPayload<{ activity_type?: string }>(data).activity_type : undefined;
      for (const result of stationCallsAnswered(activityType, payload ? defaultPayloadConverter.fromPayload<StationCallResult>(payload) : undefined)) {
        const label = result.answers?.station === target.station.name ? labelOfAnswer(target, result.output) : undefined;
        if (label !== undefined) labels.set(result.answers!.call, label);
      }
      continue;
    }
    const completed = event.activityTaskCompletedEventAttributes;
    if (completed?.scheduledEventId != null) {
      const call = callOfScheduledEvent.get(String(completed.scheduledEventId));
      const payload = completed.result?.payloads?.[0];
      if (call === undefined || !payload) continue;
      const result = defaultPayloadConverter.fromPayload<ModelCallResult>(payload);
      const label = labelOfAnswer(target, result.output);
      if (label !== undefined) labels.set(call, label);
    }
  }
  return labels;
}

/** One item's decision as the factory recorded it: the job result's ledger plus the labels from history. */
export function decisionFromJob(
  item: LabelledText,
  index: number,
  result: JobResult | undefined,
  labelsByCall: ReadonlyMap<number, string>,
  knownLabels: ReadonlySet<string>,
  settings: StepSettings,
): ItemDecision {
  const ledger = (result?.ledger ?? []).filter((entry) => entry.station === settings.target.station.name).sort((a, b) => a.call - b.call);
  const calls: TierCall[] = ledger.map((entry) => ({
    tier: entry.tier,
    modelId: entry.modelId,
    label: labelsByCall.get(entry.call) ?? null,
    confidence: entry.confidence,
    outcome: entry.outcome === 'accepted' ? 'accepted' : 'escalated',
    costUsd: entry.costUsd,
  }));
  const accepted = calls.find((call) => call.outcome === 'accepted');
  const finalStop: FinalStop = !result || result.status === 'failed' ? 'failed' : result.topTier === 'human' ? 'human' : accepted?.tier ?? 'failed';
  return itemDecision({
    item,
    index,
    calls,
    finalStop,
    knownLabels,
    settings,
    routeCostUsd: result?.costUsd ?? 0,
    latencyMs: result ? Date.parse(result.finishedAt) - Date.parse(result.startedAt) : 0,
  });
}

async function inPool<T, R>(items: readonly T[], width: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.max(1, Math.min(width, items.length)) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T, index);
    }
  });
  await Promise.all(lanes);
  return results;
}

export interface DurableRunOptions {
  /** A client on the task queue the evaluation worker polls. */
  client: ConveyorClient;
  items: readonly LabelledText[];
  knownLabels: readonly string[];
  settings: StepSettings;
  /** Batch id and job id prefix; unique per run, since job ids are workflow ids. */
  runId: string;
  /** Jobs in flight at once (the batch workflow's concurrency). */
  concurrency?: number;
  log?: (line: string) => void;
}

export interface DurableRun {
  batchId: string;
  decisions: ItemDecision[];
  elapsedMs: number;
}

/** Runs every item as a job of the target's job type in one batch and reads back what the factory decided. */
export async function evaluateDurably(options: DurableRunOptions): Promise<DurableRun> {
  const startedAt = Date.now();
  const { client, items, runId } = options;
  const { target } = options.settings;
  const jobs = evaluationJobs(target, items, runId, options.settings.threshold);
  await client.startBatch({ batchId: runId, jobs, concurrency: options.concurrency ?? 16 });
  options.log?.(`started batch ${runId}: ${jobs.length} ${target.jobType.name} jobs on task queue ${client.taskQueue}`);
  const batch = await client.getBatchResult(runId);
  options.log?.(`batch ${runId} finished: ${batch.completed} completed, ${batch.rejected} ended at a person, ${batch.failed} failed`);
  const known = new Set(options.knownLabels);
  const decisions = await inPool(jobs, 8, async (job, index) => {
    const handle = client.jobHandle(job.id);
    let result: JobResult | undefined;
    try {
      result = await handle.result();
    } catch {
      result = undefined;
    }
    const history = await handle.fetchHistory();
    return decisionFromJob(items[index] as LabelledText, index, result, modelAnswersFromHistory(target, history.events ?? []), known, options.settings);
  });
  return { batchId: runId, decisions, elapsedMs: Date.now() - startedAt };
}

/**
 * The durable run for runEvaluation's `durable` option: on the configured (or embedded) server, an
 * evaluation worker on a task queue of its own, the items as one batch, the decisions read back.
 */
export function durableEvaluator(options: { concurrency?: number; workflowBundle?: WorkflowBundleWithSourceMap } = {}): DurableEvaluator {
  return async ({ settings, env, model, items, stepSettings, log }) => {
    // Refused before a worker starts: the items could not become jobs of the target's job type.
    if (items.length > 0) jobInputOf(stepSettings.target, items[0]!.text);
    const runId = `eval-${new Date().toISOString().replace(/[-:.TZ]/g, '').slice(0, 17)}-${Math.random().toString(36).slice(2, 6)}`;
    // A task queue of its own, so no other worker (with another small model) picks up these jobs.
    const taskQueue = `${settings.taskQueue}-${runId}`;
    const endpoint = await ensureTemporal(settings, { log });
    const connection = await connectWorkerConnection(settings, endpoint.address);
    let evaluationWorker: EvaluationWorker | undefined;
    let client: ConveyorClient | undefined;
    try {
      log(options.workflowBundle ? 'starting an evaluation worker…' : 'bundling workflows and starting an evaluation worker…');
      evaluationWorker = await startEvaluationWorker({
        target: stepSettings.target,
        connection,
        namespace: settings.namespace,
        taskQueue,
        modelFile: model.file,
        outboxFile: evaluationOutboxFile(settings.dataDir),
        dataDir: settings.dataDir,
        workflowBundle: options.workflowBundle,
        env,
      });
      client = await ConveyorClient.connect({ settings: { ...settings, taskQueue }, address: endpoint.address, uiUrl: endpoint.uiUrl, factory: stepSettings.target.factory });
      const run = await evaluateDurably({ client, items, knownLabels: model.labels, settings: stepSettings, runId, concurrency: options.concurrency, log });
      log(`durable run ${run.batchId}: ${run.decisions.length} jobs in ${(run.elapsedMs / 1000).toFixed(1)} s${client.uiLink(run.batchId) ? ` — ${client.uiLink(run.batchId)}` : ''}`);
      return run.decisions;
    } finally {
      await client?.close();
      await evaluationWorker?.stop();
      await connection.close();
      await endpoint.stop();
    }
  };
}
