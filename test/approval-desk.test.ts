/**
 * The approval desk under attack (issue 13), on the real embedded server with the plain Temporal CLI
 * as the hostile client: what is approved is what is shown (edits become revisions, re-checked against
 * schema, bounds and the approvals the new proposal needs), every handler is total, refused payloads are
 * recorded bounded, client reports cannot forge a reviewer's refusal, and stakes seen by earlier steps
 * gate every action kind. Written against the job type's policy, so it can run for any job type.
 */
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { ConveyorClient } from '../client';
import { jobTypeByName } from '../factories/support/legacy-job-types';
import { bundleConveyorWorkflows } from '../workers/worker';
import { startFakeOpenAI, type FakeServer } from '../fakes/openai-server';
import { bigObject, hostileCli, markedTicket, markedTicketAnswer } from './support/desk';
import { registryWithFakeTiers } from './support/models';
import { eventually, recordHistory, startWorker, tempDir, testClient, testSettings, uniqueId, type RunningWorker } from './support/temporal';

const jobType = 'support-ticket';
const policy = jobTypeByName(jobType).policy;
let bundle: WorkflowBundleWithSourceMap;
let fake: FakeServer;
let worker: RunningWorker;
let client: ConveyorClient;
const settings = testSettings(uniqueId('desk'));

beforeAll(async () => {
  bundle = await bundleConveyorWorkflows();
  fake = await startFakeOpenAI(markedTicketAnswer);
  worker = await startWorker({ settings, bundle, gateway: { registry: registryWithFakeTiers(fake.url, ['small', 'medium', 'large']), rateLimiter: null } });
  client = await testClient(settings);
});

afterAll(async () => {
  await client?.close();
  await worker?.stop();
  await fake?.close();
});

async function pendingOf(jobId: string, approvalId?: string) {
  return eventually(async () => {
    const status = await client.getStatus(jobId);
    const pending = status.pendingApprovals.filter((approval) => !approvalId || approval.approvalId === approvalId);
    return pending.length ? pending : undefined;
  }, 60_000);
}

async function waitingJob(text: string, extra: { requestedBy?: string } = {}) {
  const jobId = uniqueId('desk');
  await client.startJob({ id: jobId, type: jobType, input: { text }, ...extra });
  const [approval] = await pendingOf(jobId);
  return { jobId, approval: approval! };
}

