/**
 * Conveyor's activities: every piece of I/O the workflows need — the model catalogue, model calls
 * through the model layer, the model planner, the action sink and batch files. Built from their
 * dependencies so the worker (and tests) decide which gateway and outbox they use.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import fs from 'node:fs';
import readline from 'node:readline';
import { jobRequestSchema, type JobRequest } from '../domain/job';
import type { ModelSpec } from '../domain/models';
import { planSchema } from '../domain/plan';
import type { ScreeningResult } from '../domain/screening';
import { ClaimCheckError, claimOfBatch, type ClaimStore } from '../platform/claims';
import { toApplicationFailure } from '../providers/errors';
import { defaultScreener } from '../providers/local/screening';
import type { ModelGateway } from '../providers/gateway-types';
import { UnsupportedSkillError } from '../providers/local/errors';
import type { AnyLocalAnswer } from '../factory/define';
import type { z } from 'zod';
import type { LiveModels } from '../learning/live';
import type { ActionReceiptStore } from './outbox';
import type { ActionReceipt, ActionRequest, ModelCallRequest, ModelCallResult, PlanRequest, PlanResult } from './types';

/**
 * What the first job workflow's activities (`callModel`, `planWithModel`) know of its stations and job
 * types: the worker passes the built-in catalogue in, so the activities import no factory of their own.
 */
export interface StationCatalogue {
  station(name: string): AnswerableStation;
  /** Every station a model planner may use, in the order its prompt lists them. */
  planStations: readonly { name: string; description: string; inputFields: readonly string[] }[];
  jobType(name: string): { name: string; description: string };
}

export interface ActivityDependencies {
  gateway: ModelGateway;
  outbox: ActionReceiptStore;
  /** Where claim-checked batches are read (the claims directory, or PostgreSQL). */
  claims: ClaimStore;
  catalogue: StationCatalogue;
  /** The learning registry on live steps (promoted versions, canaries, shadows); none: registry models only. */
  live?: LiveModels;
  log?: (message: string) => void;
}

/** One schema-valid answer of a station from one registry model: the station's prompt and schema through the gateway. */
export function stationCall(
  gateway: ModelGateway,
  station: AnswerableStation,
  request: {
    modelId: string;
    input: unknown;
    signal?: AbortSignal;
    heartbeat?: (details?: unknown) => void;
    modelOptions?: Record<string, unknown>;
    cache?: { enabled: boolean };
    fallbacks?: readonly string[];
    temperature?: number;
    /** The call's identity in its job (settlementOf): asked again, it is settled by its own first answer. */
    settles?: string;
  },
) {
  const prompt = station.prompt(request.input);
  return gateway.call({
    modelId: request.modelId,
    ...(request.fallbacks && request.fallbacks.length > 0 ? { fallbacks: request.fallbacks } : {}),
    ...(station.logprobs ? { logprobs: station.logprobs } : {}),
    ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
    station: station.name,
    ...(station.local ? { local: station.local } : {}),
    input: request.input,
    system: prompt.system,
    prompt: prompt.user,
    schema: station.output,
    ...(request.signal ? { signal: request.signal } : {}),
    ...(request.heartbeat ? { heartbeat: request.heartbeat } : {}),
    ...(request.modelOptions ? { modelOptions: request.modelOptions } : {}),
    ...(request.cache ? { cache: request.cache } : {}),
    ...(request.settles !== undefined ? { settles: request.settles } : {}),
  });
}

/**
 * A model call's identity in its job, for the gateway to settle a call asked again — its activity or
 * workflow task ran again — with its own first answer (ModelCall.settles): workflow, run, step, call
 * number, and which of the step's calls it is (`answer`, or `cheaper` for the cheaper tier's check).
 */
export function settlementOf(context: Context, request: Pick<ModelCallRequest, 'stepId' | 'call'>, part: 'answer' | 'cheaper' = 'answer'): string | undefined {
  const execution = context.info.workflowExecution;
  return execution ? `${execution.workflowId}/${execution.runId}/${request.stepId}#${request.call}/${part}` : undefined;
}

/** What answering a station needs to know of it, whichever catalogue it comes from. */
export interface AnswerableStation {
  name: string;
  prompt(input: unknown): { system: string; user: string };
  output: z.ZodType;
  /** How it answers offline (the definition's `local`). */
  local?: AnyLocalAnswer;
  /**
   * How the learning registry takes part (canary split, shadow): the label of an answer, and the
   * registry model option that loads a trained model file. Only learnable stations answered by a
   * classifier have it.
   */
  learning?: { labelOf(output: unknown): string | undefined; modelFileOption: string };
  /** Ask remote models for token log-probabilities (the station's confidence rule is `logprobs`). */
  logprobs?: { field?: string };
}

