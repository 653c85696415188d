/**
 * `conveyor replay-policy --since 24h|7d|ISO --policy <file.json> [--type T] [--json]`: re-decides the
 * routing of the recorded runs under a new policy and estimates the cost and agreement change. Steps
 * whose new decision needs an answer that was never recorded are asked of the model the policy would
 * call (their input rebuilt from the job's recorded request), and only those; `--no-calls` counts
 * them instead, `--max-calls` caps the calls. The report says how many calls were made and their cost.
 */
import { jobWorkflowTypeClause } from '../domain/search-attributes';
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { stationCall } from '../activities';
import { answerableStation, routerText } from '../activities/factory';
import { ConveyorClient } from '../client';
import type { JobRecord, JobRequest, JobResult } from '../domain/job';
import { resolveStepInputs } from '../domain/recipe';
import { tiers } from '../domain/models';
import { route } from '../domain/routing';
import { scoreConfidence } from '../factory/confidence';
import type { AnyStation, Factory } from '../factory/define';
import { loadSettings, type ConveyorSettings } from '../platform/settings';
import { replayPolicy, replayPolicySchema, replayPolicyWithCalls, routedSteps, type NewCallPort, type PolicyReplayReport, type ReplayPolicy, type RoutedStart } from '../learning/replay-policy';
import { openRegistryStore } from '../learning/model-registry';
import { loadRouter } from '../learning/router';
import { createModelGateway } from '../providers/gateway';
import type { ModelGateway } from '../providers/gateway-types';
import { table, usd } from './output';
import { parseSince } from './report';
import { factoryFromSettings } from '../workers/worker';

const usage = 'usage: conveyor replay-policy --policy FILE [--since 24h|7d|ISO] [--type T] [--task-queue Q] [--no-calls | --max-calls 1000] [--json]';

/** The records of the jobs that completed, started since `since`, of one job type and task queue when given (what the learning commands read). */
export async function completedRuns(client: ConveyorClient, scope: { since: Date; type?: string | undefined; taskQueue?: string | undefined }): Promise<JobResult[]> {
  const filters = [jobWorkflowTypeClause, 'ExecutionStatus = "Completed"', `StartTime >= "${scope.since.toISOString()}"`];
  if (scope.type) filters.push(`ConveyorJobType = "${scope.type.replace(/"/g, '')}"`);
  if (scope.taskQueue) filters.push(`TaskQueue = "${scope.taskQueue.replace(/"/g, '')}"`);
  const records: JobResult[] = [];
  for await (const execution of client.temporal.workflow.list({ query: filters.join(' AND ') })) records.push(await client.jobHandle(execution.workflowId).result());
  return records;
}

/**
 * The completed runs in scope and a rebuilder of their steps' inputs, handed to `use` on a client of its
 * own that is closed after (what `conveyor router train` and `conveyor scorer train` learn from).
 */
export async function fromCompletedRuns<T>(
  settings: ConveyorSettings,
  factory: Factory,
  scope: Parameters<typeof completedRuns>[1],
  use: (records: JobResult[], stepInput: NewCallPort['stepInput']) => Promise<T>,
): Promise<T> {
  const client = await ConveyorClient.connect({ settings, factory });
  try {
    return await use(await completedRuns(client, scope), recordedStepInput(client, factory));
  } finally {
    await client.close();
  }
}

/** A recorded step's input, or undefined with why it could not be rebuilt added to `problems` (`<jobId>/<stepId>: …`). */
export async function stepInputOrProblem(stepInput: NewCallPort['stepInput'], record: JobRecord, stepId: string, problems: string[]): Promise<unknown> {
  try {
    return await stepInput(record, stepId);
  } catch (error) {
    problems.push(`${record.id}/${stepId}: ${(error as Error).message}`);
    return undefined;
  }
}

function stationNamed(factory: Factory, name: string): AnyStation {
  const station = factory.stations.get(name);
  if (!station) throw new Error(`factory ${factory.name} ${factory.version} has no station "${name}"`);
  return station;
}

