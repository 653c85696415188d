/**
 * The factory on the real embedded server: plans, routing and escalation, approvals (update and plain
 * signal), budgets, retries and the action sink. Models are the local ones, or a fake OpenAI-protocol
 * server where a test must decide what a tier answers.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { WorkflowFailedError } from '@temporalio/client';
import { DecisionRefusedError, type ConveyorClient } from '../client';
import { ConveyorBatchId, ConveyorCostUsd, ConveyorEscalations, ConveyorJobType, ConveyorStatus, ConveyorTopTier } from '../domain/search-attributes';
import { defaultExampleStoreFile, ExampleStore } from '../learning/example-store';
import { supportFactory } from '../factories/support';
import { snapshotJobType } from '../factory/snapshot';
import { storeClaim } from '../platform/claims';
import { findTemporalCli } from '../platform/temporal-cli';
import { bundleConveyorWorkflows } from '../workers/worker';
import { WORKFLOW_STACK_FRAMES } from '../workflows/stack-frames';
import { progressQuery } from '../workflows/messages';
import { answers, startFakeOpenAI, type FakeServer } from '../fakes/openai-server';
import { registryWithFakeTiers, requestedModel } from './support/models';
import { supportTicketAnswer } from '../fakes/station-answers';
import { eventually, maxRunningAtOnce, recordHistory, startWorker, testClient, testSettings, uniqueId, waitForPending, type RunningWorker } from './support/temporal';

let bundle: WorkflowBundleWithSourceMap;
const opened: { close(): Promise<void> | void }[] = [];

beforeAll(async () => {
  bundle = await bundleConveyorWorkflows();
});

afterAll(async () => {
  for (const resource of opened.reverse()) await resource.close();
});

/** A worker and client on their own task queue, optionally with some tiers served by a fake server. */
async function factory(options: { fake?: FakeServer; fakeTiers?: ('small' | 'medium' | 'large')[] } = {}) {
  const settings = testSettings(uniqueId('factory'));
  const worker: RunningWorker = await startWorker({
    settings,
    bundle,
    gateway: options.fake ? { registry: registryWithFakeTiers(options.fake.url, options.fakeTiers ?? []), rateLimiter: null } : {},
  });
  const client: ConveyorClient = await testClient(settings);
  opened.push({ close: () => worker.stop() }, { close: () => client.close() });
  return { settings, worker, client };
}

