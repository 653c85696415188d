/**
 * Governance: who may approve what (unauthorised reviewers, the requester, two-person actions), the
 * caller's reviewer identity, and the audit export that keeps every decision — refusals included —
 * from the workflows' own recorded data.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { ConveyorClient, DecisionRefusedError } from '../client';
import { verifyAuditChain, type AuditRecord } from '../client/audit';
import { auditCommand } from '../cli/audit';
import { ConveyorJobType } from '../domain/search-attributes';
import { bundleConveyorWorkflows } from '../workers/worker';
import { jobWorkflow } from '../legacy/job-workflow';
import { startFakeOpenAI, type FakeServer } from '../fakes/openai-server';
import { registryWithFakeTiers } from './support/models';
import { supportTicketAnswer } from '../fakes/station-answers';
import { eventually, finishedAuditTrail, startWorker, tempDir, testClient, testSettings, uniqueId, type RunningWorker } from './support/temporal';

let bundle: WorkflowBundleWithSourceMap;
let fake: FakeServer;
let worker: RunningWorker;
let client: ConveyorClient;
const settings = testSettings(uniqueId('governance'));
const startedAt = new Date(Date.now() - 1000);

beforeAll(async () => {
  bundle = await bundleConveyorWorkflows();
  fake = await startFakeOpenAI(supportTicketAnswer);
  worker = await startWorker({ settings, bundle, gateway: { registry: registryWithFakeTiers(fake.url, ['small', 'medium']) } });
  client = await testClient(settings);
});

afterAll(async () => {
  await client?.close();
  await worker?.stop();
  await fake?.close();
});

async function pendingOf(jobId: string) {
  return eventually(async () => {
    const status = await client.getStatus(jobId);
    return status.pendingApprovals.length ? status.pendingApprovals : undefined;
  });
}

// The export's chain is keyed (CONVEYOR_AUDIT_KEY in production): without the key nobody can recompute it.
const auditKey = `audit-key-${Math.random().toString(36).slice(2)}-for-tests`;

async function auditOf(jobId: string): Promise<AuditRecord[]> {
  return finishedAuditTrail(client, { since: startedAt, type: 'support-ticket', taskQueue: settings.taskQueue, key: auditKey }, jobId);
}

describe('reviewer authorisation', () => {
  it('refuses an unauthorised reviewer and the requester, needs two different people for closing an account, and audits it all', async () => {
    const jobId = uniqueId('close');
    await client.startJob({ id: jobId, type: 'support-ticket', requestedBy: 'carol', input: { text: 'Please close my account, I am moving abroad.' } });
    const [approval] = await pendingOf(jobId);
    expect(approval).toMatchObject({ proposedAction: { action: 'close-account' }, requiredApprovals: 2 });
    const approve = (reviewer: string) => client.decide(jobId, { approvalId: approval!.approvalId, decision: 'approve', reviewer });

    await expect(approve('mallory')).rejects.toThrow(DecisionRefusedError);
    await expect(approve('carol')).rejects.toThrow(/carol requested this job and may not decide it/);
    expect(await approve('alice')).toMatchObject({ settled: false });
    await expect(approve('alice')).rejects.toThrow(/already approved .* a second, different reviewer is required/);
    // one approval of two: still waiting, nothing executed
    expect((await client.getStatus(jobId)).status).toBe('awaiting_approval');
    expect(await worker.outbox.rows(jobId)).toEqual([]);

    expect(await approve('bob')).toMatchObject({ settled: true });
    const result = await client.getResult(jobId);
    expect(result.status).toBe('completed');
    expect(await worker.outbox.rows(jobId)).toEqual([expect.objectContaining({ approvedBy: ['alice', 'bob'] })]);

    const audit = await auditOf(jobId);
    expect(verifyAuditChain(audit, auditKey)).toBe(true);
    expect(verifyAuditChain(audit), 'a keyed chain does not verify as a plain one').toBe(false);
    // refused updates leave no history: our client reports them, and the report is recorded as the client's, not the reviewer's
    const refused = audit.filter((record) => record.kind === 'approval-refused');
    expect(refused.map((record) => record.actor)).toEqual(['client-report', 'client-report', 'client-report']);
    expect(refused.map((record) => /claims reviewer (\w+)/.exec(record.detail)?.[1]).sort()).toEqual(['alice', 'carol', 'mallory']);
    expect(refused.find((record) => record.detail.includes('claims reviewer mallory'))?.detail).toMatch(/may not decide/);
    expect(audit.filter((record) => record.kind === 'approval').map((record) => record.actor)).toEqual(['alice', 'bob']);
    expect(audit.some((record) => record.kind === 'action' && record.detail.includes('close-account'))).toBe(true);
    expect(audit.some((record) => record.kind === 'plan')).toBe(true);
    expect(audit.filter((record) => record.kind === 'model-call').length).toBe(result.ledger.length);
    expect(audit.at(-1)).toMatchObject({ kind: 'outcome', detail: expect.stringMatching(/^completed/) as unknown });

    const tampered = audit.map((record, index) => (index === 2 ? { ...record, actor: 'someone-else' } : record));
    expect(verifyAuditChain(tampered, auditKey)).toBe(false);
    // the tail cut off (say, the action and the outcome): the records' count no longer matches
    expect(verifyAuditChain(audit.slice(0, -2), auditKey)).toBe(false);
    // an editor who drops a record and recomputes the chain (renumbered, recounted, rehashed) without the key
    const edited = audit.filter((record) => record.kind !== 'approval-refused');
    let previous = '';
    const recomputed = edited.map(({ hash: _hash, ...rest }, index) => {
      const content = { ...rest, seq: index + 1, count: edited.length };
      previous = createHash('sha256').update(previous).update(JSON.stringify(content)).digest('hex');
      return { ...content, hash: previous };
    });
    expect(verifyAuditChain(recomputed), 'the recomputed chain is self-consistent').toBe(true);
    expect(verifyAuditChain(recomputed, auditKey)).toBe(false);
  });

  it('takes the reviewer from the caller identity (CONVEYOR_REVIEWER) when a decision names none', async () => {
    const jobId = uniqueId('identity');
    await client.startJob({ id: jobId, type: 'support-ticket', input: { text: 'Please close my account.' } });
    const [approval] = await pendingOf(jobId);
    const asBob = await ConveyorClient.connect({ settings, reviewerIdentity: 'bob' });
    try {
      expect(await asBob.decide(jobId, { approvalId: approval!.approvalId, decision: 'approve' })).toMatchObject({ settled: false });
    } finally {
      await asBob.close();
    }
    await expect(client.decide(jobId, { approvalId: approval!.approvalId, decision: 'approve' })).rejects.toThrow(/No reviewer/);
    await client.decide(jobId, { approvalId: approval!.approvalId, decision: 'reject', reviewer: 'alice', comment: 'customer called back' });
    expect((await client.getResult(jobId)).status).toBe('rejected');
  });
});

describe('audit export', () => {
  it('writes JSONL from the workflows’ recorded data, including running jobs', async () => {
    const waiting = uniqueId('audit-running');
    await client.startJob({ id: waiting, type: 'support-ticket', input: { text: 'Please close my account.' } });
    await pendingOf(waiting);
    const out = path.join(tempDir('audit'), 'audit.jsonl');
    const saved = { address: process.env.TEMPORAL_ADDRESS, queue: process.env.CONVEYOR_TASK_QUEUE };
    process.env.TEMPORAL_ADDRESS = inject('temporalAddress');
    process.env.CONVEYOR_TASK_QUEUE = settings.taskQueue;
    const lines: string[] = [];
    try {
      expect(await auditCommand(['export', '--since', '1h', '--type', 'support-ticket', '--task-queue', settings.taskQueue, '--out', out], { stdout: (line) => lines.push(line), stderr: (line) => lines.push(line) })).toBe(0);
      expect(await auditCommand(['export', '--since', 'yesterday'], { stdout: () => {}, stderr: (line) => lines.push(line) })).toBe(2);
    } finally {
      process.env.TEMPORAL_ADDRESS = saved.address;
      process.env.CONVEYOR_TASK_QUEUE = saved.queue;
      if (saved.address === undefined) delete process.env.TEMPORAL_ADDRESS;
      if (saved.queue === undefined) delete process.env.CONVEYOR_TASK_QUEUE;
    }
    expect(lines[0]).toMatch(/^wrote \d+ audit records/);
    expect(lines[1]).toMatch(/--since/);
    const records = fs.readFileSync(out, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as AuditRecord);
    const running = records.filter((record) => record.jobId === waiting);
    expect(running.some((record) => record.kind === 'routing' && record.detail.startsWith('approval: waiting'))).toBe(true);
    expect(running.some((record) => record.kind === 'outcome')).toBe(false);
    for (const key of ['jobId', 'seq', 'at', 'step', 'kind', 'actor', 'detail', 'beforeHash', 'afterHash', 'hash']) expect(records[0]).toHaveProperty(key);
    await client.temporal.workflow.getHandle(waiting).terminate('test over');
  });

  it('reports a job it cannot read as an `unreadable` record and on stderr, and exits non-zero', async () => {
    // A job started around the client with input its workflow refuses: it fails before it records anything.
    const broken = uniqueId('audit-unreadable');
    await client.temporal.workflow.start(jobWorkflow, { workflowId: broken, taskQueue: settings.taskQueue, args: [{ id: broken, type: 'support-ticket', input: {} }], typedSearchAttributes: [{ key: ConveyorJobType, value: 'support-ticket' }] });
    await client.temporal.workflow.getHandle(broken).result().catch(() => undefined);
    // The export lists jobs through visibility, which learns of the failure a moment later: wait for it.
    await eventually(async () => {
      for await (const execution of client.temporal.workflow.list({ query: `WorkflowId = "${broken}" AND ExecutionStatus = "Failed"` })) return execution;
      return undefined;
    });
    const out = path.join(tempDir('audit'), 'audit.jsonl');
    const saved = process.env.TEMPORAL_ADDRESS;
    process.env.TEMPORAL_ADDRESS = inject('temporalAddress');
    const stderr: string[] = [];
    let code: number;
    try {
      code = await eventually(async () => {
        stderr.length = 0;
        const exit = await auditCommand(['export', '--since', '1h', '--type', 'support-ticket', '--task-queue', settings.taskQueue, '--out', out], { stdout: () => {}, stderr: (line) => stderr.push(line) });
        return stderr.some((line) => line.includes(broken)) ? exit : undefined;
      });
    } finally {
      if (saved === undefined) delete process.env.TEMPORAL_ADDRESS;
      else process.env.TEMPORAL_ADDRESS = saved;
    }
    expect(code).toBe(1);
    expect(stderr.find((line) => line.includes(broken))).toMatch(/unreadable: failed job could not be read/);
    const records = fs.readFileSync(out, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as AuditRecord);
    expect(records.filter((record) => record.jobId === broken)).toEqual([expect.objectContaining({ kind: 'unreadable', actor: 'audit-export', detail: expect.stringMatching(/could not be read/) as unknown })]);
  });
});
