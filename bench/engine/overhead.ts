/**
 * The overhead section: what durability costs per step. The same five model steps of a support-ticket
 * (intent and entities in parallel, then risk and reply, then the proposed action — none, so nothing is
 * executed) run three ways with the no-op model: as a Conveyor job (start, plan, route, ledger, result),
 * as plain in-process gateway calls in the same waves, and as a raw Temporal workflow that runs no-op
 * activities in the same waves. Jobs run one at a time, interleaved, so the three see the same load;
 * per-step figures are a job's end-to-end latency divided by its model steps (ledger entries).
 */
import type { ConveyorClient, JobRequest, JobResult } from '../../client';
import { jobTypeByName } from '../../factories/support/legacy-job-types';
import { dependenciesOf, type PlanStep } from '../../domain/plan';
import { modelStation, stationByName } from '../../factories/support/legacy-stations';
import { createNoopGateway, noopAnswers, stationCall } from './noop-provider';
import { figure, type BenchContext, type SectionOutcome } from './figures';
import { elapsedMs, summarize } from './measure';
import { rawStepsWorkflow } from './raw-workflow';
import { startBenchWorker, type WorkerHandle } from './worker-handle';

/** The ticket every engine measurement's support-ticket job reads. */
export const ticketText = 'Hello, where is my order #A1234? It should have arrived last Tuesday. Thanks, Sam';

/** The recipe's model steps grouped by depth: each wave runs in parallel once the previous one is done. */
export function modelStepWaves(jobTypeName: string): PlanStep[][] {
  const steps = jobTypeByName(jobTypeName).recipe.steps;
  const depth = new Map<string, number>();
  for (const step of steps) depth.set(step.id, Math.max(0, ...dependenciesOf(step).map((id) => (depth.get(id) ?? 0) + 1)));
  const waves: PlanStep[][] = [];
  for (const step of steps) {
    if (stationByName(step.station).kind !== 'model') continue;
    const level = depth.get(step.id) ?? 0;
    (waves[level] ??= []).push(step);
  }
  return waves.filter((wave) => wave.length > 0);
}

/** Station inputs as the workflow wires them, from the no-op outputs of earlier steps. */
function stationInput(step: PlanStep): unknown {
  const entities = noopAnswers['extract-entities'];
  const intent = (noopAnswers['classify-intent'] as { intent: string }).intent;
  switch (step.station) {
    case 'assess-risk':
      return { text: ticketText, intent, entities };
    case 'draft-reply':
      return { text: ticketText, intent, entities };
    case 'propose-action':
      return { intent, entities, risk: noopAnswers['assess-risk'], reply: noopAnswers['draft-reply'] };
    default:
      return { text: ticketText };
  }
}

const modelIdFor = (station: string) => `local-${modelStation(station).defaultTier}`;

/** startJob, then the workflow's result (getResult would add a describe call per job). */
async function timeFactoryJob(client: ConveyorClient, job: JobRequest): Promise<{ ms: number; result: JobResult }> {
  const start = process.hrtime.bigint();
  await client.startJob(job);
  const result = await client.jobHandle(job.id).result();
  return { ms: elapsedMs(start), result };
}

