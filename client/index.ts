/**
 * The typed client for backend jobs and reviewers: start jobs and batches idempotently (job id =
 * workflow id), read status, results and costs, list what waits for approval, decide, cancel.
 */
import { createPrivateKey, sign } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  type Client,
  ScheduleAlreadyRunning,
  ScheduleOverlapPolicy,
  type ScheduleHandle,
  ServiceError,
  type ScheduleOptions,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type WorkflowHandle,
} from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { decisionSchema, signedDecisionText, type Decision, type PendingApproval } from '../domain/approvals';
import { InvalidJobInputError, type JobProgress, type JobRecord, type JobRequest, type JobResult, type LedgerEntry } from '../domain/job';
import { validateFactoryJob, type Factory } from '../factory';
import { supportFactory } from '../factories/support';
import { ConveyorBatchId, ConveyorCostUsd, ConveyorJobType, ConveyorStatus, type JobStatus } from '../domain/search-attributes';
import { batchReference, fileClaimStore, INLINE_PAYLOAD_LIMIT_BYTES, openClaimStore, type ClaimStore } from '../platform/claims';
import { connectClient } from '../platform/connection';
import { loadSettings, type ConveyorSettings } from '../platform/settings';
import type { BatchRequest, BatchResult } from '../workflows/batch';
import { batchWorkflow } from '../workflows/batch';
import { scheduledEvaluationWorkflow } from '../workflows/evaluation';
import { distillWorkflow } from '../workflows/distill';
import type { DistillRequest } from '../learning/types';
import type { ScheduledEvaluationRequest } from '../activities/evaluation';
import { decideUpdate, decisionRefusedSignal, pendingApprovalsQuery, progressQuery, recordQuery, type DecideResult } from '../workflows/messages';
import { factoryJobWorkflow } from '../workflows/factory-job';

export { InvalidJobInputError } from '../domain/job';
export type { Decision, PendingApproval } from '../domain/approvals';
export type { JobRecord, JobRequest, JobResult, LedgerEntry } from '../domain/job';
export type { BatchRequest, BatchResult } from '../workflows/batch';

/** The job id names no job. */
export class JobNotFoundError extends Error {
  override readonly name = 'JobNotFoundError';
}

/** The workflow refused a decision (unknown approval id, second decision, bad edits, unauthorised reviewer). */
export class DecisionRefusedError extends Error {
  override readonly name = 'DecisionRefusedError';
}

/** The server answered, but no worker did (none runs on the job's task queue, or it is stuck). */
export class WorkerUnavailableError extends Error {
  override readonly name = 'WorkerUnavailableError';
}

export interface StartedJob {
  jobId: string;
  runId: string;
  /** False when a job with this id already existed and its run was returned instead. */
  created: boolean;
}

export interface JobStatusView {
  id: string;
  type: string;
  status: JobStatus | 'unknown';
  result?: JobResult;
  costUsd: number;
  ledger: LedgerEntry[];
  pendingApprovals: PendingApproval[];
  /** Temporal's own execution status (RUNNING, COMPLETED, FAILED, …). */
  executionStatus: string;
  failure?: string;
}

export interface PendingItem {
  jobId: string;
  approvalId: string;
  station: string;
  proposedAction: unknown;
  evidence: PendingApproval['evidence'];
  requestedAt: string;
  reviewers: string[];
  kind: PendingApproval['kind'];
}

/** gRPC codes a server returns while it is overloaded or restarting: a wait for a result outlives them. */
const TRANSIENT_GRPC_CODES = new Set([4 /* DEADLINE_EXCEEDED */, 8 /* RESOURCE_EXHAUSTED */, 14 /* UNAVAILABLE */]);

/**
 * Waits for a run's result through a server's transient errors: a long poll for a closed run's history
 * can fail with UNAVAILABLE on a loaded server (seen on the dev server as SQLite "interrupted") after
 * the SDK's own retries, though the run goes on. Gives up after `patienceMs` of failures in a row.
 */
export async function waitThroughOutages<T>(wait: () => Promise<T>, patienceMs = 120_000): Promise<T> {
  let failingSince: number | undefined;
  for (let attempt = 0; ; attempt++) {
    try {
      return await wait();
    } catch (error) {
      const code = error instanceof ServiceError ? (error.cause as { code?: unknown } | undefined)?.code : undefined;
      if (typeof code !== 'number' || !TRANSIENT_GRPC_CODES.has(code)) throw error;
      failingSince ??= Date.now();
      if (Date.now() - failingSince > patienceMs) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.min(5_000, 250 * 2 ** Math.min(attempt, 5))));
    }
  }
}

