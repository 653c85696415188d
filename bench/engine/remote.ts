/**
 * The remote-like section: what the engine adds to a realistic model call. A local OpenAI-protocol server
 * answers every request after a fixed delay (200 ms), like a paid model would; the factory runs
 * support-ticket jobs whose every model is an OpenAI-compatible model on that server (each step a regular,
 * heartbeating activity, as remote calls stay), and the yardstick is a raw workflow making the same
 * number of requests to the same server as regular activities, in the same waves. Jobs run one at a
 * time, interleaved, so both see the same load.
 */
import { answers, startFakeOpenAI, type FakeAnswer, type FakeServer, type RecordedRequest } from '../../fakes/openai-server';
import { supportTicketAnswer } from '../../fakes/station-answers';
import type { JobResult } from '../../client';
import { figure, type BenchContext, type SectionOutcome } from './figures';
import { elapsedMs, summarize } from './measure';
import { noopAnswers } from './noop-provider';
import { modelStepWaves, ticketText } from './overhead';
import { rawStepsWorkflow } from './raw-workflow';
import { startBenchWorker, type WorkerHandle } from './worker-handle';

export const REMOTE_DELAY_MS = 200;

/** The station's no-op answer, found by the structured output's schema name; a raw request gets a small JSON answer. */
function remoteAnswer(request: RecordedRequest): FakeAnswer {
  const body = request.body as { response_format?: { json_schema?: { name?: string } }; messages?: unknown[] };
  const name = body.response_format?.json_schema?.name;
  if (name && name in noopAnswers) return answers.json(noopAnswers[name]);
  if (body.response_format) {
    // A station without a schema name on the wire: its answer from the prompt, never an action to take.
    const answer = supportTicketAnswer(request);
    return answer.kind === 'json' && (answer.value as { action?: string }).action ? answers.json(noopAnswers['propose-action']) : answer;
  }
  return answers.json({ ok: true });
}

export function startRemoteLikeServer(delayMs = REMOTE_DELAY_MS): Promise<FakeServer> {
  return startFakeOpenAI((request) => answers.delay(delayMs, remoteAnswer(request)));
}

export async function runRemoteSection(context: BenchContext): Promise<Omit<SectionOutcome, 'loadAverage' | 'durationSeconds'>> {
  const section = 'remote';
  const jobs = context.options.remoteJobs;
  const waves = modelStepWaves('support-ticket');
  const waveWidths = waves.map((wave) => wave.length);
  const stepsPerJob = waveWidths.reduce((sum, width) => sum + width, 0);
  const server = await startRemoteLikeServer();
  const conveyorQueue = `bench-remote-conveyor-${context.runId}`;
  const rawQueue = `bench-remote-raw-${context.runId}`;
  const workers: WorkerHandle[] = [];
  const factoryTimes: number[] = [];
  const rawTimes: number[] = [];
  const problems: string[] = [];
  try {
    workers.push(await startBenchWorker(context, 'conveyor', conveyorQueue, { remoteModelUrl: server.url }), await startBenchWorker(context, 'raw', rawQueue));
    const client = context.clientOn(conveyorQueue);
    const warmups = 2;
    for (let index = -warmups; index < jobs; index++) {
      const id = `bench-remote-support-${context.runId}-${index + warmups}`;
      const start = process.hrtime.bigint();
      await client.startJob({ id, type: 'support-ticket', input: { text: ticketText } });
      const result: JobResult = await client.jobHandle(id).result();
      const factoryMs = elapsedMs(start);
      const remoteCalls = result.ledger.filter((entry) => entry.execution === 'remote').length;
      if (result.status !== 'completed' || result.escalations > 0 || remoteCalls !== stepsPerJob) {
        problems.push(`${id}: ${result.status}, ${result.escalations} escalations, ${remoteCalls} of ${result.ledger.length} calls remote`);
      }
      const rawStart = process.hrtime.bigint();
      await context.temporal.workflow.execute(rawStepsWorkflow, {
        taskQueue: rawQueue,
        workflowId: `bench-remote-raw-${context.runId}-${index + warmups}`,
        args: [waveWidths, { remoteUrl: server.url }],
      });
      const rawMs = elapsedMs(rawStart);
      if (index < 0) continue;
      factoryTimes.push(factoryMs);
      rawTimes.push(rawMs);
    }
  } finally {
    await Promise.all(workers.map((worker) => worker.stop()));
    await server.close();
  }
  if (problems.length) throw new Error(`remote-like jobs did not run as expected: ${problems.slice(0, 5).join('; ')}`);
  const factory = summarize(factoryTimes);
  const raw = summarize(rawTimes);
  const shape = `${stepsPerJob} calls in waves of ${waveWidths.join('+')}, each answered after ${REMOTE_DELAY_MS} ms`;
  return {
    section,
    figures: [
      figure({
        key: 'remote.factoryJobMs',
        section,
        label: `factory: job latency, ${REMOTE_DELAY_MS} ms remote-like model`,
        value: factory.meanMs,
        unit: 'ms/job',
        measures: `Mean end-to-end latency of a support-ticket job (startJob → result; ${shape}) whose models are OpenAI-compatible models on a local server, over ${jobs} jobs run one at a time.`,
      }),
      figure({
        key: 'remote.rawJobMs',
        section,
        label: `raw Temporal: workflow latency, ${REMOTE_DELAY_MS} ms regular activities`,
        value: raw.meanMs,
        unit: 'ms/job',
        measures: `A raw workflow making the same requests to the same server as regular activities (${shape}), mean over ${jobs} workflows.`,
      }),
      figure({
        key: 'remote.factoryOverRaw',
        section,
        label: 'remote-like job latency factory / raw',
        value: factory.meanMs / raw.meanMs,
        unit: '×',
        measures: 'Factory job latency over the raw workflow latency with the same remote-like calls: what Conveyor adds to a job of realistic calls.',
        goal: { comparator: '<=', target: 1.1, text: '≤ 1.10×' },
      }),
    ],
    details: { jobs, stepsPerJob, waveWidths, delayMs: REMOTE_DELAY_MS, factoryJob: factory, rawWorkflow: raw, requestsServed: server.requests.length },
  };
}