/** A recorded step's input as the job saw it: rebuilt from the job's request and the outputs its record holds. */
export function recordedStepInput(client: ConveyorClient, factory: Factory): NewCallPort['stepInput'] {
  const requests = new Map<string, Promise<JobRequest>>();
  return async (record, stepId) => {
    let request = requests.get(record.id);
    if (!request) requests.set(record.id, (request = client.jobRequest(record.id)));
    const { input } = await request;
    const step = record.plan.steps.find((candidate) => candidate.id === stepId);
    if (!step) throw new Error(`step ${stepId} is not in the plan of job ${record.id}`);
    const raw = resolveStepInputs(step.inputs, input, record.outputs);
    const parsed = stationNamed(factory, step.station).input.safeParse(raw);
    if (!parsed.success) throw new Error(`step ${stepId}: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`);
    return parsed.data as unknown;
  };
}

/**
 * New calls through the model layer to the factory's stations (their prompts, schemas and confidence
 * rules), with each step's input rebuilt from the job's request and recorded outputs.
 */
export function gatewayCallPort(client: ConveyorClient, gateway: ModelGateway, factory: Factory): NewCallPort {
  return {
    stepInput: recordedStepInput(client, factory),
    async call({ station: name, tier, input }) {
      const station = stationNamed(factory, name);
      const below = tiers[tiers.indexOf(tier) - 1];
      const decision = route({
        station: { name: station.name, defaultTier: station.defaultTier, maxOutputTokens: station.maxOutputTokens },
        models: gateway.models(),
        inputChars: JSON.stringify(input).length,
        longInputChars: Number.MAX_SAFE_INTEGER,
        ...(below ? { escalation: { fromTier: below, cause: 'low-confidence' as const } } : {}),
        budgetRemainingUsd: Number.POSITIVE_INFINITY,
      });
      if (decision.kind !== 'model') throw new Error(decision.reason);
      const outcome = await stationCall(gateway, answerableStation(station), { modelId: decision.model.id, input });
      return { output: outcome.output, confidence: scoreConfidence(station.confidence, outcome.output, outcome.confidence), costUsd: outcome.costUsd, modelId: outcome.modelId };
    },
  };
}

/**
 * What a policy's router picks for each recorded step, from the step's input rebuilt as the job saw it
 * (the station's `learnable` text field, else the input as JSON). A router that cannot be loaded is an
 * error that names the fix; a step whose input cannot be rebuilt is left unrouted and counted.
 */
async function routerStarts(records: readonly JobRecord[], policy: ReplayPolicy, factory: Factory, stepInput: NewCallPort['stepInput'], dataDir: string, problems: string[]): Promise<Map<string, RoutedStart>> {
  const settings = policy.router!;
  const store = openRegistryStore({ dataDir, databaseUrl: loadSettings().databaseUrl });
  const router = await loadRouter(store, settings.id, settings.version).finally(() => store.close());
  const starts = new Map<string, RoutedStart>();
  for (const { record, stepId, station } of routedSteps(records, policy)) {
    const input = await stepInputOrProblem(stepInput, record, stepId, problems);
    if (input === undefined) continue;
    const definition = factory.stations.get(station);
    const decision = router.decide(routerText(definition ?? {}, input));
    const defaultTier = definition?.defaultTier ?? 'small';
    starts.set(`${record.id}:${stepId}`, { tier: decision.escalate ? settings.escalateTo : defaultTier, reason: decision.reason, escalated: decision.escalate });
  }
  return starts;
}

