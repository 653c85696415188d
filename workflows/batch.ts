/**
 * The batch workflow: many jobs as child workflows (workflow id = job id) with bounded concurrency,
 * aggregated progress, cost and escalations, and continue-as-new so any number of jobs stays far
 * from history limits.
 */
import {
  ChildWorkflowFailure,
  ApplicationFailure,
  condition,
  continueAsNew,
  defineQuery,
  executeChild,
  proxyActivities,
  patched,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { createActivities } from '../activities';
import type { JobRequest, JobResult } from '../domain/job';
import { ConveyorBatchId, ConveyorJobType, ConveyorStatus } from '../domain/search-attributes';

export interface BatchRequest {
  batchId: string;
  /** Jobs inline, or a JSONL file the workers can read (for batches too large for one payload). */
  jobs?: JobRequest[];
  jobsFile?: string;
  /** sha256 of jobsFile when it is a claim check; the worker verifies it before reading. */
  jobsSha256?: string;
  concurrency?: number;
  /** How many jobs one run handles before continuing as new. */
  jobsPerRun?: number;
  /** One line per job for the Temporal UI (the client writes them from its factory); else `<type>: <id>`. */
  summaries?: Record<string, string>;
  /** Carried across continue-as-new. */
  cursor?: number;
  totals?: BatchTotals;
}

export interface BatchTotals {
  total: number;
  started: number;
  completed: number;
  rejected: number;
  failed: number;
  duplicates: number;
  costUsd: number;
  escalations: number;
  byTopTier: Record<string, number>;
  failures: { jobId: string; type: string; message: string }[];
  startedAt: string;
  /** Workflow runs so far (continue-as-new starts a new one). */
  runs: number;
}

export interface BatchResult extends BatchTotals {
  batchId: string;
  finishedAt: string;
}

export const batchProgressQuery = defineQuery<BatchTotals & { batchId: string; inFlight: number }>('progress');

const activities = proxyActivities<ReturnType<typeof createActivities>>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 5 },
});

const MAX_FAILURES_KEPT = 50;

/**
 * A batch waits for a free slot with one condition, not a race over every job in flight: a race makes a
 * promise per running job each time a slot frees (the SDK records a stack trace for each), so a batch of
 * 200 in flight made 200 per job. The children start in the same order, in the same workflow tasks; runs
 * recorded before the patch wait as they did.
 */
export const BATCH_SLOTS_PATCH = 'conveyor-batch-slots';

export async function batchWorkflow(request: BatchRequest): Promise<BatchResult> {
  const concurrency = Math.max(1, request.concurrency ?? 20);
  const jobsPerRun = Math.max(concurrency, request.jobsPerRun ?? 500);
  const cursor = request.cursor ?? 0;
  const total = request.jobs?.length ?? (request.totals?.total || (request.jobsFile ? await activities.countBatchJobs(request.jobsFile, request.jobsSha256) : 0));
  const totals: BatchTotals = request.totals ?? {
    total,
    started: 0,
    completed: 0,
    rejected: 0,
    failed: 0,
    duplicates: 0,
    costUsd: 0,
    escalations: 0,
    byTopTier: {},
    failures: [],
    startedAt: new Date().toISOString(),
    runs: 0,
  };
  totals.total = total;
  totals.runs++;
  const inFlight = new Map<string, Promise<void>>();
  setHandler(batchProgressQuery, () => ({ batchId: request.batchId, inFlight: inFlight.size, ...totals }));
  upsertSearchAttributes([
    { key: ConveyorBatchId, value: request.batchId },
    { key: ConveyorStatus, value: 'running' },
    { key: ConveyorJobType, value: 'batch' },
  ]);

  const window = request.jobs
    ? request.jobs.slice(cursor, cursor + jobsPerRun)
    : await activities.readBatchJobs(request.jobsFile!, cursor, jobsPerRun);

  for (const job of window) {
    if (inFlight.size >= concurrency) {
      if (patched(BATCH_SLOTS_PATCH)) await condition(() => inFlight.size < concurrency);
      else while (inFlight.size >= concurrency) await Promise.race(inFlight.values());
    }
    totals.started++;
    const running = runChild(job, request.batchId, totals, request.summaries?.[job.id]).finally(() => {
      inFlight.delete(job.id);
      showProgress(request.batchId, totals, inFlight.size);
    });
    inFlight.set(job.id, running);
  }
  await Promise.all(inFlight.values());

  const next = cursor + window.length;
  if (next < total) {
    await continueAsNew<typeof batchWorkflow>({ ...request, cursor: next, totals });
  }
  upsertSearchAttributes([{ key: ConveyorStatus, value: totals.failed > 0 ? 'failed' : 'completed' }]);
  return { batchId: request.batchId, ...totals, finishedAt: new Date().toISOString() };
}

async function runChild(job: JobRequest, batchId: string, totals: BatchTotals, summary = `${job.type}: ${job.id}`): Promise<void> {
  // Batches started before factory jobs run their children on the frozen first job workflow type.
  const childType = patched('factory-jobs') ? 'factoryJobWorkflow' : 'jobWorkflow';
  try {
    const result = await executeChild<(request: JobRequest) => Promise<JobResult>>(childType, {
      workflowId: job.id,
      args: [{ ...job, batchId }],
      staticSummary: summary,
      // A job id that already ran is that job: it is counted as a duplicate, never run twice.
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
    });
    if (result.status === 'rejected') totals.rejected++;
    else totals.completed++;
    totals.costUsd = Math.round((totals.costUsd + result.costUsd) * 1e8) / 1e8;
    totals.escalations += result.escalations;
    totals.byTopTier[result.topTier] = (totals.byTopTier[result.topTier] ?? 0) + 1;
  } catch (error) {
    if (error instanceof WorkflowExecutionAlreadyStartedError) {
      totals.duplicates++;
      return;
    }
    totals.failed++;
    const cause = error instanceof ChildWorkflowFailure ? error.cause : error;
    if (totals.failures.length < MAX_FAILURES_KEPT) {
      totals.failures.push({
        jobId: job.id,
        type: cause instanceof ApplicationFailure ? (cause.type ?? 'ApplicationFailure') : (cause as Error).name,
        message: (cause as Error).message,
      });
    }
  }
}

function showProgress(batchId: string, totals: BatchTotals, inFlight: number): void {
  const done = totals.completed + totals.rejected + totals.failed + totals.duplicates;
  setCurrentDetails(
    `**batch ${batchId}** · ${done}/${totals.total} done · ${inFlight} running · ${totals.completed} completed · ${totals.rejected} rejected · ${totals.failed} failed · $${totals.costUsd} · ${totals.escalations} escalation(s)`,
  );
}
