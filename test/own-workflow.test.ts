/**
 * Conveyor's primitives in a workflow a Temporal team owns (issue 15): its own workflow function and its own
 * worker, with Conveyor's activities registered through conveyorActivities(). runStation, requestApproval
 * and runAction give the same ledger, approval contract and action semantics as factory jobs.
 */
import path from 'node:path';
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConveyorClient, conveyorActivities, conveyorSinks, createModelGateway, Outbox, type PendingApproval } from '../index';
import { pendingApprovalsQuery } from '../workflow';
import { hotlineFactory } from './fixtures/factories/hotline';
import type { OwnHotlineResult } from './fixtures/workflows/own-hotline';
import { eventually, tempDir, testSettings, uniqueId } from './support/temporal';

const settings = testSettings(uniqueId('own-workflow'));
const outbox = new Outbox(path.join(tempDir('own-outbox'), 'outbox.sqlite'));
const gateway = createModelGateway({ cache: null });
let client: ConveyorClient;
let connection: NativeConnection;
let worker: Worker;
let running: Promise<void>;

beforeAll(async () => {
  connection = await NativeConnection.connect({ address: settings.address! });
  const workflowBundle = await bundleWorkflowCode({ workflowsPath: path.join(__dirname, 'fixtures', 'workflows', 'own-hotline.ts'), logger: { trace() {}, debug() {}, info() {}, warn() {}, error: console.error } as never });
  // The team's own worker: its workflows, Conveyor's activities beside its own.
  worker = await Worker.create({
    connection,
    namespace: settings.namespace,
    taskQueue: settings.taskQueue,
    workflowBundle,
    activities: { ...conveyorActivities({ factory: hotlineFactory(), gateway, outbox, dataDir: settings.dataDir }) },
    sinks: conveyorSinks(),
  });
  running = worker.run();
  client = await ConveyorClient.connect({ settings, factory: hotlineFactory() });
});

afterAll(async () => {
  worker.shutdown();
  await running;
  await client.close();
  await connection.close();
  await gateway.close();
  await outbox.close();
});

function firstPending(jobId: string, kind?: string): Promise<PendingApproval> {
  return eventually(async () => (await client.jobHandle(jobId).query(pendingApprovalsQuery).catch(() => [] as PendingApproval[])).find((approval) => !kind || approval.stepId === kind), 60_000);
}

describe('the primitives in a team’s own workflow', () => {
  it('runStation escalates with a ledger; requestApproval and runAction keep the approval desk’s contract and act once', async () => {
    const workflowId = uniqueId('own-hotline');
    const handle = await client.temporal.workflow.start('ownHotlineWorkflow', { workflowId, taskQueue: settings.taskQueue, args: ['unclear caller: gas smell by the water tower'] });

    // requestApproval: the team's own confirmation, with the desk's rules (unlisted reviewers refused, edits applied).
    const confirm = await firstPending(workflowId, 'confirm');
    expect(confirm).toMatchObject({ kind: 'action', station: 'approval', proposedAction: { department: 'water' }, requiredApprovals: 1, reviewers: ['dispatcher', 'supervisor'] });
    await expect(client.decide(workflowId, { approvalId: confirm.approvalId, decision: 'approve', reviewer: 'mallory' })).rejects.toThrow(/reviewer mallory may not decide/);
    await client.decide(workflowId, { approvalId: confirm.approvalId, decision: 'approve', reviewer: 'supervisor', edits: { department: 'water' } });

    // runAction: the factory's sensitivity rule sees a high-urgency call and asks a dispatcher first.
    const file = await firstPending(workflowId, 'file');
    expect(file).toMatchObject({ kind: 'action', station: 'file-ticket', proposedAction: { department: 'water', urgency: 'high' } });
    expect(file.evidence.reason).toBe('a high-urgency call for water: a dispatcher checks it first');
    expect(await outbox.rows(workflowId)).toEqual([]);
    await client.decide(workflowId, { approvalId: file.approvalId, decision: 'approve', reviewer: 'dispatcher' });

    const result = (await handle.result()) as OwnHotlineResult;
    expect(result).toMatchObject({ department: 'water', confirmedBy: ['supervisor'], filed: true });
    // runStation: the small tier was unsure (0.4 < 0.7), the medium tier answered.
    expect(result.record.ledger.map((entry) => [entry.stepId, entry.station, entry.tier, entry.outcome, entry.confidence])).toEqual([
      ['triage', 'triage-call', 'small', 'escalated', 0.4],
      ['triage', 'triage-call', 'medium', 'accepted', 0.94],
    ]);
    expect(result.record.escalations).toBe(1);
    expect(result.record.approvals.filter((decision) => decision.accepted).map((decision) => [decision.approvalId, decision.reviewer])).toEqual([
      [confirm.approvalId, 'supervisor'],
      [file.approvalId, 'dispatcher'],
    ]);
    // The validator refused mallory; our client reported it, and the workflow recorded it as an unverified claim.
    expect(result.record.approvals.filter((decision) => !decision.accepted)).toEqual([
      expect.objectContaining({ approvalId: confirm.approvalId, via: 'client-report', reviewer: 'client-report', claimedReviewer: 'mallory', refusal: expect.stringMatching(/reviewer mallory may not decide/) as unknown }),
    ]);
    expect(result.record.actions).toEqual([expect.objectContaining({ stepId: 'file', actionName: 'file-ticket', idempotencyKey: `${workflowId}:file`, firstExecution: true, receipt: { ticketId: `T-${workflowId}`, queue: 'water' } })]);
    expect(await outbox.rows(workflowId)).toEqual([expect.objectContaining({ idempotencyKey: `${workflowId}:file`, actionName: 'file-ticket', approvedBy: ['dispatcher'] })]);
  });
});