export class ConveyorClient {
  constructor(
    readonly temporal: Client,
    readonly taskQueue: string,
    readonly uiUrl?: string,
    /** The caller's reviewer identity (CONVEYOR_REVIEWER): used when a decision names no reviewer. */
    readonly reviewerIdentity?: string,
    /** Where large batches are stored as claim checks; workers must see the same directory. */
    readonly claimsDir?: string,
    /** The reviewer's Ed25519 private key (PEM file, CONVEYOR_REVIEWER_KEY_FILE): decisions are signed with it. */
    readonly reviewerKeyFile?: string,
    /**
     * The factory the workers run: the client checks job input against it before starting and writes the UI
     * summary from it. Workers check again at job start, so a client without the factory still cannot start a bad job.
     */
    readonly factory: Factory = supportFactory,
    /** Where large batches go as claim checks (`connect`: PostgreSQL with CONVEYOR_DATABASE_URL, else `claimsDir`); closed with the client. */
    readonly claims: ClaimStore = fileClaimStore(claimsDir ?? path.resolve('.conveyor', 'claims')),
  ) {}

  /** A job request checked against the client's factory: names the bad field, or the job types it has. */
  validateJob(request: unknown): JobRequest {
    return validateFactoryJob(this.factory, request);
  }

  /** Connects with the shared settings (TEMPORAL_ADDRESS etc.); `address` overrides the settings' address. */
  static async connect(options: { settings?: ConveyorSettings; address?: string; uiUrl?: string; reviewerIdentity?: string; reviewerKeyFile?: string; factory?: Factory } = {}): Promise<ConveyorClient> {
    const settings = options.settings ?? loadSettings();
    const address = options.address ?? settings.address ?? `127.0.0.1:${settings.embeddedGrpcPort}`;
    const client = await connectClient(settings, address);
    return new ConveyorClient(
      client,
      settings.taskQueue,
      options.uiUrl ?? settings.uiUrl ?? (settings.address ? undefined : `http://localhost:${settings.embeddedUiPort}`),
      options.reviewerIdentity ?? settings.reviewer,
      path.join(settings.dataDir, 'claims'),
      options.reviewerKeyFile ?? settings.reviewerKeyFile,
      options.factory,
      openClaimStore(settings),
    );
  }

  /** Starts a job; the same id returns the existing run instead of starting a second one. */
  async startJob(request: JobRequest): Promise<StartedJob> {
    const job = this.validateJob(request);
    const jobType = this.factory.jobTypes.get(job.type)!;
    try {
      const handle = await this.temporal.workflow.start(factoryJobWorkflow, {
        workflowId: job.id,
        taskQueue: this.taskQueue,
        args: [job],
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        typedSearchAttributes: [
          { key: ConveyorStatus, value: 'planning' },
          { key: ConveyorJobType, value: job.type },
          ...(job.batchId ? [{ key: ConveyorBatchId, value: job.batchId }] : []),
        ],
        staticSummary: jobType.summarize?.(job.input) ?? `${job.type}: ${job.id}`,
        staticDetails: `Job ${job.id} of type ${job.type}${job.requestedBy ? `, requested by ${job.requestedBy}` : ''}. ${jobType.description}.`,
      });
      return { jobId: job.id, runId: handle.firstExecutionRunId, created: true };
    } catch (error) {
      if (error instanceof WorkflowExecutionAlreadyStartedError) {
        const description = await this.temporal.workflow.getHandle(job.id).describe();
        return { jobId: job.id, runId: description.runId, created: false };
      }
      throw error;
    }
  }

  /** Starts a batch of jobs as child workflows; the batch id is the batch workflow's id. */
  async startBatch(request: BatchRequest): Promise<StartedJob> {
    if (request.jobs) {
      const problems: string[] = [];
      request.jobs.forEach((job, index) => {
        try {
          this.validateJob(job);
        } catch (error) {
          if (error instanceof InvalidJobInputError) problems.push(`jobs[${index}] (${job.id ?? 'no id'}): ${error.message}`);
          else throw error;
        }
      });
      if (problems.length) throw new InvalidJobInputError(problems.join('\n'));
      const jobs = request.jobs;
      request = { ...request, summaries: Object.fromEntries(jobs.map((job) => [job.id, this.factory.jobTypes.get(job.type)?.summarize?.(job.input) ?? `${job.type}: ${job.id}`])) };
      const jsonl = jobs.map((job) => JSON.stringify(job)).join('\n');
      if (Buffer.byteLength(jsonl) > INLINE_PAYLOAD_LIMIT_BYTES) {
        // Too big for the history: pass the jobs by reference (a claim check).
        const claim = await this.claims.put(jsonl);
        request = { ...request, jobs: undefined, summaries: undefined, ...batchReference(claim) };
      }
    }
    try {
      const handle = await this.temporal.workflow.start(batchWorkflow, {
        workflowId: request.batchId,
        taskQueue: this.taskQueue,
        args: [request],
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        typedSearchAttributes: [
          { key: ConveyorBatchId, value: request.batchId },
          { key: ConveyorStatus, value: 'running' },
          { key: ConveyorJobType, value: 'batch' },
        ],
        staticSummary: `batch ${request.batchId}: ${request.jobs?.length ?? 'file'} jobs`,
      });
      return { jobId: request.batchId, runId: handle.firstExecutionRunId, created: true };
    } catch (error) {
      if (error instanceof WorkflowExecutionAlreadyStartedError) {
        const description = await this.temporal.workflow.getHandle(request.batchId).describe();
        return { jobId: request.batchId, runId: description.runId, created: false };
      }
      throw error;
    }
  }