/**
 * The gateway's heartbeat for a model call in this activity: a regular activity's (a slow model is told
 * from a dead worker); none for a local activity, which cannot heartbeat (the workflow task's timeout
 * watches it, and its models answer in process).
 */
export function modelCallHeartbeat(context: Context): { heartbeat?: (details?: unknown) => void } {
  return context.info.isLocal ? {} : { heartbeat: (details) => context.heartbeat(details) };
}

/**
 * One model call of a station step, inside an activity: the station's prompt and schema through the
 * gateway, with the learning registry's say (canary split, shadow) where the station is learnable.
 */
export async function answerStation(
  { gateway, live, log }: { gateway: ModelGateway; live?: LiveModels; log: (message: string) => void },
  station: AnswerableStation,
  request: ModelCallRequest,
): Promise<ModelCallResult> {
  const context = Context.current();
  const call = (modelOptions?: Record<string, unknown>, cache?: { enabled: boolean }) =>
    stationCall(gateway, station, {
      modelId: request.modelId,
      ...(request.fallbacks ? { fallbacks: request.fallbacks } : {}),
      input: request.input,
      signal: context.cancellationSignal,
      ...modelCallHeartbeat(context),
      modelOptions,
      cache,
      ...(cache?.enabled === false ? {} : { settles: settlementOf(context, request) }),
    });
  // Only learnable stations consult the learning registry; other calls skip the lookup.
  const learnable = station.learning;
  const model = live && learnable ? gateway.models().find((spec) => spec.id === request.modelId) : undefined;
  const learning = learnable && live?.applies(model) ? live : undefined;
  // One item, one model: the canary split hashes the job and step, so retries and escalations agree.
  const serving = learnable && (await learning?.serving(station.name, learnable.modelFileOption, `${request.jobId}:${request.stepId}`));
  let outcome;
  try {
    outcome = await call(serving?.modelOptions);
  } catch (error) {
    throw toApplicationFailure(error);
  }
  const result: ModelCallResult = {
    output: outcome.output,
    confidence: outcome.confidence,
    usage: outcome.usage,
    costUsd: outcome.costUsd,
    latencyMs: outcome.latencyMs,
    cacheHit: outcome.cacheHit,
    repaired: outcome.repaired,
    modelId: outcome.modelId,
    modelVersion: outcome.modelVersion,
    ...(outcome.confidenceSource ? { confidenceSource: outcome.confidenceSource } : {}),
    ...(outcome.failover ? { failover: outcome.failover } : {}),
  };
  if (!learning || !learnable) return result;
  const observed: NonNullable<ModelCallResult['live']> = {};
  const servedLabel = learnable.labelOf(outcome.output);
  if (serving && serving.choice.role !== 'current') {
    observed.servedAs = serving.choice.role;
    // Both sides of the split are observed: the stable version's agreement is the canary's baseline.
    if (servedLabel !== undefined) {
      await learning.record(serving.choice.role, { station: station.name, version: serving.choice.version, jobId: request.jobId, stepId: request.stepId, candidateLabel: servedLabel });
    }
  }
  const shadow = await learning.shadow(station.name, learnable.modelFileOption);
  if (shadow) {
    // The shadow answers the same input and is only recorded: a failing shadow never fails the step.
    try {
      const answer = await call(shadow.modelOptions, { enabled: false });
      const label = learnable.labelOf(answer.output);
      if (label !== undefined) {
        await learning.record('shadow', { station: station.name, version: shadow.version, jobId: request.jobId, stepId: request.stepId, candidateLabel: label });
        observed.shadow = { version: shadow.version, label };
      }
    } catch (error) {
      log(`conveyor: shadow ${shadow.version} of ${station.name} failed on ${request.jobId}/${request.stepId}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return Object.keys(observed).length > 0 ? { ...result, live: observed } : result;
}

/** What a model planner is asked: the job, the stations (and actions) it may use, the previous attempt's problems. */
export interface PlannerRequest {
  jobType: string;
  description: string;
  input: unknown;
  modelId: string;
  repairHint?: string;
  stations: readonly { name: string; description: string; inputFields: readonly string[] }[];
  actions: readonly { name: string; description: string }[];
}

/** The planner has no offline model: the local provider refuses it with this. */
const plannerOffline = (): never => {
  throw new UnsupportedSkillError('the planner has no local model: planning needs a large LLM (or a recipe); route it to a remote provider');
};

/** One plan from a large model, in the schema given; the prompt lists action steps only when there are actions. */
export async function askPlanner(gateway: ModelGateway, request: PlannerRequest, schema: z.ZodType): Promise<PlanResult> {
  const stepShape = request.actions.length
    ? '{"steps": [...]} where a step is either {"id", "station", "inputs": {field: wire}, "when"?} or {"id", "action", "proposal": wire, "when"?}, '
    : '{"steps": [{"id", "station", "inputs": {field: wire}, "when"?}]} ';
  const system =
    `You are the planner of an AI factory. Write a plan as JSON ${stepShape}` +
    'using only these stations (name: description; inputs):\n' +
    request.stations.map((s) => `- ${s.name}: ${s.description}; inputs ${s.inputFields.join(', ')}`).join('\n') +
    (request.actions.length ? `\nand these actions:\n${request.actions.map((a) => `- ${a.name}: ${a.description}`).join('\n')}` : '') +
    '\nA wire is "$job.<field>" (the job input) or "$steps.<stepId>.<field>" (an earlier step\'s output).';
  const prompt = [
    `Job type: ${request.jobType} (${request.description})`,
    `Job input: ${JSON.stringify(request.input)}`,
    request.repairHint ? `Your previous plan was invalid: ${request.repairHint}. Fix exactly these problems.` : '',
  ]
    .filter(Boolean)
    .join('\n');
  try {
    const outcome = await gateway.call({
      modelId: request.modelId,
      station: 'plan',
      local: plannerOffline,
      input: { jobType: request.jobType, input: request.input },
      system,
      prompt,
      schema,
      signal: Context.current().cancellationSignal,
      // Asked again (its activity or workflow task ran again), the plan is settled by its first answer and cost.
      settles: settlementOf(Context.current(), { stepId: 'plan', call: request.repairHint ? 2 : 1 }),
    });
    return { plan: outcome.output, costUsd: outcome.costUsd, modelId: outcome.modelId };
  } catch (error) {
    throw toApplicationFailure(error);
  }
}

export function createActivities({ gateway, outbox, claims, catalogue, live, log = (message) => console.warn(message) }: ActivityDependencies) {
  return {

    async loadModelCatalog(): Promise<ModelSpec[]> {
      return gateway.models();
    },

    async callModel(request: ModelCallRequest): Promise<ModelCallResult> {
      const station = catalogue.station(request.station);
      return answerStation({ gateway, live, log }, station, request);
    },

    /** Screens the job's text for prompt injection (patterns plus the local classifier). */
    async screenInput(request: { jobId: string; text: string }): Promise<ScreeningResult> {
      return defaultScreener().screen(request.text);
    },

    async planWithModel(request: PlanRequest): Promise<PlanResult> {
      const jobType = catalogue.jobType(request.jobType);
      return askPlanner(gateway, { ...request, jobType: jobType.name, description: jobType.description, stations: catalogue.planStations, actions: [] }, planSchema);
    },

    async executeAction(request: ActionRequest): Promise<ActionReceipt> {
      const idempotencyKey = `${request.jobId}:${request.stepId}`;
      const receipt = await outbox.execute({ idempotencyKey, jobId: request.jobId, stepId: request.stepId, action: request.action, approvedBy: request.approvedBy });
      return { idempotencyKey, ...receipt };
    },

    /** The batch's job count; a claim check's hash is verified first. */
    async countBatchJobs(file: string, sha256?: string): Promise<number> {
      let count = 0;
      for await (const line of batchLines(claims, file, sha256)) if (line.trim()) count++;
      return count;
    },

    async readBatchJobs(file: string, offset: number, limit: number): Promise<JobRequest[]> {
      const jobs: JobRequest[] = [];
      let index = 0;
      let lineNumber = 0;
      for await (const line of batchLines(claims, file)) {
        lineNumber++;
        if (!line.trim()) continue;
        if (index++ < offset) continue;
        if (jobs.length >= limit) break;
        const parsed = jobRequestSchema.safeParse(safeJson(line));
        if (!parsed.success) {
          throw ApplicationFailure.nonRetryable(`${file}:${lineNumber}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`, 'InvalidJobInputError');
        }
        jobs.push(parsed.data);
      }
      return jobs;
    },
  };
}

/** A batch's JSONL lines: a claim's verified content (from the claims directory or PostgreSQL), or a plain file's. */
async function* batchLines(claims: ClaimStore, file: string, sha256?: string): AsyncIterable<string> {
  let content: string | undefined;
  try {
    const claim = claimOfBatch(file, sha256);
    if (claim) content = await claims.get(claim);
  } catch (error) {
    if (error instanceof ClaimCheckError) throw ApplicationFailure.nonRetryable(error.message, error.name);
    throw error;
  }
  if (content === undefined) yield* readLines(file);
  else yield* content.split(/\r?\n/);
}

function readLines(file: string): AsyncIterable<string> {
  if (!fs.existsSync(file)) throw ApplicationFailure.nonRetryable(`batch file ${file} does not exist on the worker`, 'BatchFileNotFoundError');
  return readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity });
}

function safeJson(line: string): unknown {
  try {
    return JSON.parse(line) as unknown;
  } catch {
    return undefined;
  }
}