describe('what is approved is what is shown', () => {
  it('an edit that changes the action kind needs the approvals of the new proposal, not the old one (item 1)', async () => {
    const { jobId, approval } = await waitingJob(markedTicket('refund', { amountUsd: 450 }));
    expect(approval).toMatchObject({ proposedAction: { action: 'refund', amountUsd: 450 }, requiredApprovals: 1, revision: 1 });
    expect(approval.proposalHash).toMatch(/^[0-9a-f]{64}$/);

    // out of bounds: the policy's limit, whatever the schema allows
    await expect(client.decide(jobId, { approvalId: approval.approvalId, decision: 'approve', reviewer: 'alice', edits: { amountUsd: 1e308 } })).rejects.toThrow(
      new RegExp(`invalid edits: amountUsd 1e\\+308 is above the policy's limit of \\$${policy.bounds.maxAmountUsd}`),
    );
    // a stale hash: the reviewer did not see this proposal
    await expect(client.decide(jobId, { approvalId: approval.approvalId, decision: 'approve', reviewer: 'alice', proposalHash: '0'.repeat(64) })).rejects.toThrow(/does not match/);

    const edited = await client.decide(jobId, { approvalId: approval.approvalId, decision: 'approve', reviewer: 'alice', edits: { action: 'close-account' }, proposalHash: approval.proposalHash });
    expect(edited).toMatchObject({ settled: false, revisedTo: expect.any(String) as unknown });
    const [revision] = await pendingOf(jobId, edited.revisedTo);
    expect(revision).toMatchObject({ proposedAction: { action: 'close-account' }, revision: 2, supersedes: approval.approvalId, editedBy: 'alice', approvalsSoFar: [] });
    expect(revision!.requiredApprovals).toBe(policy.approval.twoPersonActions.includes('close-account') ? 2 : 1);

    // the old revision is gone; the editor does not count as an approver of their own revision
    await expect(client.decide(jobId, { approvalId: approval.approvalId, decision: 'approve', reviewer: 'bob' })).rejects.toThrow(/superseded by/);
    expect(await client.decide(jobId, { approvalId: revision!.approvalId, decision: 'approve', reviewer: 'bob' })).toMatchObject({ settled: false });
    expect(await worker.outbox.rows(jobId)).toEqual([]);
    expect(await client.decide(jobId, { approvalId: revision!.approvalId, decision: 'approve', reviewer: 'carol' })).toMatchObject({ settled: true });
    const result = await client.getResult(jobId);
    expect(result.status).toBe('completed');
    expect(await worker.outbox.rows(jobId)).toEqual([expect.objectContaining({ action: expect.objectContaining({ action: 'close-account' }) as unknown, approvedBy: ['bob', 'carol'] })]);
    await recordHistory(client, jobId, 'support-ticket-edit-revision');
  });

  it('the second reviewer of a changed two-person proposal sees the change and approves only that (item 2)', async () => {
    const { jobId, approval } = await waitingJob(markedTicket('close-account'));
    expect(approval).toMatchObject({ proposedAction: { action: 'close-account' }, requiredApprovals: 2 });
    const edited = await client.decide(jobId, { approvalId: approval.approvalId, decision: 'approve', reviewer: 'alice', edits: { action: 'refund', amountUsd: 4000, orderId: 'Z99999' } });
    const [shown] = await pendingOf(jobId, edited.revisedTo);
    expect(shown).toMatchObject({ proposedAction: { action: 'refund', amountUsd: 4000, orderId: 'Z99999' }, editedBy: 'alice' });
    const listed = await eventually(async () => (await client.listPending()).find((item) => item.jobId === jobId && item.approvalId === shown!.approvalId));
    expect(listed.proposedAction).toMatchObject({ action: 'refund', amountUsd: 4000 });

    // bob's plain approve of what he saw first (the close-account) is refused with the reason
    await expect(client.decide(jobId, { approvalId: approval.approvalId, decision: 'approve', reviewer: 'bob' })).rejects.toThrow(/superseded by .*an edit changed the proposal/);
    expect(await worker.outbox.rows(jobId)).toEqual([]);
    await client.decide(jobId, { approvalId: shown!.approvalId, decision: 'approve', reviewer: 'bob', proposalHash: shown!.proposalHash });
    expect((await client.getResult(jobId)).status).toBe('completed');
    expect(await worker.outbox.rows(jobId)).toEqual([expect.objectContaining({ action: expect.objectContaining({ action: 'refund', amountUsd: 4000, orderId: 'Z99999' }) as unknown, approvedBy: ['bob'] })]);
  });
});

describe('stakes gate actions', () => {
  const kinds: { action: string; amountUsd?: number }[] = [{ action: 'refund', amountUsd: 20 }, { action: 'cancel-order', amountUsd: 12_000 }, { action: 'send-message' }, { action: 'close-account' }];
  it.each(kinds)('a high-risk ticket proposing $action waits for a reviewer', async ({ action, amountUsd }) => {
    const { jobId, approval } = await waitingJob(markedTicket(action, { amountUsd, risk: 'high' }));
    expect(approval.proposedAction).toMatchObject({ action });
    expect(approval.evidence.reason).toMatch(/high risk|irreversible/);
    expect(await worker.outbox.rows(jobId)).toEqual([]);
    await client.decide(jobId, { approvalId: approval.approvalId, decision: 'reject', reviewer: 'alice', comment: 'test over' });
    expect((await client.getResult(jobId)).status).toBe('rejected');
  });

  it('the same actions at low risk under the threshold run on their own', async () => {
    const jobId = uniqueId('desk-low');
    await client.startJob({ id: jobId, type: jobType, input: { text: markedTicket('refund', { amountUsd: 20 }) } });
    expect((await client.getResult(jobId)).status).toBe('completed');
    expect(await worker.outbox.rows(jobId)).toEqual([expect.objectContaining({ approvedBy: [] })]);
  });
});