  jobHandle(jobId: string): WorkflowHandle<typeof factoryJobWorkflow> {
    return this.temporal.workflow.getHandle<typeof factoryJobWorkflow>(jobId);
  }

  /**
   * The request a job was started with, read from its history's first event and decoded with this
   * client's data converter (so an encrypted input is decrypted with the configured key).
   */
  async jobRequest(jobId: string): Promise<JobRequest> {
    const history = await this.temporal.workflow.getHandle(jobId).fetchHistory();
    const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
    let payloads = started?.input?.payloads ?? [];
    if (!started || payloads.length === 0) throw new Error(`job ${jobId}: its history has no start input`);
    const { payloadCodecs, payloadConverter } = this.temporal.workflow.options.loadedDataConverter;
    for (const codec of [...payloadCodecs].reverse()) payloads = await codec.decode(payloads);
    return payloadConverter.fromPayload<JobRequest>(payloads[0]!);
  }

  /** Waits for a job's result. */
  async getResult(jobId: string): Promise<JobResult> {
    await this.describe(jobId);
    return waitThroughOutages(() => this.jobHandle(jobId).result());
  }

  async getBatchResult(batchId: string): Promise<BatchResult> {
    await this.describe(batchId);
    return waitThroughOutages(() => this.temporal.workflow.getHandle<typeof batchWorkflow>(batchId).result());
  }

  async getStatus(jobId: string): Promise<JobStatusView> {
    const description = await this.describe(jobId);
    const status = (description.typedSearchAttributes.get(ConveyorStatus) as JobStatus | undefined) ?? 'unknown';
    const view: JobStatusView = {
      id: jobId,
      type: description.typedSearchAttributes.get(ConveyorJobType) ?? 'unknown',
      status,
      costUsd: description.typedSearchAttributes.get(ConveyorCostUsd) ?? 0,
      ledger: [],
      pendingApprovals: [],
      executionStatus: description.status.name,
    };
    if (description.status.name === 'COMPLETED') {
      const result = await this.jobHandle(jobId).result();
      return { ...view, status: result.status, result, costUsd: result.costUsd, ledger: result.ledger };
    }
    if (description.status.name === 'RUNNING') {
      const progress: JobProgress = await this.jobHandle(jobId).query(progressQuery);
      return { ...view, status: progress.status, costUsd: progress.costUsd, pendingApprovals: progress.pendingApprovals };
    }
    try {
      await this.jobHandle(jobId).result();
    } catch (error) {
      view.failure = describeFailure(error);
    }
    // Failed, terminated, timed out or cancelled: the last recorded ConveyorStatus may still say "running".
    return { ...view, status: 'failed' };
  }

  /** What waits for a person (approvals and failed actions): a visibility query on ConveyorStatus, then each job's pendingApprovals query. */
  async listPending(options: { jobType?: string; allTaskQueues?: boolean } = {}): Promise<PendingItem[]> {
    // Only this deployment's task queue by default: its workers are the ones that can answer the query.
    const query = [
      'ConveyorStatus IN ("awaiting_approval", "action_failed") AND ExecutionStatus = "Running"',
      ...(options.jobType ? [`ConveyorJobType = "${options.jobType.replace(/"/g, '')}"`] : []),
      ...(options.allTaskQueues ? [] : [`TaskQueue = "${this.taskQueue.replace(/"/g, '')}"`]),
    ].join(' AND ');
    const items: PendingItem[] = [];
    for await (const execution of this.temporal.workflow.list({ query })) {
      let pending: PendingApproval[];
      try {
        pending = await this.jobHandle(execution.workflowId).query(pendingApprovalsQuery);
      } catch {
        continue; // finished between the list and the query
      }
      for (const approval of pending) {
        items.push({
          jobId: execution.workflowId,
          approvalId: approval.approvalId,
          station: approval.station,
          proposedAction: approval.proposedAction,
          evidence: approval.evidence,
          requestedAt: approval.requestedAt,
          reviewers: approval.reviewers,
          kind: approval.kind,
        });
      }
    }
    return items.sort((a, b) => a.requestedAt.localeCompare(b.requestedAt));
  }

