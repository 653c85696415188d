/**
 * Traces (issue 21): with OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (or CONVEYOR_OTLP_TRACES_URL), the client that starts a job, the worker's workflow
 * and every activity send spans to an OTLP/HTTP receiver, linked in one trace per job; model calls carry
 * the OpenTelemetry GenAI attributes; no prompt text (the job's input) appears in any span.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConveyorClient } from '../index';
import { startOtlpReceiver, type ReceivedSpan } from '../fakes/otlp-receiver';
import { loadSettings } from '../platform/settings';
import { installTracing } from '../platform/tracing';
import { cliEnvironment, conveyorBin, repoRoot, startWorkerProcess } from './support/cli';
import { eventually, testClient, testSettings, uniqueId } from './support/temporal';

const cleanups: (() => Promise<unknown>)[] = [];
let receiver: Awaited<ReturnType<typeof startOtlpReceiver>>;
let client: ConveyorClient;

beforeAll(async () => {
  receiver = await startOtlpReceiver();
  const base = testSettings(uniqueId('tracing'));
  // OpenTelemetry's standard variable turns tracing on (CONVEYOR_OTLP_TRACES_URL would too).
  const env = cliEnvironment(base, { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: receiver.url });
  const worker = await startWorkerProcess(conveyorBin, ['worker'], { cwd: repoRoot, env, readyLine: `traces to ${receiver.url}`, timeoutMs: 90_000 });
  cleanups.push(() => worker.stop());
  client = await testClient(loadSettings(env));
  cleanups.push(() => client.close());
}, 120_000);

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  await receiver?.close();
});

describe('traces at an OTLP/HTTP receiver', () => {
  it('one trace per job links the client’s start, the workflow and each activity; model calls carry the GenAI attributes; no prompt text', async () => {
    const marker = `Zanzibar-${Math.random().toString(36).slice(2, 10)}`;
    const jobs = [
      { id: uniqueId('traced-cancel'), type: 'support-ticket', input: { text: `Please cancel my order #T5001, says ${marker}` } },
      { id: uniqueId('traced-triage'), type: 'triage', input: { text: `Where is my parcel? ${marker}` } },
    ];
    for (const job of jobs) await client.startJob(job);
    const results = await Promise.all(jobs.map((job) => client.getResult(job.id)));
    expect(results.map((result) => result.status)).toEqual(['completed', 'completed']);
    // The client's spans leave in its next batch; flush them.
    await installTracing(receiver.url, 'conveyor-client').spanProcessor.forceFlush();

    for (const result of results) {
      const start = await eventually(async () => receiver.spans.find((span) => span.name === 'StartWorkflow:factoryJobWorkflow' && span.attributes.temporalWorkflowId === result.id), 30_000);
      expect(start.service).toBe('conveyor-client');
      const trace = () => receiver.spans.filter((span) => span.traceId === start.traceId);
      const named = (prefix: string) => trace().filter((span) => span.name.startsWith(prefix));
      // Every model call of the ledger is a GenAI span in this trace, under the activity that made it: its
      // own callStation, or — for the opening steps a job of local steps answers ahead — the job's beginJob.
      await eventually(async () => (named('chat ').length >= result.ledger.length && named('RunWorkflow:factoryJobWorkflow').length > 0 ? true : undefined), 30_000);
      expect(named('RunWorkflow:factoryJobWorkflow')[0]!.service).toBe('conveyor-worker');
      const activitySpans = named('RunActivity:callStation');
      const startSpans = named('RunActivity:beginJob');
      expect(startSpans).toHaveLength(1);
      const chats = named('chat ');
      expect(chats).toHaveLength(result.ledger.length);
      const answeredAhead = chats.filter((chat) => chat.parentSpanId === startSpans[0]!.spanId);
      expect(activitySpans).toHaveLength(result.ledger.length - answeredAhead.length);
      for (const chat of chats) {
        expect([...activitySpans, ...startSpans].map((span) => span.spanId)).toContain(chat.parentSpanId);
        expect(chat.attributes).toEqual(expect.objectContaining({ 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'local', 'gen_ai.request.model': expect.any(String) as unknown, 'gen_ai.usage.input_tokens': expect.any(Number) as unknown, 'gen_ai.usage.output_tokens': expect.any(Number) as unknown }));
      }
      expect(chats.map((chat) => chat.attributes['conveyor.station']).sort()).toEqual(result.ledger.map((entry) => entry.station).sort());
      if (result.actions.length > 0) expect(named('RunActivity:runAction')).toHaveLength(result.actionLedger!.length);
      // Spans link up: every span's parent is in the trace, except the client's start.
      const ids = new Set(trace().map((span) => span.spanId));
      const orphans = trace().filter((span: ReceivedSpan) => span.parentSpanId && !ids.has(span.parentSpanId));
      expect(orphans.map((span) => span.name)).toEqual([]);
      console.log(`tracing: ${result.id}: ${trace().length} spans in one trace (${[...new Set(trace().map((span) => span.name))].join(', ')})`);
    }
    expect(receiver.spans.filter((span) => span.raw.includes(marker))).toEqual([]);
  }, 180_000);
});