describe('support-ticket', () => {
  let local: Awaited<ReturnType<typeof factory>>;
  beforeAll(async () => {
    local = await factory();
  });

  it('runs plan → steps → approval → act → result, with the ledger and matching search attributes', async () => {
    const { client, worker } = local;
    const jobId = uniqueId('ticket');
    await client.startJob({
      id: jobId,
      type: 'support-ticket',
      requestedBy: 'backend',
      input: { text: 'I want a full refund of $849.00 for the laptop from order #F90001. It stopped working after two days.', customer: { name: 'Hannah Cole' } },
    });
    const [approval] = await waitForPending(client, jobId);
    expect(approval).toMatchObject({ kind: 'action', station: 'act', proposedAction: { action: 'refund', orderId: 'F90001', amountUsd: 849 } });
    expect(approval!.evidence.reason).toMatch(/refund of \$849 is above the \$100 threshold/);
    expect(Object.keys(approval!.evidence.modelOutputs)).toEqual(expect.arrayContaining(['intent', 'entities', 'risk', 'reply', 'action']));

    const pendingList = await eventually(async () => {
      const items = await client.listPending();
      return items.some((item) => item.jobId === jobId) ? items : undefined;
    });
    expect(pendingList.find((item) => item.jobId === jobId)?.approvalId).toBe(approval!.approvalId);

    await client.decide(jobId, { approvalId: approval!.approvalId, decision: 'approve', reviewer: 'alice', comment: 'receipt checked' });
    const result = await client.getResult(jobId);

    expect(result.status).toBe('completed');
    expect(result.plan.strategy).toBe('recipe');
    expect(result.plan.steps.map((step) => step.id)).toEqual(['intent', 'entities', 'risk', 'reply', 'action', 'act']);
    expect(result.ledger.map((entry) => entry.stepId)).toEqual(expect.arrayContaining(['intent', 'entities', 'risk', 'reply', 'action']));
    for (const entry of result.ledger) {
      expect(entry).toMatchObject({ modelId: expect.stringMatching(/^local-/) as unknown, tier: expect.stringMatching(/small|medium|large/) as unknown, cacheHit: false });
      expect(entry.inputTokens).toBeGreaterThan(0);
      expect(entry.costUsd).toBeGreaterThan(0);
      expect(entry.latencyMs).toBeGreaterThanOrEqual(0);
    }
    expect(result.approvals).toEqual([expect.objectContaining({ approvalId: approval!.approvalId, decision: 'approve', reviewer: 'alice', comment: 'receipt checked', via: 'update', accepted: true })]);
    expect(result.actions).toEqual([expect.objectContaining({ stepId: 'act', idempotencyKey: `${jobId}:act`, firstExecution: true })]);
    expect(await worker.outbox.rows(jobId)).toEqual([expect.objectContaining({ idempotencyKey: `${jobId}:act`, approvedBy: ['alice'], action: expect.objectContaining({ action: 'refund', amountUsd: 849 }) as unknown })]);
    const ledgerCost = result.ledger.reduce((sum, entry) => sum + entry.costUsd, 0);
    expect(result.costUsd).toBeCloseTo(ledgerCost, 8);

    const description = await client.temporal.workflow.getHandle(jobId).describe();
    expect(description.typedSearchAttributes.get(ConveyorStatus)).toBe('completed');
    expect(description.typedSearchAttributes.get(ConveyorJobType)).toBe('support-ticket');
    expect(description.typedSearchAttributes.get(ConveyorTopTier)).toBe(result.topTier);
    expect(description.typedSearchAttributes.get(ConveyorEscalations)).toBe(result.escalations);
    expect(description.typedSearchAttributes.get(ConveyorCostUsd)).toBeCloseTo(result.costUsd, 8);
    expect(description.memo?.plan).toEqual(result.plan);
    await recordHistory(client, jobId, 'support-ticket-approved');
  });

  it('sends search attributes and memo when the job waits and when it ends: one upsert per workflow task, one engine patch', async () => {
    const { client } = local;
    const jobId = uniqueId('ticket-upserts');
    await client.startJob({ id: jobId, type: 'support-ticket', input: { text: 'I want a full refund of $849.00 for the laptop from order #F90002. It stopped working after two days.' } });
    const [approval] = await waitForPending(client, jobId);
    // While it waits for a reviewer, operators see where it is: status, cost so far, type, the plan in the memo.
    const waiting = await eventually(async () => {
      const description = await client.temporal.workflow.getHandle(jobId).describe();
      return description.typedSearchAttributes.get(ConveyorStatus) === 'awaiting_approval' ? description : undefined;
    });
    const progress = await client.jobHandle(jobId).query(progressQuery);
    // The stack-trace query (the UI's "Stack Trace" tab) still shows where it waits, in frames of the
    // workflow's own source, each stack cut to the frames the bundle keeps (workflows/stack-frames.ts).
    const stacks = (await client.temporal.workflow.getHandle(jobId).query<string>('__stack_trace')).split('\n\n').filter(Boolean);
    expect(stacks.some((stack) => /workflows\/approval-desk\.ts/.test(stack))).toBe(true);
    for (const stack of stacks) expect(stack.split('\n').filter((line) => line.trim().startsWith('at ')).length).toBeLessThanOrEqual(WORKFLOW_STACK_FRAMES - 1);
    expect(waiting.typedSearchAttributes.get(ConveyorJobType)).toBe('support-ticket');
    expect(waiting.typedSearchAttributes.get(ConveyorCostUsd)).toBeGreaterThan(0);
    expect(waiting.typedSearchAttributes.get(ConveyorCostUsd)).toBeCloseTo(progress.costUsd, 8);
    expect((waiting.memo?.plan as { steps: unknown[] } | undefined)?.steps).toHaveLength(6);
    expect(waiting.memo?.definition).toMatchObject({ factory: expect.any(String) as unknown, hash: expect.any(String) as unknown });

    await client.decide(jobId, { approvalId: approval!.approvalId, decision: 'approve', reviewer: 'alice' });
    const result = await client.getResult(jobId);
    expect(result.status).toBe('completed');
    const events = (await client.temporal.workflow.getHandle(jobId).fetchHistory()).events ?? [];
    const conveyorUpserts = events.filter((event) => Object.keys(event.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields ?? {}).some((key) => key.startsWith('Conveyor')));
    const memoUpserts = events.filter((event) => event.workflowPropertiesModifiedEventAttributes);
    const tasks = events.filter((event) => event.workflowTaskCompletedEventAttributes);
    expect(conveyorUpserts.length).toBeLessThanOrEqual(tasks.length);
    expect(memoUpserts).toHaveLength(1);
    const patches = events.flatMap((event) => (event.markerRecordedEventAttributes?.markerName === 'core_patch' ? [Buffer.from(event.markerRecordedEventAttributes.details!['patch-data']!.payloads![0]!.data!).toString()] : []));
    expect(patches.map((data) => (JSON.parse(data) as { id: string }).id)).toEqual(['conveyor-engine-v4']);
    const final = await client.temporal.workflow.getHandle(jobId).describe();
    expect(final.typedSearchAttributes.get(ConveyorStatus)).toBe('completed');
    expect(final.typedSearchAttributes.get(ConveyorCostUsd)).toBeCloseTo(result.costUsd, 8);
  });

  it('answers its opening steps and its action\'s assessment ahead: a ticket of local steps takes three rounds, with the same ledger and outputs', async () => {
    const { client } = local;
    const jobId = uniqueId('ticket-ahead');
    await client.startJob({ id: jobId, type: 'support-ticket', input: { text: 'Where is my order #A1234? It should have arrived last Tuesday.' } });
    const result = await client.getResult(jobId);
    expect(result.status).toBe('completed');
    const events = (await client.temporal.workflow.getHandle(jobId).fetchHistory()).events ?? [];
    const localActivities = events.flatMap((event) => {
      const data = event.markerRecordedEventAttributes?.markerName === 'core_local_activity' ? event.markerRecordedEventAttributes.details?.data?.payloads?.[0]?.data : undefined;
      const result = event.markerRecordedEventAttributes?.details?.result?.payloads?.[0]?.data;
      return data ? [{ type: (JSON.parse(Buffer.from(data).toString()) as { activity_type: string }).activity_type, result: result ? (JSON.parse(Buffer.from(result).toString()) as { ahead?: { activity: string; request: { stepId: string } }[] }) : undefined }] : [];
    });
    // The start answered intent and entities; the proposing step answered the act step's assessment.
    expect(localActivities.map((activity) => activity.type)).toEqual(['beginJob', 'callStation', 'callStation', 'callStation']);
    expect(localActivities[0]!.result!.ahead!.map((answer) => `${answer.activity}:${answer.request.stepId}`)).toEqual(['callStation:intent', 'callStation:entities']);
    expect(localActivities[3]!.result!.ahead!.map((answer) => `${answer.activity}:${answer.request.stepId}`)).toEqual(['assessProposal:act']);
    // Nothing else changes: every step is in the ledger as a local call, in the same order, with the outputs wired as before.
    expect(result.ledger.map((entry) => [entry.stepId, entry.station, entry.outcome, entry.execution])).toEqual([
      ['intent', 'classify-intent', 'accepted', 'local'],
      ['entities', 'extract-entities', 'accepted', 'local'],
      ['risk', 'assess-risk', 'accepted', 'local'],
      ['reply', 'draft-reply', 'accepted', 'local'],
      ['action', 'propose-action', 'accepted', 'local'],
    ]);
    expect(result.outputs.intent).toMatchObject({ intent: 'order_status' });
    // The assessment given ahead is the one the job acted on: the act step ran without approval, once.
    expect(result.decisions.find((decision) => decision.stepId === 'act')?.reason).toMatch(/not sensitive/);
    expect(result.actions).toHaveLength(1);
    // All four were recorded by the first workflow task: the job reached its action without a round through the server.
    const firstTask = events.findIndex((event) => event.workflowTaskCompletedEventAttributes);
    const secondTask = events.findIndex((event, index) => index > firstTask && event.workflowTaskScheduledEventAttributes);
    const markers = events.flatMap((event, index) => (event.markerRecordedEventAttributes?.markerName === 'core_local_activity' ? [index] : []));
    expect(markers.every((index) => index > firstTask && (secondTask < 0 || index < secondTask))).toBe(true);
  });

  it('records in a recipe-planned job\'s start only the stations and actions its recipe names; a model-planned job keeps them all', async () => {
    const { client } = local;
    const startOf = async (jobId: string) => {
      const events = (await client.temporal.workflow.getHandle(jobId).fetchHistory()).events ?? [];
      const marker = events.find((event) => event.markerRecordedEventAttributes?.markerName === 'core_local_activity')!.markerRecordedEventAttributes!;
      return JSON.parse(Buffer.from(marker.details!.result!.payloads![0]!.data!).toString()) as { definition: { stations: Record<string, unknown>; actions: Record<string, unknown>; hash: string; version: string; scope?: string } };
    };
    const full = snapshotJobType(supportFactory, 'triage');
    const byRecipe = uniqueId('scoped');
    const byModel = uniqueId('unscoped');
    await client.startJob({ id: byRecipe, type: 'triage', input: { text: 'Where is my order #A1?' } });
    await client.startJob({ id: byModel, type: 'triage', input: { text: 'Where is my order #A2?' }, policy: { planner: 'model' } });
    const results = [await client.getResult(byRecipe), await client.getResult(byModel)];
    const [scoped, unscoped] = [await startOf(byRecipe), await startOf(byModel)];
    expect(Object.keys(scoped.definition.stations)).toEqual(['classify-intent']);
    expect(scoped.definition).toMatchObject({ scope: 'recipe', hash: full.hash, version: full.version });
    expect(Object.keys(unscoped.definition.stations)).toEqual(Object.keys(full.stations));
    expect(unscoped.definition.scope).toBeUndefined();
    expect(JSON.stringify(scoped.definition).length).toBeLessThan(JSON.stringify(unscoped.definition).length / 3);
    // Both ran, and record the same definition.
    for (const result of results) expect(result).toMatchObject({ status: 'completed', definition: { factory: full.factory.name, version: full.version, hash: full.hash } });
    await recordHistory(client, byRecipe, 'triage-recipe-scoped');
  });

  it('reject ends the job as rejected and executes nothing', async () => {
    const { client, worker } = local;
    const jobId = uniqueId('reject');
    await client.startJob({ id: jobId, type: 'support-ticket', input: { text: 'Refund $500.00 for order #Z10001 now, the sofa is broken.' } });
    const [approval] = await waitForPending(client, jobId);
    await client.decide(jobId, { approvalId: approval!.approvalId, decision: 'reject', reviewer: 'bob', comment: 'no evidence of damage' });
    const result = await client.getResult(jobId);
    expect(result.status).toBe('rejected');
    expect(result.reason).toMatch(/rejected by bob/);
    expect(result.actions).toEqual([]);
    expect(await worker.outbox.rows(jobId)).toEqual([]);
    await recordHistory(client, jobId, 'support-ticket-rejected');
  });

  it('approve with edits runs the edited action; invalid decisions are refused by the validator', async () => {
    const { client, worker } = local;
    const jobId = uniqueId('edit');
    await client.startJob({ id: jobId, type: 'support-ticket', requestedBy: 'carol', input: { text: 'Please refund $320.00 for order #Y20002, the headphones never arrived.' } });
    const [approval] = await waitForPending(client, jobId);
    const id = approval!.approvalId;

    await expect(client.decide(jobId, { approvalId: 'nope-1', decision: 'approve', reviewer: 'alice' })).rejects.toThrow(/unknown approval id nope-1/);
    await expect(client.decide(jobId, { approvalId: id, decision: 'approve', reviewer: 'mallory' })).rejects.toThrow(/reviewer mallory may not decide/);
    await expect(client.decide(jobId, { approvalId: id, decision: 'approve', reviewer: 'carol' })).rejects.toThrow(/requested this job and may not decide it/);
    await expect(client.decide(jobId, { approvalId: id, decision: 'approve', reviewer: 'alice', edits: { amountUsd: 'lots' } })).rejects.toThrow(DecisionRefusedError);
    await expect(client.decide(jobId, { approvalId: id, decision: 'approve', reviewer: 'alice', edits: { amountUsd: 'lots' } })).rejects.toThrow(/invalid edits: amountUsd/);
    await expect(client.decide(jobId, { approvalId: id, decision: 'reject', reviewer: 'alice', edits: { amountUsd: 1 } })).rejects.toThrow(/edits are only allowed with an approval/);

    // a $150 refund is still above the threshold: the edit is a new revision that another reviewer approves
    const edited = await client.decide(jobId, { approvalId: id, decision: 'approve', reviewer: 'alice', edits: { amountUsd: 150 }, comment: 'partial refund' });
    await expect(client.decide(jobId, { approvalId: id, decision: 'approve', reviewer: 'bob' })).rejects.toThrow(/superseded by/);
    await client.decide(jobId, { approvalId: edited.revisedTo!, decision: 'approve', reviewer: 'bob' });
    await expect(client.decide(jobId, { approvalId: edited.revisedTo!, decision: 'approve', reviewer: 'alice' })).rejects.toThrow(/already decided|is completed: nothing waits for approval/);
    const result = await client.getResult(jobId);
    expect(result.status).toBe('completed');
    expect(await worker.outbox.rows(jobId)).toEqual([expect.objectContaining({ action: expect.objectContaining({ action: 'refund', amountUsd: 150 }) as unknown, approvedBy: ['bob'] })]);
    expect(result.approvals.filter((decision) => decision.accepted)).toEqual([
      expect.objectContaining({ reviewer: 'alice', edits: { amountUsd: 150 } }),
      expect.objectContaining({ reviewer: 'bob', approvalId: edited.revisedTo }),
    ]);
    await recordHistory(client, jobId, 'support-ticket-approved-with-edits');
  });

  it('accepts a decision sent as a plain signal by the Temporal CLI, and records refused signals', async () => {
    const { client, settings } = local;
    const jobId = uniqueId('signal');
    await client.startJob({ id: jobId, type: 'support-ticket', input: { text: 'Refund $250.00 for order #X30003, it arrived smashed.' } });
    const [approval] = await waitForPending(client, jobId);
    const temporal = findTemporalCli()!.path;
    const signal = (input: unknown) =>
      execFileSync(temporal, ['workflow', 'signal', '--address', inject('temporalAddress'), '--namespace', settings.namespace, '--workflow-id', jobId, '--name', 'decide', '--input', JSON.stringify(input)], { encoding: 'utf8' });
    signal({ approvalId: approval!.approvalId, decision: 'approve', reviewer: 'mallory' });
    signal({ approvalId: approval!.approvalId, decision: 'approve', reviewer: 'bob', comment: 'via the CLI' });
    const result = await client.getResult(jobId);
    expect(result.status).toBe('completed');
    expect(result.approvals).toEqual([
      expect.objectContaining({ reviewer: 'mallory', accepted: false, via: 'signal', refusal: expect.stringMatching(/may not decide/) as unknown }),
      expect.objectContaining({ reviewer: 'bob', accepted: true, via: 'signal', comment: 'via the CLI' }),
    ]);
    await recordHistory(client, jobId, 'support-ticket-signal');
  });

  it('a timeout escalates to the escalation reviewers, and a second timeout rejects', async () => {
    const { client } = local;
    const jobId = uniqueId('timeout');
    await client.startJob({ id: jobId, type: 'support-ticket', policy: { approvalTimeoutMs: 1500 }, input: { text: 'Refund $900.00 for order #W40004 please.' } });
    // Checked on what the job recorded, not by polling inside 1.5 s windows that a loaded machine can miss.
    const result = await client.getResult(jobId);
    const timers = (await client.temporal.workflow.getHandle(jobId).fetchHistory()).events?.filter((event) => event.timerStartedEventAttributes) ?? [];
    expect(timers.map((event) => Number(event.timerStartedEventAttributes!.startToFireTimeout!.seconds ?? 0) * 1000 + Math.round((event.timerStartedEventAttributes!.startToFireTimeout!.nanos ?? 0) / 1e6))).toEqual([1500, 1500]);
    expect(result.status).toBe('rejected');
    expect(result.approvals.map((decision) => [decision.via, decision.decision, decision.comment])).toEqual([
      ['timeout', 'reject', 'timed out; escalated to support-lead'],
      ['timeout', 'reject', 'timed out; rejected'],
    ]);
    expect(result.actions).toEqual([]);
    await recordHistory(client, jobId, 'support-ticket-timeouts');
  });

  it('a job over its budget fails with BudgetExhaustedError under the fail policy, or pauses for a raise', async () => {
    const { client } = local;
    const failing = uniqueId('budget-fail');
    await client.startJob({ id: failing, type: 'support-ticket', policy: { budgetUsd: 0.000001, overBudget: 'fail' }, input: { text: 'Where is order #V50005?' } });
    const failure = await client.getResult(failing).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect(((failure as WorkflowFailedError).cause as { type?: string }).type).toBe('BudgetExhaustedError');
    expect((await client.getStatus(failing)).status).toBe('failed');

    const pausing = uniqueId('budget-pause');
    await client.startJob({ id: pausing, type: 'support-ticket', policy: { budgetUsd: 0.000001, overBudget: 'pause' }, input: { text: 'Where is order #V50006?' } });
    const [approval] = await waitForPending(client, pausing);
    expect(approval).toMatchObject({ kind: 'budget' });
    // an edited raise is a new proposal: another reviewer approves it, within the policy's bound
    await expect(client.decide(pausing, { approvalId: approval!.approvalId, decision: 'approve', reviewer: 'alice', edits: { budgetUsd: 1e6 } })).rejects.toThrow(/budgetUsd 1000000 is above the policy's limit/);
    const edited = await client.decide(pausing, { approvalId: approval!.approvalId, decision: 'approve', reviewer: 'alice', edits: { budgetUsd: 1 } });
    expect(edited).toMatchObject({ settled: false, revisedTo: expect.any(String) as unknown });
    await client.decide(pausing, { approvalId: edited.revisedTo!, decision: 'approve', reviewer: 'bob' });
    const result = await client.getResult(pausing);
    expect(result.status).toBe('completed');
    expect(result.budget.limitUsd).toBe(1);
    expect(result.costUsd).toBeLessThanOrEqual(1);
    await recordHistory(client, pausing, 'support-ticket-budget-raised');
    await recordHistory(client, failing, 'support-ticket-budget-exhausted');
  });
});

describe('call-review', () => {
  it('touches three tiers in one job', async () => {
    const { client } = await factory();
    const jobId = uniqueId('call');
    await client.startJob({
      id: jobId,
      type: 'call-review',
      input: {
        accountName: 'Acme Freight',
        transcript:
          'Rep: Thanks for joining. Customer (Jo, Acme Freight): Our dispatch team loses about ten hours a week re-keying orders from email. We looked at RouteMaster but it was too rigid. Our budget is around $40,000 this year. Next step: send us a proposal by Friday and book a demo with our ops lead.',
      },
    });
    const result = await client.getResult(jobId);
    expect(result.status).toBe('completed');
    const tiersUsed = new Set(result.ledger.filter((entry) => entry.outcome === 'accepted').map((entry) => entry.tier));
    expect([...tiersUsed].sort()).toEqual(['large', 'medium', 'small']);
    await recordHistory(client, jobId, 'call-review-three-tiers');
    expect(result.outputs.document).toMatchObject({ title: expect.any(String) as unknown, actionItems: expect.any(Array) as unknown });
  });
});

describe('routing and escalation with scripted tiers', () => {
  it('low confidence moves to the next tier', async () => {
    const fake = await startFakeOpenAI((request) =>
      requestedModel(request.body) === 'fake-small'
        ? answers.json({ intent: 'order_status', confidence: 0.3, alternatives: [] })
        : answers.json({ intent: 'refund_request', confidence: 0.96, alternatives: [] }),
    );
    opened.push(fake);
    const { client, settings } = await factory({ fake, fakeTiers: ['small', 'medium'] });
    const jobId = uniqueId('low-confidence');
    await client.startJob({ id: jobId, type: 'triage', input: { text: 'money back?' } });
    const result = await client.getResult(jobId);
    expect(result.ledger.map((entry) => [entry.modelId, entry.outcome])).toEqual([
      ['fake-small', 'escalated'],
      ['fake-medium', 'accepted'],
    ]);
    expect(result.ledger[0]!.escalationReason).toMatch(/confidence 0.30 below 0.7/);
    // the larger tier's answer becomes a training example for the small model
    const store = new ExampleStore(defaultExampleStoreFile(settings.dataDir));
    try {
      expect(store.examples('classify-intent').filter((example) => example.jobId === jobId)).toEqual([
        expect.objectContaining({ label: 'refund_request', source: 'escalation', text: 'money back?', stepId: 'intent', answeredBy: 'model:fake-medium@fake-medium' }),
      ]);
    } finally {
      store.close();
    }
    expect(result.outputs.intent).toMatchObject({ intent: 'refund_request' });
    expect(result.escalations).toBe(1);
    expect(result.topTier).toBe('medium');
    await recordHistory(client, jobId, 'triage-low-confidence-escalation');
  });

  it('invalid output escalates tier by tier, and invalid at the top tier goes to human review', async () => {
    const fake = await startFakeOpenAI([answers.json({ intent: 'not-an-intent', confidence: 2 })]);
    opened.push(fake);
    const { client, settings } = await factory({ fake, fakeTiers: ['small', 'medium', 'large'] });
    const jobId = uniqueId('invalid');
    await client.startJob({ id: jobId, type: 'triage', input: { text: 'gibberish ticket' } });
    const [review] = await waitForPending(client, jobId);
    expect(review).toMatchObject({ kind: 'review', station: 'classify-intent' });
    expect(review!.evidence.reason).toMatch(/schema-violation at the top tier \(large\): needs human review/);
    // each tier: one answer and one repair attempt
    expect(fake.requests.length).toBe(6);
    await expect(client.decide(jobId, { decision: 'approve', reviewer: 'alice' })).rejects.toThrow(/cannot approve as proposed/);
    await client.decide(jobId, { decision: 'approve', reviewer: 'alice', edits: { intent: 'complaint', confidence: 1, alternatives: [] } });
    const result = await client.getResult(jobId);
    expect(result.status).toBe('completed');
    expect(result.outputs.intent).toEqual({ intent: 'complaint', confidence: 1, alternatives: [] });
    expect(result.ledger.map((entry) => [entry.tier, entry.outcome])).toEqual([
      ['small', 'escalated'],
      ['medium', 'escalated'],
      ['large', 'escalated'],
    ]);
    expect(result.ledger[2]!.decision).toMatchObject({ decision: 'approve', reviewers: ['alice'], edited: true });
    expect(result.topTier).toBe('human');
    // the reviewer's correction is the heaviest training example
    const store = new ExampleStore(defaultExampleStoreFile(settings.dataDir));
    try {
      expect(store.examples('classify-intent').filter((example) => example.jobId === jobId)).toEqual([
        expect.objectContaining({ label: 'complaint', source: 'reviewer-edit', weight: 3, answeredBy: 'reviewer:alice', text: 'gibberish ticket' }),
      ]);
    } finally {
      store.close();
    }
    await recordHistory(client, jobId, 'triage-human-review');
  });

  it('a call failing transiently twice then succeeding completes, paid once', async () => {
    const usage = { inputTokens: 1000, outputTokens: 100 };
    const fake = await startFakeOpenAI([answers.serverError(500), answers.reset(), answers.json({ intent: 'order_status', confidence: 0.9, alternatives: [] }, usage)]);
    opened.push(fake);
    const { client } = await factory({ fake, fakeTiers: ['small'] });
    const jobId = uniqueId('transient');
    await client.startJob({ id: jobId, type: 'triage', input: { text: 'where is my parcel' } });
    const result = await client.getResult(jobId);
    expect(result.status).toBe('completed');
    expect(fake.requests.length).toBe(3);
    expect(result.ledger).toHaveLength(1);
    // fake-small costs $1 / $2 per 1M tokens: 1000 in + 100 out
    expect(result.ledger[0]!.costUsd).toBeCloseTo(0.0012, 10);
    expect(result.costUsd).toBeCloseTo(0.0012, 10);
    await recordHistory(client, jobId, 'triage-transient-retries');
  });
});

describe('retries around an action', () => {
  it('a model call failing transiently twice then succeeding completes the job, and the action happens once', async () => {
    let served = 0;
    const fake = await startFakeOpenAI((request) => {
      served++;
      if (served === 1) return answers.serverError(503);
      if (served === 2) return answers.reset();
      return supportTicketAnswer(request);
    });
    opened.push(fake);
    const { client, worker } = await factory({ fake, fakeTiers: ['small', 'medium'] });
    const jobId = uniqueId('retry-act');
    await client.startJob({ id: jobId, type: 'support-ticket', input: { text: 'Please cancel my order #K12001, I ordered it twice.' } });
    const result = await client.getResult(jobId);
    expect(result.status).toBe('completed');
    expect(result.ledger.map((entry) => entry.outcome)).toEqual(['accepted', 'accepted', 'accepted', 'accepted', 'accepted']);
    expect(result.actions).toEqual([expect.objectContaining({ firstExecution: true, action: expect.objectContaining({ action: 'cancel-order', orderId: 'K12001' }) as unknown })]);
    expect(await worker.outbox.rows(jobId)).toHaveLength(1);
    // five stations, two of the calls failed first: seven requests, each station paid once in the ledger
    expect(fake.requests).toHaveLength(7);
    expect(result.ledger).toHaveLength(5);
  });
});

describe('planner', () => {
  it('a model-planned job runs the model plan', async () => {
    const plan = { steps: [{ id: 'intent', station: 'classify-intent', inputs: { text: '$job.text' } }] };
    const fake = await startFakeOpenAI((request) =>
      requestedModel(request.body) === 'fake-large' ? answers.json(plan) : answers.json({ intent: 'order_status', confidence: 0.9, alternatives: [] }),
    );
    opened.push(fake);
    const { client } = await factory({ fake, fakeTiers: ['large'] });
    const jobId = uniqueId('model-plan');
    await client.startJob({ id: jobId, type: 'triage', policy: { planner: 'model' }, input: { text: 'where is my order' } });
    const result = await client.getResult(jobId);
    expect(result.plan).toEqual({ strategy: 'model', steps: plan.steps });
    expect(result.decisions.find((decision) => decision.kind === 'plan')?.reason).toMatch(/model plan by fake-large/);
    await recordHistory(client, jobId, 'triage-model-plan');
  });

  it('an invalid model plan is repaired once, then falls back to the recipe with the reason recorded', async () => {
    const invalid = { steps: [{ id: 'x', station: 'teleport', inputs: { text: '$job.text' } }] };
    const fake = await startFakeOpenAI([answers.json(invalid)]);
    opened.push(fake);
    const { client } = await factory({ fake, fakeTiers: ['large'] });
    const jobId = uniqueId('bad-plan');
    await client.startJob({ id: jobId, type: 'triage', policy: { planner: 'model' }, input: { text: 'where is my order' } });
    const result = await client.getResult(jobId);
    expect(result.status).toBe('completed');
    expect(result.plan.strategy).toBe('recipe');
    expect(result.plan.fallbackReason).toMatch(/model plan still invalid after one repair: step "x": unknown station "teleport"/);
    const repairRequest = JSON.stringify(fake.requests[1]!.body);
    expect(repairRequest).toContain('unknown station');
    await recordHistory(client, jobId, 'triage-model-plan-fallback');
  });
});

describe('bad input', () => {
  it('is refused by the client with a typed error naming the field', async () => {
    const { client } = await factory();
    await expect(client.startJob({ id: uniqueId('bad'), type: 'support-ticket', input: { text: '   ' } })).rejects.toThrow(/input.text: must not be empty/);
    await expect(client.startJob({ id: uniqueId('bad'), type: 'no-such-type', input: {} })).rejects.toThrow(/type: Unknown job type "no-such-type"/);
    await expect(client.startJob({ id: 'has spaces', type: 'triage', input: { text: 'x' } })).rejects.toThrow(/id: use letters/);
  });

  it('is refused by the workflow with a non-retryable InvalidJobInputError when it bypasses the client', async () => {
    const { client, settings } = await factory();
    const jobId = uniqueId('raw');
    const handle = await client.temporal.workflow.start('jobWorkflow', { workflowId: jobId, taskQueue: settings.taskQueue, args: [{ id: jobId, type: 'triage', input: { text: 42 } }] });
    const failure = await handle.result().then(
      () => undefined,
      (error: unknown) => error as WorkflowFailedError,
    );
    expect((failure?.cause as { type?: string }).type).toBe('InvalidJobInputError');
    expect(failure?.cause?.message).toMatch(/input.text/);
  });
});

describe('batch', () => {
  it('runs jobs as child workflows with bounded concurrency, aggregates them, and continues as new', async () => {
    const { client } = await factory();
    const batchId = uniqueId('batch');
    const texts = ['Where is my order #A1?', 'Cancel order #B2 please', 'The app crashes on login', 'Refund $20 for order #C4, wrong colour', 'Do you ship to Norway?'];
    // A threshold of 0 keeps every answer on the small tier, so no job waits for a person here.
    const policy = { confidenceThresholds: { 'classify-intent': 0 } };
    const jobs = texts.map((text, index) => ({ id: `${batchId}-${index}`, type: 'triage', input: { text }, policy }));
    const duplicate = { id: uniqueId('already'), type: 'triage', input: { text: 'Where is my parcel?' }, policy };
    await client.startJob(duplicate);
    await client.getResult(duplicate.id);
    await client.startBatch({ batchId, jobs: [...jobs, duplicate], concurrency: 2, jobsPerRun: 2 });

    const result = await client.getBatchResult(batchId);
    expect(result).toMatchObject({ batchId, total: 6, started: 6, completed: 5, duplicates: 1, failed: 0, rejected: 0, runs: 3 });
    const childResults = await Promise.all(jobs.map((job) => client.getResult(job.id)));
    expect(result.costUsd).toBeCloseTo(childResults.reduce((sum, child) => sum + child.costUsd, 0), 8);
    expect(result.escalations).toBe(childResults.reduce((sum, child) => sum + child.escalations, 0));
    for (const job of jobs) {
      const description = await client.temporal.workflow.getHandle(job.id).describe();
      expect(description.typedSearchAttributes.get(ConveyorBatchId)).toBe(batchId);
      expect(description.parentExecution?.workflowId).toBe(batchId);
    }
    await recordHistory(client, batchId, 'batch-continued-as-new');
  });

  it('keeps at most `concurrency` jobs running: the next job starts when one finishes', async () => {
    const { client } = await factory();
    const batchId = uniqueId('slots');
    const texts = ['Where is my order #A1?', 'Cancel order #B2 please', 'The app crashes on login', 'Do you ship to Norway?', 'Where is my parcel #E5?'];
    const jobs = texts.map((text, index) => ({ id: `${batchId}-${index}`, type: 'triage', input: { text }, policy: { confidenceThresholds: { 'classify-intent': 0 } } }));
    await client.startBatch({ batchId, jobs, concurrency: 2, jobsPerRun: 5 });
    expect(await client.getBatchResult(batchId)).toMatchObject({ total: 5, started: 5, completed: 5, failed: 0, runs: 1 });
    expect(await maxRunningAtOnce(client, jobs.map((job) => job.id))).toBe(2);
    await recordHistory(client, batchId, 'batch-waits-for-slots');
  });
});

describe('claim check', () => {
  const bigJobs = (prefix: string) =>
    Array.from({ length: 120 }, (_, index) => ({
      id: `${prefix}-${index}`,
      type: 'triage',
      policy: { confidenceThresholds: { 'classify-intent': 0 } },
      input: { text: `Where is my order #A${index}? ${'I have been waiting for a long time and would like an update. '.repeat(40)}` },
    }));

  it('passes a batch too large for the history by reference, verified by hash', async () => {
    const { client } = await factory();
    const batchId = uniqueId('claim');
    await client.startBatch({ batchId, jobs: bigJobs(batchId), concurrency: 20 });
    const [started] = await client.temporal.workflow.getHandle(batchId).fetchHistory().then((history) => history.events ?? []);
    const input = started?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0]?.data;
    const request = JSON.parse(Buffer.from(input!).toString()) as { jobs?: unknown[]; jobsFile?: string; jobsSha256?: string };
    expect(request.jobs).toBeUndefined();
    expect(request.jobsSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(request.jobsFile).toContain(request.jobsSha256);
    const result = await client.getBatchResult(batchId);
    expect(result).toMatchObject({ total: 120, completed: 120, failed: 0 });
  });

  it('reads a claim checked batch of any size by reference, across continue-as-new', async () => {
    // The client passes only big batches by reference; the workflow reads any claim the same way, so a
    // small one started directly keeps the recorded history small.
    const { client, settings } = await factory();
    const batchId = uniqueId('claim-small');
    const jobs = bigJobs(batchId).slice(0, 3);
    const claim = storeClaim(client.claimsDir!, jobs.map((job) => JSON.stringify(job)).join('\n'));
    await client.temporal.workflow.start('batchWorkflow', { workflowId: batchId, taskQueue: settings.taskQueue, args: [{ batchId, jobsFile: claim.file, jobsSha256: claim.sha256, concurrency: 2, jobsPerRun: 2 }] });
    const result = await client.getBatchResult(batchId);
    expect(result).toMatchObject({ batchId, total: 3, started: 3, completed: 3, failed: 0, runs: 2 });
    const childResults = await Promise.all(jobs.map((job) => client.getResult(job.id)));
    expect(childResults.map((child) => child.status)).toEqual(['completed', 'completed', 'completed']);
    await recordHistory(client, batchId, 'batch-claim-check');
  });

  it('refuses a claim whose content changed, with a typed error', async () => {
    const { client } = await factory();
    const batchId = uniqueId('tampered');
    const claimsDir = client.claimsDir!;
    const before = new Set(fs.existsSync(claimsDir) ? fs.readdirSync(claimsDir) : []);
    const jobs = bigJobs(batchId);
    const jsonl = jobs.map((job) => JSON.stringify(job)).join('\n');
    const claim = storeClaim(claimsDir, jsonl);
    expect(before.has(path.basename(claim.file))).toBe(false);
    fs.appendFileSync(claim.file, '\n');
    await client.startBatch({ batchId, jobs, concurrency: 20 });
    const failure = await client.getBatchResult(batchId).then(
      () => undefined,
      (error: unknown) => error as WorkflowFailedError,
    );
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect(JSON.stringify(failure?.cause?.cause ?? failure?.cause)).toMatch(/ClaimCheckError|changed after it was stored/);
    await recordHistory(client, batchId, 'batch-claim-check-tampered');
  });
});