/** `deps.factory`: the factory whose jobs are replayed (default: the module CONVEYOR_FACTORY names, else the built-in one). */
export async function replayPolicyCommand(
  argv: string[],
  io: { stdout(line: string): void; stderr(line: string): void },
  deps: { gateway?: ModelGateway; factory?: Factory; dataDir?: string } = {},
): Promise<number> {
  let values: { policy?: string; since?: string; type?: string; 'task-queue'?: string; 'no-calls'?: boolean; 'max-calls'?: string; json?: boolean };
  let maxCalls = 1000;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { policy: { type: 'string' }, since: { type: 'string' }, type: { type: 'string' }, 'task-queue': { type: 'string' }, 'no-calls': { type: 'boolean' }, 'max-calls': { type: 'string' }, json: { type: 'boolean' } },
      strict: true,
    }));
    if (values['max-calls'] !== undefined) {
      maxCalls = Number(values['max-calls']);
      if (!Number.isInteger(maxCalls) || maxCalls < 0) throw new Error(`--max-calls: "${values['max-calls']}" is not a whole number of calls`);
    }
  } catch (error) {
    io.stderr(`conveyor replay-policy: ${(error as Error).message}\n${usage}`);
    return 2;
  }
  if (!values.policy) {
    io.stderr(`conveyor replay-policy: missing --policy FILE\n${usage}`);
    return 2;
  }
  let policy: ReplayPolicy;
  let since: Date;
  try {
    const parsed = replayPolicySchema.safeParse(JSON.parse(fs.readFileSync(values.policy, 'utf8')));
    if (!parsed.success) throw new Error(parsed.error.issues.map((issue) => `${issue.path.join('.') || '(policy)'}: ${issue.message}`).join('; '));
    policy = parsed.data;
    since = parseSince(values.since ?? '24h');
  } catch (error) {
    io.stderr(`conveyor replay-policy: ${values.policy}: ${(error as Error).message}`);
    return 2;
  }
  const factory = deps.factory ?? factoryFromSettings(loadSettings());
  const client = await ConveyorClient.connect({ factory });
  let report: PolicyReplayReport;
  const routerProblems: string[] = [];
  try {
    const records = await completedRuns(client, { since, type: values.type, taskQueue: values['task-queue'] });
    let routed: Map<string, RoutedStart> | undefined;
    if (policy.router) {
      try {
        routed = await routerStarts(records, policy, factory, recordedStepInput(client, factory), deps.dataDir ?? loadSettings().dataDir, routerProblems);
        for (const problem of routerProblems.slice(0, 5)) io.stderr(`conveyor replay-policy: router: step left unrouted: ${problem}`);
      } catch (error) {
        io.stderr(`conveyor replay-policy: ${(error as Error).message}`);
        return 2;
      }
    }
    report = replayPolicy(records, policy, factory, routed);
    if (!values['no-calls'] && report.needNewModelCalls > 0) {
      const gateway = deps.gateway ?? createModelGateway();
      try {
        report = await replayPolicyWithCalls(records, policy, factory, gatewayCallPort(client, gateway, factory), { maxCalls, ...(routed ? { routed } : {}) });
      } finally {
        if (!deps.gateway) await gateway.close();
      }
    }
  } finally {
    await client.close();
  }
  if (values.json) {
    io.stdout(JSON.stringify(report));
    return 0;
  }
  const percent = (value: number | null) => (value === null ? 'n/a' : `${(value * 100).toFixed(1)}%`);
  io.stdout(
    table([
      { measure: 'recorded jobs / model steps', value: `${report.jobs} / ${report.steps}` },
      { measure: 'decisions unchanged', value: report.unchanged },
      { measure: 'decisions changed', value: report.decisionsChanged },
      { measure: 'steps needing new model calls (outcome never recorded)', value: report.needNewModelCalls },
      { measure: values['no-calls'] ? 'new model calls made (--no-calls)' : 'new model calls made for them / their cost', value: values['no-calls'] ? 0 : `${report.newModelCalls} / ${usd(report.newModelCallCostUsd)}` },
      { measure: 'steps answered by the new calls', value: report.answeredByNewCalls },
      { measure: 'steps still without an answer (limit reached or input not rebuildable)', value: report.details.filter((step) => step.verdict === 'needs-new-call').length },
      { measure: 'steps that would go to a person', value: report.needReview },
      { measure: 'cost recorded', value: usd(report.costBeforeUsd) },
      { measure: 'cost replayed (steps with an answer, recorded or new)', value: usd(report.costAfterUsd) },
      { measure: 'agreement with recorded answers where the decision changed', value: percent(report.agreementOnChanged) },
      ...(policy.budgetUsd !== undefined ? [{ measure: `jobs over the $${policy.budgetUsd} budget`, value: report.jobsOverBudget }] : []),
      ...(report.router
        ? [
            { measure: `router ${report.router.id}${report.router.version ? `@${report.router.version}` : ''}: steps routed / sent to ${policy.router?.escalateTo ?? 'large'}`, value: `${report.router.routed} / ${report.router.escalated} (${percent(report.router.escalatedShare)})` },
            { measure: 'steps the router could not read (input not rebuildable)', value: report.router.unrouted },
          ]
        : []),
    ]),
  );
  return 0;
}