  /**
   * Sends a reviewer's decision as an update; the workflow's validator refuses bad ones with a reason.
   * Without an approvalId, the job's only pending approval is decided.
   */
  async decide(jobId: string, decision: Omit<Decision, 'approvalId' | 'reviewer'> & { approvalId?: string; reviewer?: string }, options: { keyFile?: string } = {}): Promise<DecideResult> {
    const approvalId = decision.approvalId ?? (await this.onlyPendingApproval(jobId));
    const reviewer = decision.reviewer ?? this.reviewerIdentity;
    if (!reviewer) throw new DecisionRefusedError('No reviewer: name one, or configure the caller identity with CONVEYOR_REVIEWER');
    const parsed = decisionSchema().safeParse({ ...decision, approvalId, reviewer });
    if (!parsed.success) {
      throw new DecisionRefusedError(`Invalid decision: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    }
    await this.requireWorker(jobId);
    const keyFile = options.keyFile ?? this.reviewerKeyFile;
    if (keyFile && !parsed.data.signature) parsed.data.signature = signDecision(parsed.data, keyFile);
    try {
      return await this.jobHandle(jobId).executeUpdate(decideUpdate, { args: [parsed.data] });
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) await this.refuseUnlessRunning(jobId);
      if (error instanceof WorkflowUpdateFailedError) {
        const refusal = error.cause?.message ?? error.message;
        // A refused update leaves nothing in the history: report it so the job's audit keeps it.
        await this.jobHandle(jobId)
          .signal(decisionRefusedSignal, { decision: parsed.data, refusal })
          .catch(() => undefined);
        throw new DecisionRefusedError(refusal);
      }
      if (error instanceof WorkflowNotFoundError) throw new JobNotFoundError(`No job with id "${jobId}"`);
      throw this.unanswered(jobId, error);
    }
  }

  /** A job that exists but no longer runs has nothing to decide: say so, not "no job". */
  private async refuseUnlessRunning(jobId: string): Promise<void> {
    const description = await this.describe(jobId);
    if (description.status.name === 'RUNNING') return;
    const status = description.typedSearchAttributes.get(ConveyorStatus) as JobStatus | undefined;
    throw new DecisionRefusedError(`Job "${jobId}" is ${description.status.name.toLowerCase()}${status && status !== description.status.name.toLowerCase() ? ` (${status})` : ''}: nothing waits for approval`);
  }

  /**
   * An update waits for a worker as long as it takes: with none polling the job's task queue, say so
   * at once instead of hanging (the CLI exits 2 naming the queue).
   */
  private async requireWorker(jobId: string): Promise<void> {
    const description = await this.describe(jobId);
    if (description.status.name !== 'RUNNING') return;
    const { pollers } = await this.temporal.workflowService.describeTaskQueue({
      namespace: this.temporal.options.namespace,
      taskQueue: { name: description.taskQueue },
      taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    });
    if (!pollers?.length) {
      throw new WorkerUnavailableError(`no worker answered job "${jobId}" on task queue "${description.taskQueue}": none is polling it; start one with \`conveyor worker\` (or \`npm start\`)`);
    }
  }

  /** A server error while a worker should answer (query, update): name the task queue nobody served. */
  private unanswered(jobId: string, error: unknown): unknown {
    if (!(error instanceof ServiceError)) return error;
    return new WorkerUnavailableError(
      `no worker answered job "${jobId}" on task queue "${this.taskQueue}" (${error.cause instanceof Error ? error.cause.message : error.message}); start one with \`conveyor worker\` (or \`npm start\`)`,
    );
  }

  /** The job's record so far: its result when closed, the live record (query `record`) while it runs. */
  async getRecord(jobId: string): Promise<JobRecord> {
    const description = await this.describe(jobId);
    if (description.status.name === 'COMPLETED') return this.jobHandle(jobId).result();
    return this.jobHandle(jobId).query(recordQuery);
  }

  async cancel(jobId: string): Promise<void> {
    await this.describe(jobId);
    await this.jobHandle(jobId).cancel();
  }