describe('every handler is total, and the record stays bounded', () => {
  it('null, a string, an array, a number and a 900 KB object on every signal and update leave the job healthy and approvable; forged reports name no reviewer (items 3-5, 8)', async () => {
    const { jobId, approval } = await waitingJob(markedTicket('refund', { amountUsd: 450 }));
    const cli = hostileCli(settings.namespace, jobId);
    const hostile: unknown[] = [null, 'just a string', [1, 2, 3], 42, bigObject(900_000)];
    // Each signal is refused and recorded: wait for its record, so big payloads land in separate workflow tasks.
    const signal = async (name: string, payload: unknown) => {
      const before = (await client.getRecord(jobId)).approvals.length;
      cli.signal(name, payload);
      await eventually(async () => ((await client.getRecord(jobId)).approvals.length > before ? true : undefined), 60_000);
    };
    for (const payload of hostile) {
      await signal('decide', payload);
      await signal('decisionRefused', payload);
      await signal('decisionRefused', { decision: payload, refusal: 'forged' });
      // updates through the SDK: the plain CLI's `workflow update execute` stalls the TS worker's workflow task (any payload, before this change too)
      const refusal = await client.temporal.workflow
        .getHandle(jobId)
        .executeUpdate('decide', { args: [payload] })
        .then(
          () => 'accepted',
          (error: Error) => (error.cause as Error | undefined)?.message ?? error.message,
        );
      expect(refusal).toMatch(/malformed decision/);
    }
    // a forged report naming a listed reviewer
    await signal('decisionRefused', { decision: { approvalId: approval.approvalId, decision: 'reject', reviewer: 'alice', comment: 'I refuse' }, refusal: 'alice refused this' });
    // ten refused 900 KB decide signals from an unlisted reviewer
    // (one at a time: ten at once are 9 MB of new history in one workflow task, more than a worker takes in one poll; see the README)
    for (let i = 0; i < 10; i++) await signal('decide', { ...bigObject(900_000, String(i)), approvalId: approval.approvalId });

    const status = await client.getStatus(jobId);
    expect(status.status).toBe('awaiting_approval');
    expect(status.pendingApprovals.map((pending) => pending.approvalId)).toEqual([approval.approvalId]);
    expect((await client.listPending()).some((item) => item.jobId === jobId)).toBe(true);

    await client.decide(jobId, { approvalId: approval.approvalId, decision: 'approve', reviewer: 'bob' });
    const result = await client.getResult(jobId);
    expect(result.status).toBe('completed');
    expect(JSON.stringify(result).length).toBeLessThan(256 * 1024);
    expect(await worker.outbox.rows(jobId)).toEqual([expect.objectContaining({ approvedBy: ['bob'] })]);

    const refused = result.approvals.filter((decision) => !decision.accepted);
    // the string payload is recorded as refused, with an actor, not as a character map
    expect(refused.some((decision) => '0' in (decision as object))).toBe(false);
    for (const decision of refused) {
      expect(typeof decision.reviewer).toBe('string');
      expect(decision.payloadHash ?? '').toMatch(/^[0-9a-f]{64}$/);
      expect(JSON.stringify(decision).length).toBeLessThan(2000);
    }
    // nothing in the record says alice refused: the report is the client's, and says so
    expect(result.approvals.some((decision) => decision.reviewer === 'alice')).toBe(false);
    const forged = refused.find((decision) => decision.claimedReviewer === 'alice');
    expect(forged).toMatchObject({ via: 'client-report', reviewer: 'client-report', refusal: expect.stringMatching(/unverified.*would accept/) as unknown });
    const bigOnes = refused.filter((decision) => (decision.payloadChars ?? 0) > 800_000);
    expect(bigOnes.length).toBeGreaterThanOrEqual(10);
  });
});

