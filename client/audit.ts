/**
 * The audit log: every plan, screening, routing decision, model call, escalation, approval decision
 * (refusals included) and action of a job as append-only records, built from what the workflow itself
 * recorded (its result, or its `record` query while it runs) — so the audit survives any worker.
 * Each record carries hashes of the state before and after it, the number of records in its job's
 * trail, and a hash chained to the previous record, so an edited, dropped or cut-off line is detectable.
 * With an audit key (CONVEYOR_AUDIT_KEY) the chain is an HMAC-SHA256: whoever edits an export cannot
 * recompute a chain that verifies without the key. Without one it is plain SHA-256, which detects
 * accidental damage but not an editor who recomputes it.
 */
import { jobWorkflowTypeClause } from '../domain/search-attributes';
import { createHash, createHmac } from 'node:crypto';
import type { RecordedDecision } from '../domain/approvals';
import type { JobRecord } from '../domain/job';
import type { DistillResult } from '../learning/types';
import type { ConveyorClient } from './index';

export interface AuditRecord {
  jobId: string;
  /** Position in the job's audit trail, from 1. */
  seq: number;
  at: string;
  step: string;
  kind: 'plan' | 'screening' | 'routing' | 'model-call' | 'escalation' | 'gate' | 'approval' | 'approval-refused' | 'action-attempt' | 'action' | 'outcome' | 'unreadable';
  actor: string;
  detail: string;
  /** sha256 of the state the record acted on (proposal, input or previous output). */
  beforeHash: string;
  /** sha256 of the state after it (decision with edits, output, executed action). */
  afterHash: string;
  /** How many records its job's trail has: a trail cut short no longer matches it. */
  count: number;
  /** sha256 (HMAC-SHA256 with the audit key) of the previous record's hash and this record's content. */
  hash: string;
}

const sha256 = (value: unknown) => createHash('sha256').update(JSON.stringify(value ?? null)).digest('hex');

type Draft = Omit<AuditRecord, 'jobId' | 'seq' | 'count' | 'hash'>;

/** One link of the chain: keyed when the export has an audit key. */
function link(previous: string, content: unknown, key: string | undefined): string {
  return (key ? createHmac('sha256', key) : createHash('sha256')).update(previous).update(JSON.stringify(content)).digest('hex');
}