  /**
   * Registers (or replaces) a Temporal Schedule that re-runs an evaluation on a cron and fails the run
   * when accuracy drops more than `tolerance` below `baselineAccuracy`.
   */
  async scheduleEvaluation(scheduleId: string, cron: string, request: ScheduledEvaluationRequest): Promise<ScheduleHandle> {
    const options = {
      scheduleId,
      spec: { cronExpressions: [cron] },
      action: {
        type: 'startWorkflow' as const,
        workflowType: scheduledEvaluationWorkflow,
        workflowId: `${scheduleId}-run`,
        taskQueue: this.taskQueue,
        args: [request] as [ScheduledEvaluationRequest],
        staticSummary: `evaluation ${request.dataset ?? request.dataFile ?? ''}: fails below ${request.baselineAccuracy} − ${request.tolerance}`,
      },
    };
    return this.upsertSchedule(options);
  }

  /**
   * Registers (or updates) a Temporal Schedule that runs the distill workflow on a cron: each run retrains,
   * evaluates and, when the gate holds, waits for reviewers. A run still waiting when the next one is
   * due is left alone and the new one skipped, so candidates never pile up in front of reviewers.
   */
  async scheduleDistill(scheduleId: string, cron: string, request: DistillRequest): Promise<ScheduleHandle> {
    const options = {
      scheduleId,
      spec: { cronExpressions: [cron] },
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
      action: {
        type: 'startWorkflow' as const,
        workflowType: distillWorkflow,
        workflowId: `${scheduleId}-run`,
        taskQueue: this.taskQueue,
        args: [request] as [DistillRequest],
        staticSummary: `distill ${request.station}: retrain, gate, ask ${request.reviewers.join(', ')}`,
      },
    };
    return this.upsertSchedule(options);
  }

  /** Creates the schedule, or brings an existing one with that id up to date (spec, policies, action). */
  private async upsertSchedule(options: ScheduleOptions): Promise<ScheduleHandle> {
    try {
      return await this.temporal.schedule.create(options);
    } catch (error) {
      if (!(error instanceof ScheduleAlreadyRunning)) throw error;
      const handle = this.temporal.schedule.getHandle(options.scheduleId);
      await handle.update((previous) => ({ ...previous, spec: options.spec, action: options.action, policies: { ...previous.policies, ...options.policies } }));
      return handle;
    }
  }

  /** Link to the run in the Temporal UI. */
  uiLink(jobId: string, runId?: string): string | undefined {
    if (!this.uiUrl) return undefined;
    const base = `${this.uiUrl}/namespaces/${encodeURIComponent(this.temporal.options.namespace)}/workflows/${encodeURIComponent(jobId)}`;
    return runId ? `${base}/${runId}/history` : base;
  }

  private async onlyPendingApproval(jobId: string): Promise<string> {
    await this.refuseUnlessRunning(jobId);
    let pending: PendingApproval[];
    try {
      pending = await this.jobHandle(jobId).query(pendingApprovalsQuery);
    } catch (error) {
      throw this.unanswered(jobId, error);
    }
    if (pending.length === 1) return pending[0]!.approvalId;
    throw new DecisionRefusedError(
      pending.length === 0
        ? `Job "${jobId}" has nothing waiting for approval`
        : `Job "${jobId}" has ${pending.length} pending approvals (${pending.map((p) => p.approvalId).join(', ')}); name one with approvalId`,
    );
  }

  private async describe(jobId: string) {
    try {
      return await this.temporal.workflow.getHandle(jobId).describe();
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) throw new JobNotFoundError(`No job with id "${jobId}"`);
      throw error;
    }
  }

  async close(): Promise<void> {
    await this.claims.close();
    await this.temporal.connection.close();
  }
}

/** Signs a decision with the reviewer's Ed25519 private key (PEM): what the workflow verifies against their public key. */
export function signDecision(decision: Decision, keyFile: string): string {
  let key;
  try {
    key = createPrivateKey(fs.readFileSync(keyFile, 'utf8'));
  } catch (error) {
    throw new DecisionRefusedError(`cannot read the reviewer key ${keyFile}: ${(error as Error).message}`);
  }
  return sign(null, Buffer.from(signedDecisionText(decision)), key).toString('base64');
}

function describeFailure(error: unknown): string {
  let current: unknown = error;
  const parts: string[] = [];
  while (current instanceof Error) {
    parts.push(`${(current as { type?: string }).type ?? current.name}: ${current.message}`);
    current = (current as { cause?: unknown }).cause;
  }
  return parts.join(' ← ');
}

export const executionStatus = temporal.api.enums.v1.WorkflowExecutionStatus;
