/**
 * Answers given ahead (engine v3): which opening calls a job's start answers (activities/factory.ts
 * openingCalls), the assessment request a station call builds ahead, and the workflow's side
 * (workflows/answers-ahead.ts), which takes an answer only for a request equal to its own, once. The
 * jobs that run on them are in test/factory.test.ts and test/replay.test.ts.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { assessmentRequestAhead, openingCalls, type AnswerAhead, type StationCallResult } from '../activities/factory';
import { supportFactory } from '../factories/support';
import { effectiveJobPolicy } from '../factory/job-policy';
import { snapshotJobType } from '../factory/snapshot';
import { createModelGateway } from '../providers/gateway';
import { AnswersAhead } from '../workflows/answers-ahead';

const gateway = createModelGateway({ cache: null, env: {}, rateLimiter: null });
afterAll(() => gateway.close());
const catalogue = gateway.models();
const ticket = snapshotJobType(supportFactory, 'support-ticket');
const input = { text: 'Where is my order #A1234?' };

describe('openingCalls', () => {
  it('are the recipe steps that read only the job input, routed as their first call is', () => {
    const calls = openingCalls('job-1', ticket, ticket.jobType.policy, input, catalogue);
    expect(calls.map((call) => [call.stepId, call.station, call.call])).toEqual([
      ['intent', 'classify-intent', 1],
      ['entities', 'extract-entities', 1],
    ]);
    expect(calls[0]).toMatchObject({ jobId: 'job-1', modelId: expect.stringMatching(/^local-/) as unknown, input: { text: input.text } });
  });

  it('are none for a model planner, and none for a station a learned router starts', () => {
    expect(openingCalls('job-1', ticket, effectiveJobPolicy(ticket.jobType.policy, { policy: { planner: 'model' } }), input, catalogue)).toEqual([]);
    const routed = { ...ticket.jobType.policy, router: { id: 'r', stations: ['classify-intent'], escalateTo: 'large' as const } };
    expect(openingCalls('job-1', ticket, routed, input, catalogue).map((call) => call.stepId)).toEqual(['entities']);
  });

  it('stop where the budget would stop the job (an over-budget step waits for a person)', () => {
    const priced = catalogue.map((model) => ({ ...model, inputPricePerMTokUsd: 1_000, outputPricePerMTokUsd: 1_000 }));
    expect(openingCalls('job-1', ticket, effectiveJobPolicy(ticket.jobType.policy, { policy: { budgetUsd: 0.000001 } }), input, priced)).toEqual([]);
  });

  it('are none when no model of the routed tier answers in process', () => {
    const remote = catalogue.map((model) => ({ ...model, provider: 'openai-compatible' as const }));
    expect(openingCalls('job-1', ticket, ticket.jobType.policy, input, remote)).toEqual([]);
  });
});

describe('assessmentRequestAhead', () => {
  it('is the request the workflow makes once the answer joins the outputs', () => {
    const request = assessmentRequestAhead(
      'job-1',
      { jobType: 'support-ticket', stepId: 'act', action: 'act', proposal: '$steps.action', settings: { refundThresholdUsd: 100 }, input, outputs: { intent: { intent: 'order_status' } }, confidences: { intent: 0.9 } },
      { stepId: 'action', output: { kind: 'none', note: undefined }, confidence: null },
    );
    expect(request).toEqual({
      jobId: 'job-1',
      jobType: 'support-ticket',
      stepId: 'act',
      action: 'act',
      proposal: { kind: 'none' },
      settings: { refundThresholdUsd: 100 },
      input,
      outputs: { intent: { intent: 'order_status' }, action: { kind: 'none' } },
      confidences: { intent: 0.9, action: null },
    });
  });
});

describe('AnswersAhead', () => {
  const result = { output: { intent: 'order_status' }, stationConfidence: 0.9 } as unknown as StationCallResult;
  const answer: AnswerAhead = { activity: 'callStation', request: { jobId: 'j', stepId: 'intent', call: 1, station: 'classify-intent', modelId: 'local-small', input: { text: 'hi' } }, result };

  it('gives an answer for an equal request (key order and undefined fields aside), once', () => {
    const ahead = new AnswersAhead();
    ahead.offer([answer]);
    expect(ahead.take('callStation', { input: { text: 'hi', note: undefined }, modelId: 'local-small', station: 'classify-intent', call: 1, stepId: 'intent', jobId: 'j' })).toBe(result);
    expect(ahead.take('callStation', answer.request)).toBeUndefined();
  });

  it('gives none for a request that differs in any field, or for another activity', () => {
    const ahead = new AnswersAhead();
    ahead.offer([answer]);
    expect(ahead.take('callStation', { ...answer.request, modelId: 'local-medium' })).toBeUndefined();
    expect(ahead.take('callStation', { ...answer.request, input: { text: 'hi!' } })).toBeUndefined();
    expect(ahead.take('callStation', { ...answer.request, call: 2 })).toBeUndefined();
    expect(ahead.take('assessProposal', answer.request as never)).toBeUndefined();
    expect(ahead.take('callStation', answer.request)).toBe(result);
  });
});