/** The audit trail of one job, in time order, hash-chained. */
export function auditRecordsOf(record: JobRecord, key?: string): AuditRecord[] {
  const drafts: Draft[] = [];
  // What a step acted on: a station step's input wires, an action step's proposal wires (factory jobs).
  const stepWiresHash = (step: string) => {
    const planned = record.plan.steps.find((s) => s.id === step) as { inputs?: unknown; proposal?: unknown } | undefined;
    return sha256(planned?.inputs ?? planned?.proposal ?? null);
  };
  for (const decision of record.decisions) {
    const kind = decision.kind === 'plan' ? 'plan' : decision.kind === 'screening' ? 'screening' : decision.kind === 'escalate' ? 'escalation' : decision.kind === 'action' ? 'action' : 'routing';
    drafts.push({
      at: decision.at,
      step: decision.stepId,
      kind: kind === 'action' ? 'routing' : kind,
      actor: decision.kind === 'plan' ? (decision.modelId ?? 'recipe') : decision.kind === 'screening' ? 'screening' : decision.kind === 'canary' ? 'canary-monitor' : 'router',
      detail: `${decision.kind}: ${decision.reason}${decision.modelId ? ` [${decision.modelId}]` : ''}`,
      beforeHash: decision.kind === 'plan' ? sha256(null) : stepWiresHash(decision.stepId),
      afterHash: decision.kind === 'plan' ? sha256(record.plan) : sha256(decision),
    });
  }
  for (const entry of record.ledger) {
    drafts.push({
      at: entry.at,
      step: entry.stepId,
      kind: entry.outcome === 'escalated' ? 'escalation' : 'model-call',
      actor: entry.modelId,
      detail:
        `${entry.station} call ${entry.call} on ${entry.modelId}${entry.modelVersion ? ` ${entry.modelVersion}` : ''}${entry.servedAs ? ` as ${entry.servedAs}` : ''} (${entry.tier}): ` +
        `${entry.outcome}, $${entry.costUsd}, confidence ${entry.confidence ?? 'n/a'}${entry.escalationReason ? `, ${entry.escalationReason}` : ''}` +
        `${entry.shadow ? `; shadow ${entry.shadow.version} answered ${entry.shadow.label} (not used)` : ''}`,
      beforeHash: stepWiresHash(entry.stepId),
      afterHash: sha256(entry.outcome === 'accepted' ? (record.outputs[entry.stepId] ?? null) : entry),
    });
  }
  for (const approval of record.approvals) {
    drafts.push({
      at: approval.at,
      step: approval.approvalId,
      kind: approval.accepted ? 'approval' : 'approval-refused',
      actor: approval.reviewer,
      detail: approvalDetail(approval),
      beforeHash: sha256({ approvalId: approval.approvalId }),
      afterHash: sha256({ decision: approval.decision, edits: approval.edits ?? null }),
    });
  }
  for (const attempt of record.actionLedger ?? []) {
    drafts.push({
      at: attempt.at,
      step: attempt.stepId,
      kind: 'action-attempt',
      actor: 'executor',
      detail: `${attempt.actionName} attempt ${attempt.attempt} (key ${attempt.idempotencyKey}): ${attempt.outcome}${attempt.status !== undefined ? `, HTTP ${attempt.status}` : ''}${attempt.error ? `: ${attempt.error}` : ''}${attempt.retryInMs !== undefined ? `; next attempt in ${attempt.retryInMs} ms${attempt.retryAfterHonoured ? ' (Retry-After)' : ''}` : ''}`,
      beforeHash: stepWiresHash(attempt.stepId),
      afterHash: sha256({ outcome: attempt.outcome, status: attempt.status ?? null, error: attempt.error ?? null }),
    });
  }
  for (const action of record.actions) {
    const receipt = action.receipt ? `; receipt ${JSON.stringify(action.receipt)}` : '';
    drafts.push({
      at: action.executedAt,
      step: action.stepId,
      kind: 'action',
      actor: action.outcome === 'skipped' ? (action.skippedBy ?? 'reviewer') : 'executor',
      detail:
        action.outcome === 'skipped'
          ? `skipped ${JSON.stringify(action.action)} (key ${action.idempotencyKey}) after ${action.attempts ?? '?'} failed attempt(s): ${action.skipReason ?? ''}`
          : `executed ${JSON.stringify(action.action)} (key ${action.idempotencyKey}${action.firstExecution ? '' : ', already in the local log'}${action.attempts ? `, attempt ${action.attempts}` : ''})${receipt}`,
      beforeHash: sha256(record.outputs.action ?? null),
      afterHash: sha256(action.action),
    });
  }
  if (record.finishedAt) {
    drafts.push({
      at: record.finishedAt,
      step: 'job',
      kind: 'outcome',
      actor: 'conveyor',
      detail: `${record.status}${record.reason ? `: ${record.reason}` : ''}; cost $${record.costUsd}`,
      beforeHash: sha256(null),
      afterHash: sha256({ status: record.status, outputs: record.outputs }),
    });
  }
  return chain(record.id, drafts, key);
}

/** Orders a trail by time and links every record to the one before it. */
function chain(jobId: string, drafts: Draft[], key: string | undefined): AuditRecord[] {
  drafts.sort((a, b) => a.at.localeCompare(b.at));
  let previous = '';
  return drafts.map((draft, index) => {
    const withId = { jobId, seq: index + 1, count: drafts.length, ...draft };
    previous = link(previous, withId, key);
    return { ...withId, hash: previous };
  });
}