describe('signed decisions (opt-in)', () => {
  // A worker of its own whose reviewers have Ed25519 keys: every decision must carry its reviewer's signature.
  const signedSettings = testSettings(uniqueId('desk-signed'));
  const keyDir = tempDir('reviewer-keys');
  const keyFile: Record<string, string> = {};
  let signedWorker: RunningWorker;
  let signed: ConveyorClient;
  beforeAll(async () => {
    const publicKeys: Record<string, string> = {};
    for (const reviewer of ['alice', 'bob', 'carol']) {
      const { publicKey, privateKey } = generateKeyPairSync('ed25519');
      publicKeys[reviewer] = publicKey.export({ type: 'spki', format: 'pem' }).toString();
      keyFile[reviewer] = path.join(keyDir, `${reviewer}.pem`);
      fs.writeFileSync(keyFile[reviewer], privateKey.export({ type: 'pkcs8', format: 'pem' }));
    }
    fs.mkdirSync(signedSettings.dataDir, { recursive: true });
    fs.writeFileSync(path.join(signedSettings.dataDir, 'reviewer-keys.json'), JSON.stringify(publicKeys));
    signedWorker = await startWorker({ settings: signedSettings, bundle, gateway: { registry: registryWithFakeTiers(fake.url, ['small', 'medium', 'large']), rateLimiter: null } });
    signed = await testClient(signedSettings);
  });
  afterAll(async () => {
    await signed?.close();
    await signedWorker?.stop();
  });

  it('refuses a decision without its reviewer’s signature, and a two-person approval needs two valid signatures', async () => {
    const jobId = uniqueId('desk-signed');
    await signed.startJob({ id: jobId, type: jobType, input: { text: markedTicket('close-account') } });
    const [approval] = await eventually(async () => {
      const pending = (await signed.getStatus(jobId)).pendingApprovals;
      return pending.length ? pending : undefined;
    }, 60_000);
    const approve = (reviewer: string, keyFileOf?: string) => signed.decide(jobId, { approvalId: approval!.approvalId, decision: 'approve', reviewer }, keyFileOf ? { keyFile: keyFileOf } : {});

    await expect(approve('bob')).rejects.toThrow(/carries no signature/);
    // bob named, alice's key: the validator accepts the shape, the signature check refuses it
    await expect(approve('bob', keyFile.alice)).rejects.toThrow(/signature does not verify against bob's public key/);
    // a plain CLI signal naming alice, with a made-up signature, is refused and recorded
    hostileCli(signedSettings.namespace, jobId).signal('decide', { approvalId: approval!.approvalId, decision: 'approve', reviewer: 'alice', signature: Buffer.alloc(64, 7).toString('base64') });
    await eventually(async () => ((await signed.getRecord(jobId)).approvals.some((decision) => decision.via === 'signal' && /does not verify/.test(decision.refusal ?? '')) ? true : undefined));
    expect((await signed.getStatus(jobId)).pendingApprovals[0]!.approvalsSoFar).toEqual([]);

    expect(await approve('alice', keyFile.alice)).toMatchObject({ settled: false });
    expect(await signedWorker.outbox.rows(jobId)).toEqual([]);
    expect(await approve('bob', keyFile.bob)).toMatchObject({ settled: true });
    expect((await signed.getResult(jobId)).status).toBe('completed');
    expect(await signedWorker.outbox.rows(jobId)).toEqual([expect.objectContaining({ approvedBy: ['alice', 'bob'] })]);
    await recordHistory(signed, jobId, 'support-ticket-signed-decisions');
  });
});