export async function runOverheadSection(context: BenchContext): Promise<Omit<SectionOutcome, 'loadAverage' | 'durationSeconds'>> {
  const section = 'overhead';
  const jobs = context.options.overheadJobs;
  const waves = modelStepWaves('support-ticket');
  const waveWidths = waves.map((wave) => wave.length);
  const stepsPerJob = waveWidths.reduce((sum, width) => sum + width, 0);

  // In-process: the activity's work (prompt, gateway call with validation and accounting), no Temporal.
  const gateway = createNoopGateway();
  const inProcessTimes: number[] = [];
  try {
    const calls = waves.map((wave) => wave.map((step) => ({ station: modelStation(step.station), input: stationInput(step) })));
    const inProcessJobs = Math.max(200, jobs * 10);
    for (let round = -20; round < inProcessJobs; round++) {
      const start = process.hrtime.bigint();
      for (const wave of calls) {
        await Promise.all(wave.map(({ station, input }) => gateway.call(stationCall(station, input, modelIdFor(station.name)))));
      }
      if (round >= 0) inProcessTimes.push(elapsedMs(start));
    }
  } finally {
    await gateway.close();
  }

  const conveyorQueue = `bench-overhead-conveyor-${context.runId}`;
  const rawQueue = `bench-overhead-raw-${context.runId}`;
  const workers: WorkerHandle[] = [];
  const factoryTimes: number[] = [];
  const triageTimes: number[] = [];
  const rawTimes: number[] = [];
  const rawLocalTimes: number[] = [];
  const executions = new Set<string>();
  const ledgerSizes = new Set<number>();
  const problems: string[] = [];
  try {
    workers.push(await startBenchWorker(context, 'conveyor', conveyorQueue), await startBenchWorker(context, 'raw', rawQueue));
    const client = context.clientOn(conveyorQueue);
    const warmups = 3;
    for (let index = -warmups; index < jobs; index++) {
      const support = await timeFactoryJob(client, {
        id: `bench-overhead-support-${context.runId}-${index + warmups}`,
        type: 'support-ticket',
        input: { text: ticketText },
      });
      const triage = await timeFactoryJob(client, {
        id: `bench-overhead-triage-${context.runId}-${index + warmups}`,
        type: 'triage',
        input: { text: ticketText },
        policy: { confidenceThresholds: { 'classify-intent': 0 } },
      });
      const rawStart = process.hrtime.bigint();
      await context.temporal.workflow.execute(rawStepsWorkflow, {
        taskQueue: rawQueue,
        workflowId: `bench-overhead-raw-${context.runId}-${index + warmups}`,
        args: [waveWidths],
      });
      const rawMs = elapsedMs(rawStart);
      const rawLocalStart = process.hrtime.bigint();
      await context.temporal.workflow.execute(rawStepsWorkflow, {
        taskQueue: rawQueue,
        workflowId: `bench-overhead-raw-local-${context.runId}-${index + warmups}`,
        args: [waveWidths, 'local'],
      });
      const rawLocalMs = elapsedMs(rawLocalStart);
      for (const { result } of [support, triage]) {
        if (result.status !== 'completed' || result.escalations > 0) problems.push(`${result.id}: ${result.status}, ${result.escalations} escalations`);
      }
      ledgerSizes.add(support.result.ledger.length);
      for (const entry of support.result.ledger) executions.add(entry.execution ?? 'remote');
      if (index < 0) continue;
      factoryTimes.push(support.ms);
      triageTimes.push(triage.ms);
      rawTimes.push(rawMs);
      rawLocalTimes.push(rawLocalMs);
    }
  } finally {
    await Promise.all(workers.map((worker) => worker.stop()));
  }
  if (ledgerSizes.size !== 1 || !ledgerSizes.has(stepsPerJob)) problems.push(`support-ticket ledgers had ${[...ledgerSizes].join('/')} entries, expected ${stepsPerJob}`);
  if (executions.size !== 1 || !executions.has('local')) problems.push(`support-ticket model calls ran as ${[...executions].join(' and ')}, expected local activities only`);
  if (problems.length) throw new Error(`overhead jobs did not run as expected: ${problems.slice(0, 5).join('; ')}`);

  const factory = summarize(factoryTimes);
  const inProcess = summarize(inProcessTimes);
  const raw = summarize(rawTimes);
  const rawLocal = summarize(rawLocalTimes);
  const triage = summarize(triageTimes);
  const perStep = (ms: number) => ms / stepsPerJob;
  const factoryPerStep = perStep(factory.meanMs);
  const inProcessPerStep = perStep(inProcess.meanMs);
  const rawPerStep = perStep(raw.meanMs);
  const rawLocalPerStep = perStep(rawLocal.meanMs);
  const shape = `${stepsPerJob} model steps in waves of ${waveWidths.join('+')}`;
  return {
    section,
    figures: [
      figure({
        key: 'overhead.factoryMsPerStep',
        section,
        label: 'factory: ms per step (support-ticket, no-op model)',
        value: factoryPerStep,
        unit: 'ms/step',
        measures: `Mean end-to-end latency of a support-ticket job (startJob → result; ${shape}) divided by its ${stepsPerJob} ledger entries, over ${jobs} jobs run one at a time.`,
      }),
      figure({
        key: 'overhead.inProcessMsPerStep',
        section,
        label: 'in-process: ms per step (gateway calls)',
        value: inProcessPerStep,
        unit: 'ms/step',
        measures: `The same ${stepsPerJob} station calls (prompt + ModelGateway.call with schema validation and accounting, no-op provider, no cache) in the same waves, in this process: mean per job / ${stepsPerJob}.`,
      }),
      figure({
        key: 'overhead.rawMsPerStep',
        section,
        label: 'raw Temporal, regular activities: ms per step',
        value: rawPerStep,
        unit: 'ms/step',
        measures: `A raw workflow running ${stepsPerJob} no-op regular activities in the same waves (workflow.execute → result), mean per workflow / ${stepsPerJob}.`,
      }),
      figure({
        key: 'overhead.rawLocalMsPerStep',
        section,
        label: 'raw Temporal, local activities: ms per step',
        value: rawLocalPerStep,
        unit: 'ms/step',
        measures: `The same raw workflow running its ${stepsPerJob} no-op steps as local activities, mean per workflow / ${stepsPerJob}.`,
      }),
      figure({
        key: 'overhead.durableMsPerStep',
        section,
        label: 'durable overhead per step (factory − in-process)',
        value: factoryPerStep - inProcessPerStep,
        unit: 'ms/step',
        measures: 'Factory ms per step minus in-process ms per step: what running a step durably inside a Conveyor job adds.',
      }),
      figure({
        key: 'overhead.factoryOverRaw',
        section,
        label: 'factory / raw Temporal with regular activities (per step)',
        value: factoryPerStep / rawPerStep,
        unit: '×',
        measures: 'Factory ms per step over raw-Temporal ms per step with regular activities: a Conveyor job of local-model steps against the plain workflow a team would write first.',
        goal: { comparator: '<=', target: 0.5, text: '≤ 0.5×' },
      }),
      figure({
        key: 'overhead.factoryOverRawLocal',
        section,
        label: 'factory / raw Temporal with local activities (per step)',
        value: factoryPerStep / rawLocalPerStep,
        unit: '×',
        measures: 'Factory ms per step over raw-Temporal ms per step with local activities: what Conveyor (definition, screening, routing, ledger, search attributes) adds to the fastest plain workflow.',
        goal: { comparator: '<=', target: 1.3, text: '≤ 1.3×' },
      }),
      figure({
        key: 'overhead.triageJobMs',
        section,
        label: 'triage job latency (1 step)',
        value: triage.meanMs,
        unit: 'ms/job',
        measures: `Mean end-to-end latency of a one-step triage job (threshold 0), over ${jobs} jobs run one at a time.`,
      }),
    ],
    details: { stepsPerJob, waveWidths, jobs, factoryJob: factory, triageJob: triage, rawWorkflow: raw, rawLocalWorkflow: rawLocal, inProcessJob: inProcess },
  };
}