/** The audit trail of a distill run: the gate's verdict, every decision on the promotion, the outcome. */
export function auditRecordsOfDistill(workflowId: string, result: DistillResult, closedAt: string, key?: string): AuditRecord[] {
  const drafts: Draft[] = [
    {
      at: result.report.generatedAt,
      step: 'gate',
      kind: 'gate',
      actor: 'evaluation gate',
      detail: `${result.report.gate.passed ? 'passed' : `refused: ${result.report.gate.refusal ?? 'gate failed'}`} (candidate ${result.candidateVersion}, station ${result.station})`,
      beforeHash: sha256(result.previousVersion),
      afterHash: sha256(result.report.gate),
    },
    ...(result.report.shadow
      ? [
          {
            at: result.report.generatedAt,
            step: 'shadow',
            kind: 'gate' as const,
            actor: 'shadow on live steps',
            detail: `${result.report.shadow.passed ? 'passed' : 'refused'}: ${result.report.shadow.detail}`,
            beforeHash: sha256(result.previousVersion),
            afterHash: sha256(result.report.shadow),
          },
        ]
      : []),
    ...result.approvals.map((approval) => ({
      at: approval.at,
      step: approval.approvalId,
      kind: approval.accepted ? ('approval' as const) : ('approval-refused' as const),
      actor: approval.reviewer,
      detail: approvalDetail(approval),
      beforeHash: sha256({ approvalId: approval.approvalId }),
      afterHash: sha256({ decision: approval.decision }),
    })),
    {
      at: closedAt,
      step: 'distill',
      kind: 'outcome',
      actor: 'conveyor',
      detail: `${result.status}; serving ${result.currentVersion ?? 'no model'}${result.canary ? ` as a canary on ${Math.round(result.canary.share * 100)}% of items` : ''}`,
      beforeHash: sha256(result.previousVersion),
      afterHash: sha256(result.currentVersion),
    },
  ];
  return chain(workflowId, drafts, key);
}

/**
 * Checks one job's trail: numbered 1…count with nothing missing at the end, and every record's hash
 * following from the previous one (with the audit key, when the export was keyed).
 */
export function verifyAuditChain(records: readonly AuditRecord[], key?: string): boolean {
  let previous = '';
  return (
    records.length > 0 &&
    records.every(({ hash, ...rest }, index) => {
      previous = link(previous, rest, key);
      return rest.seq === index + 1 && rest.count === records.length && previous === hash;
    })
  );
}

/** One line for a recorded decision: its channel, a client report's claimed reviewer, a refused payload's hash. */
function approvalDetail(approval: RecordedDecision): string {
  return [
    `${approval.decision} via ${approval.via}`,
    approval.claimedReviewer ? ` (claims reviewer ${approval.claimedReviewer}, unverified)` : '',
    approval.comment ? `: ${approval.comment}` : '',
    approval.refusal ? ` — refused: ${approval.refusal}` : '',
    approval.count !== undefined ? ` (${approval.count} more counted)` : '',
    approval.payloadHash ? ` [payload sha256 ${approval.payloadHash}, ${approval.payloadChars ?? 0} chars]` : '',
  ].join('');
}

/** An audit record saying a job could not be read: the export never leaves a job out silently. */
export function unreadableRecord(jobId: string, at: string, reason: string): AuditRecord {
  const draft = { jobId, seq: 0, count: 0, at, step: 'job', kind: 'unreadable' as const, actor: 'audit-export', detail: reason, beforeHash: sha256(null), afterHash: sha256(reason) };
  return { ...draft, hash: link('', draft, undefined) };
}

/** The audit records of every job (and finished distill run) started since `since`, optionally of one job type. */
export async function* collectAudit(client: ConveyorClient, options: { since: Date; type?: string; taskQueue?: string; key?: string }): AsyncGenerator<AuditRecord> {
  const onQueue = options.taskQueue ? ` AND TaskQueue = "${options.taskQueue.replace(/"/g, '')}"` : '';
  if (!options.type || options.type === 'distill') {
    const query = `WorkflowType = "distillWorkflow" AND StartTime >= "${options.since.toISOString()}" AND ExecutionStatus = "Completed"${onQueue}`;
    for await (const execution of client.temporal.workflow.list({ query })) {
      const result = (await client.temporal.workflow.getHandle(execution.workflowId, execution.runId).result()) as DistillResult;
      yield* auditRecordsOfDistill(execution.workflowId, result, (execution.closeTime ?? new Date()).toISOString(), options.key);
    }
    if (options.type === 'distill') return;
  }
  const filters = [jobWorkflowTypeClause, `StartTime >= "${options.since.toISOString()}"`];
  if (options.type) filters.push(`ConveyorJobType = "${options.type.replace(/"/g, '')}"`);
  for await (const execution of client.temporal.workflow.list({ query: filters.join(' AND ') + onQueue })) {
    let record: JobRecord;
    try {
      record = await client.getRecord(execution.workflowId);
    } catch (error) {
      // Failed, terminated or stuck: the export says so (kind `unreadable`) rather than leaving the job out.
      const reason = `${execution.status.name.toLowerCase()} job could not be read: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`;
      yield unreadableRecord(execution.workflowId, (execution.closeTime ?? execution.startTime).toISOString(), reason);
      continue;
    }
    yield* auditRecordsOf(record, options.key);
  }
}
