/**
 * The activities of a factory's jobs: where the team's code runs (prompts, offline answerers, confidence
 * rules, sensitivity, execute), never in the workflow. The workflow sees plain data only: the job type's
 * snapshot at job start, answers with their scored confidence, the verdict on a proposal, receipts.
 */
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { JobBudget } from '../domain/budget';
import { InvalidJobInputError, type PolicyOverrides } from '../domain/job';
import { executionOf, tiers, type Tier } from '../domain/model-kinds';
import { isActionStep, isFanOut, orderSteps, resolveProposal, resolveStepInputs, stepDependencies } from '../domain/recipe';
import { route } from '../domain/routing';
import { effectiveJobPolicy, stationRouter } from '../factory/job-policy';
import { validateFactoryJob } from '../factory';
import { agreementKey, cheaperTierConfidence, scoreConfidenceWithScorer, type ScoredConfidence } from '../factory/confidence';
import {
  PermanentActionError,
  RetryableActionError,
  type ActionContext,
  type AnyStation,
  type CheaperTierConfidence,
  type Factory,
  type JobView,
  type LearnedScorerConfidence,
  type SamplesConfidence,
  type Sensitivity,
} from '../factory/define';
import { actionFacts, DEFAULT_SAMPLE_TEMPERATURE, recipeScoped, snapshotJobType, stationFacts, type ActionFacts, type JobDefinition, type ResolvedJobPolicy, type StationFacts } from '../factory/snapshot';
import { EVIDENCE_EXCERPT_CHARS } from '../domain/actions';
import { addUsage, type ModelSpec } from '../domain/models';
import { screeningText, type ScreeningResult } from '../domain/screening';
import { ModelRegistryError } from '../learning/model-registry';
import { loadRouter, type RouterDecision } from '../learning/router';
import { loadScorer } from '../learning/scorer';
import { toApplicationFailure } from '../providers/errors';
import { labelFrom, textFrom } from '../domain/learnable';
import { recipePlanSchema } from '../domain/recipe-plan';
import type { LiveModels } from '../learning/live';
import type { ModelGateway } from '../providers/gateway-types';
import { answerStation, askPlanner, modelCallHeartbeat, settlementOf, stationCall, type AnswerableStation } from './index';
import type { ActionReceiptStore } from './outbox';
import type { ModelCallRequest, ModelCallResult } from './types';

export interface FactoryActivityDependencies {
  factory: Factory;
  gateway: ModelGateway;
  /** The worker's local action log, which `context.localLog` writes (a demo's sink, not a delivery). */
  outbox: ActionReceiptStore;
  live?: LiveModels;
  log?: (message: string) => void;
  /** Where `context.secret(variable)` reads the secrets actions name (default: the process's environment). */
  env?: Readonly<Record<string, string | undefined>>;
}

/** A station's answer with the confidence its definition's rule gives it (null: the rule found none), and which scorer gave it. */
export interface StationCallResult extends ModelCallResult {
  stationConfidence: number | null;
  /** See ScoredConfidence.scorer (factory/confidence.ts). Absent in histories from before scorers were named. */
  scorer?: string | null;
  /**
   * The call this answers (station and call number of its step), echoed from the request: a local
   * activity's marker keeps the result but not the input. Absent in histories from before local steps.
   */
  answers?: { station: string; stepId: string; call: number };
  /** The assessment of the action that reads this answer, given ahead when the request asked for it (`assessAhead`). */
  ahead?: AnswerAhead[];
}

/**
 * An answer given ahead: a local activity's result for a request the job's workflow is about to make
 * (workflows/answers-ahead.ts). The workflow takes it only when its own request is the same, so the
 * answer is the one a local activity of its own would have given a few milliseconds later.
 */
export type AnswerAhead =
  | { activity: 'callStation'; request: ModelCallRequest; result: StationCallResult }
  | { activity: 'assessProposal'; request: AssessProposalRequest; result: ProposalAssessment };

/**
 * What a station call needs to assess, once it has its answer, the action step that reads it: the
 * step, its proposal's wires and settings, the job's input and the outputs and confidences of the steps
 * done when the call was made (the answer joins them).
 */
export interface AssessAhead {
  jobType: string;
  stepId: string;
  action: string;
  proposal: string | Record<string, string>;
  settings: unknown;
  input: unknown;
  outputs: Record<string, unknown>;
  confidences: Record<string, number | null>;
}

/**
 * The station calls a local activity's recorded result answers, for readers of a job's history: a
 * `callStation` marker's own result, and the calls any local activity (the job's start, a station call)
 * answered ahead. An answer ahead the workflow did not take is followed in the history by the workflow's
 * own call of the same number.
 */
export function stationCallsAnswered(activityType: string | undefined, result: Partial<StationCallResult> | undefined): StationCallResult[] {
  if (!result) return [];
  const ahead = (result.ahead ?? []).flatMap((answer) => (answer.activity === 'callStation' ? [answer.result] : []));
  return activityType === 'callStation' ? [result as StationCallResult, ...ahead] : ahead;
}

/** A station call's request, and — for a local step whose answer an action reads — that action to assess ahead. */
export interface StationCallRequest extends ModelCallRequest {
  assessAhead?: AssessAhead;
  /** For a station whose confidence checks a cheaper tier: the answer this step got at a lower tier before it escalated. */
  cheaper?: CheaperAnswer;
}

/** An answer a cheaper tier gave to the same step, for `{ from: 'cheaper-tier' }` to compare with. */
export interface CheaperAnswer {
  modelId: string;
  tier: Tier;
  output: unknown;
}

export interface AssessProposalRequest {
  jobId: string;
  jobType: string;
  stepId: string;
  action: string;
  proposal: unknown;
  /** The action's settings from the job's definition snapshot (not the worker's current policy). */
  settings: unknown;
  input: unknown;
  outputs: Record<string, unknown>;
  confidences: Record<string, number | null>;
}

/** The factory's verdict on a proposal: invalid (problem), nothing to do (skip), or who must approve it. */
export interface ProposalAssessment {
  problem?: string;
  skip?: string;
  sensitivity?: { reason: string; approvals: 1 | 2 };
}

export interface RunActionRequest {
  jobId: string;
  stepId: string;
  action: string;
  proposal: unknown;
  approvedBy: string[];
  /** Set by the delivery loop (absent in histories from before it: then the key is `<jobId>:<stepId>`). */
  idempotencyKey?: string;
  attempt?: number;
  requestedAt?: string;
}

export interface ActionOutcome {
  idempotencyKey: string;
  executedAt: string;
  /** False when the local action log already held this key (a retry after a crash): it was not written twice. */
  firstExecution: boolean;
  receipt?: Record<string, unknown>;
}

/** What a failed attempt tells the delivery loop (the failure's details): when to retry, and the evidence. */
export interface ActionFailureDetails {
  retryAfterMs?: number;
  status?: number;
  bodyExcerpt?: string;
}


export interface RouteStepRequest {
  jobId: string;
  stepId: string;
  station: string;
  input: unknown;
  router: { id: string; version?: string };
}

/** The router's decision, or why there is none (then the step starts at the station's default tier). */
export type RouteStepAnswer = { decision: RouterDecision; problem?: undefined } | { problem: string; decision?: undefined };

export interface PlanJobRequest {
  jobId: string;
  jobType: string;
  description: string;
  input: unknown;
  modelId: string;
  repairHint?: string;
  stations: { name: string; description: string; inputFields: string[] }[];
  actions: { name: string; description: string }[];
}

const nonRetryable = (type: string, message: string, details?: unknown) => ApplicationFailure.create({ type, message, nonRetryable: true, ...(details ? { details: [details] } : {}) });

const issuesText = (issues: readonly { path: PropertyKey[]; message: string }[], root: string) =>
  issues.map((issue) => `${issue.path.map(String).join('.') || root}: ${issue.message}`).join('; ');

function normalizeSensitivity(value: Sensitivity): ProposalAssessment['sensitivity'] {
  if (value === undefined) return undefined;
  if (typeof value === 'string') return { reason: value, approvals: 1 };
  return { reason: value.reason, approvals: value.approvals === 2 ? 2 : 1 };
}

/** What a learned router reads of a step's input: the station's `learnable` text field, else the input as JSON. */
export function routerText(station: Pick<AnyStation, 'learnable'>, input: unknown): string {
  return textFrom(station.learnable, input) ?? JSON.stringify(input);
}

/**
 * How the activities answer a factory station: its prompt and schema, how it answers offline, and —
 * for a learnable station answered by a classifier that reads a model file — how the learning registry
 * takes part (the label under `learnable`, the classifier's `modelFileOption`).
 */
export function answerableStation(station: AnyStation): AnswerableStation {
  const local = station.local;
  const learnable = station.learnable;
  const modelFileOption = typeof local === 'object' ? local.modelFileOption : undefined;
  const rule = station.confidence;
  const logprobs = typeof rule !== 'function' && rule.from === 'logprobs' ? { field: rule.field ?? learnable?.label } : undefined;
  return {
    name: station.name,
    prompt: (input) => station.prompt(input),
    output: station.output,
    ...(local !== undefined ? { local } : {}),
    ...(logprobs ? { logprobs: logprobs.field !== undefined ? { field: logprobs.field } : {} } : {}),
    ...(learnable && modelFileOption ? { learning: { labelOf: (output: unknown) => labelFrom(learnable, output), modelFileOption } } : {}),
  };
}

export function createFactoryActivities({ factory, gateway, outbox, live, log = (message) => console.warn(message), env = process.env }: FactoryActivityDependencies) {
  const snapshots = new Map<string, JobDefinition>();
  const specs = new Map(gateway.models().map((model) => [model.id, model]));
  const specOf = (modelId: string) => specs.get(modelId);

  /** A learned scorer's P(right) for the answer, from the learning registry the worker serves (`live`). */
  const scoreWithLearnedScorer = async (rule: LearnedScorerConfidence, station: AnyStation, input: unknown, result: ModelCallResult): Promise<ScoredConfidence> => {
    if (!live) throw nonRetryable('ConfidenceRuleError', `station ${station.name}: its confidence comes from learned scorer ${rule.id}, but this worker serves no learning registry`);
    const text = textFrom(station.learnable, input);
    const answer = labelFrom(station.learnable, result.output);
    if (text === undefined || answer === undefined) {
      return rule.otherwise !== undefined ? { confidence: rule.otherwise, scorer: 'constant' } : { confidence: null, scorer: null };
    }
    const scorer = await loadScorer(live.registryStore, rule.id, rule.version);
    return { confidence: scorer.score({ text, answer, modelConfidence: result.confidence }), scorer: `scorer:${scorer.id}@${scorer.version}` };
  };
  const stationNamed = (name: string): AnyStation => {
    const station = factory.stations.get(name);
    if (!station) throw nonRetryable('UnknownStationError', `factory ${factory.name} ${factory.version} has no station "${name}" (stations: ${[...factory.stations.keys()].join(', ')})`);
    return station;
  };
  const actionNamed = (name: string) => {
    const action = factory.actions.get(name);
    if (!action) throw nonRetryable('UnknownActionError', `factory ${factory.name} ${factory.version} has no action "${name}"`);
    return action;
  };

  const assessProposal = async (request: AssessProposalRequest): Promise<ProposalAssessment> => {
    const action = actionNamed(request.action);
    const parsed = action.proposal.safeParse(request.proposal);
    if (!parsed.success) return { problem: issuesText(parsed.error.issues, 'proposal') };
    const skip = action.skip?.(parsed.data);
    if (skip) return { skip };
    const job: JobView = { jobId: request.jobId, jobType: request.jobType, input: request.input, outputs: request.outputs, confidences: request.confidences };
    const sensitivity = normalizeSensitivity(action.sensitivity?.(parsed.data, request.settings, job));
    return sensitivity ? { sensitivity } : {};
  };

  return {
    /**
     * The job's definition, taken once at its start and kept in its history: the snapshot of its job type
     * and its input checked against the type's schema (a bad input fails the job before anything runs).
     */
    async loadJobDefinition(request: { jobId: string; type: string; input: unknown }): Promise<{ definition: JobDefinition; input: unknown }> {
      let validated;
      try {
        validated = validateFactoryJob(factory, { id: request.jobId, type: request.type, input: request.input });
      } catch (error) {
        if (error instanceof InvalidJobInputError) throw nonRetryable(error.name, error.message, error.issues);
        throw error;
      }
      let definition = snapshots.get(request.type);
      if (!definition) snapshots.set(request.type, (definition = snapshotJobType(factory, request.type)));
      return { definition, input: validated.input };
    },

    /** The factory's stations and actions as plain data (for workflows that call the primitives). */
    async describeFactory(): Promise<{ name: string; version: string; stations: Record<string, StationFacts>; actions: Record<string, ActionFacts> }> {
      return {
        name: factory.name,
        version: factory.version,
        stations: Object.fromEntries([...factory.stations.values()].map((station) => [station.name, stationFacts(station)])),
        actions: Object.fromEntries([...factory.actions.values()].map((action) => [action.name, actionFacts(action)])),
      };
    },

    /** One model call of a station step; the answer's confidence is scored by the station's own rule. */
    async callStation({ assessAhead, ...request }: StationCallRequest): Promise<StationCallResult> {
      const station = stationNamed(request.station);
      const parsed = station.input.safeParse(request.input);
      if (!parsed.success) throw nonRetryable('StationInputError', `step "${request.stepId}" (${station.name}): ${issuesText(parsed.error.issues, 'input')}`);
      const answerable = answerableStation(station);
      let result = await traceModelCall(specOf(request.modelId), request, () => answerStation({ gateway, live, log }, answerable, { ...request, input: parsed.data }));
      const rule = station.confidence;
      let scored: ScoredConfidence;
      try {
        if (typeof rule !== 'function' && rule.from === 'samples') {
          const sampled = await sampleAgreement(gateway, answerable, rule, station.learnable?.label, { ...request, input: parsed.data }, result);
          result = sampled.result;
          scored = { confidence: sampled.agreement, scorer: `samples:${rule.k}` };
        } else if (typeof rule !== 'function' && rule.from === 'scorer') {
          scored = await scoreWithLearnedScorer(rule, station, parsed.data, result);
        } else if (typeof rule !== 'function' && rule.from === 'cheaper-tier') {
          const checked = await checkAgainstCheaperTier(gateway, answerable, station, rule, { ...request, input: parsed.data }, result);
          result = checked.result;
          scored = checked.scored;
        } else {
          scored = scoreConfidenceWithScorer(rule, result.output, result.confidence, result.confidenceSource);
        }
      } catch (error) {
        if (error instanceof ModelRegistryError) throw nonRetryable('ConfidenceRuleError', `station ${station.name}: ${error.message}`);
        if (error instanceof ApplicationFailure) throw error;
        throw nonRetryable('ConfidenceRuleError', `station ${station.name}: its confidence rule threw: ${error instanceof Error ? error.message : String(error)}`);
      }
      const stationConfidence = scored.confidence;
      if (stationConfidence !== null && !(Number.isFinite(stationConfidence) && stationConfidence >= 0 && stationConfidence <= 1)) {
        throw nonRetryable('ConfidenceRuleError', `station ${station.name}: its confidence rule gave ${String(stationConfidence)}, not a number in [0, 1]`);
      }
      const answered: StationCallResult = { ...result, stationConfidence, scorer: scored.scorer, answers: { station: request.station, stepId: request.stepId, call: request.call } };
      if (!assessAhead) return answered;
      const assessment = assessmentRequestAhead(request.jobId, assessAhead, { stepId: request.stepId, output: result.output, confidence: stationConfidence });
      // Ahead is only ahead: an assessment that throws here is left to the workflow's own call, which reports it.
      const verdict = await assessProposal(assessment).catch(() => undefined);
      return verdict ? { ...answered, ahead: [{ activity: 'assessProposal', request: assessment, result: verdict }] } : answered;
    },

    /**
     * A learned router's say on a step's starting tier (policy.router): the registered router reads the
     * step's input text and answers whether the station's default tier suffices. A router that cannot be
     * loaded is a `problem` the job records, and the step starts at its default tier.
     */
    async routeStep(request: RouteStepRequest): Promise<RouteStepAnswer> {
      const station = stationNamed(request.station);
      if (!live) return { problem: `router ${request.router.id}: this worker serves no learning registry` };
      try {
        const router = await loadRouter(live.registryStore, request.router.id, request.router.version);
        return { decision: router.decide(routerText(station, request.input)) };
      } catch (error) {
        if (error instanceof ModelRegistryError) return { problem: error.message };
        throw error;
      }
    },

    /** A plan written by a large model from the factory's stations and actions. */
    async planJob(request: PlanJobRequest): Promise<{ plan: unknown; costUsd: number; modelId: string }> {
      return askPlanner(gateway, request, recipePlanSchema);
    },

    /** The factory's verdict on a proposal (a model's, or a reviewer's edit): valid? nothing to do? who must approve? */
    assessProposal,

    /**
     * One attempt to run an approved (or not sensitive) action: the team's `execute` with the idempotency
     * key the delivery loop gives (the same on every retry, after a crash and after a replay). A failure
     * says whether retrying can help: `ActionAttemptError` (retried by the workflow, honouring the
     * receiver's Retry-After in its details) or `ActionRefusedError` (not retried: a person decides).
     * Secrets the action read are cut out of every message.
     */
    async runAction(request: RunActionRequest): Promise<ActionOutcome> {
      const idempotencyKey = request.idempotencyKey ?? `${request.jobId}:${request.stepId}`;
      const action = actionNamed(request.action);
      const parsed = action.proposal.safeParse(request.proposal);
      if (!parsed.success) throw nonRetryable('InvalidProposalError', `action ${action.name}: ${issuesText(parsed.error.issues, 'proposal')}`);
      const activity = Context.current();
      const secretsRead = new Set<string>();
      let logged: { firstExecution: boolean; executedAt: string } | undefined;
      const context: ActionContext = {
        idempotencyKey,
        jobId: request.jobId,
        stepId: request.stepId,
        approvedBy: [...request.approvedBy],
        signal: activity.cancellationSignal,
        attempt: request.attempt ?? activity.info.attempt,
        requestedAt: request.requestedAt ?? new Date().toISOString(),
        secret: (variable) => {
          const value = env[variable];
          if (!value) throw new PermanentActionError(`the secret variable ${variable} is not set on this worker: set it in the worker's environment and retry`);
          for (const part of value.split(/\s+/).filter(Boolean)) secretsRead.add(part);
          secretsRead.add(value);
          return value;
        },
        localLog: async (receipt) => {
          logged = await outbox.execute({ idempotencyKey, jobId: request.jobId, stepId: request.stepId, action: parsed.data as Record<string, unknown>, approvedBy: request.approvedBy, actionName: action.name, ...(receipt ? { receipt } : {}) });
          return logged;
        },
      };
      const scrub = (text: string) => [...secretsRead].sort((a, b) => b.length - a.length).reduce((clean, secret) => clean.split(secret).join('[secret]'), text);
      // A heartbeat every few seconds: a worker that dies mid-attempt is noticed in seconds, not at the timeout.
      const beat = setInterval(() => activity.heartbeat(), 3000);
      let receipt;
      try {
        receipt = await action.execute(parsed.data, context);
      } catch (error) {
        throw attemptFailure(action.name, idempotencyKey, error, scrub);
      } finally {
        clearInterval(beat);
      }
      const kept = receipt && typeof receipt === 'object' ? (JSON.parse(scrub(JSON.stringify(receipt))) as Record<string, unknown>) : undefined;
      return { idempotencyKey, executedAt: logged?.executedAt ?? new Date().toISOString(), firstExecution: logged?.firstExecution ?? true, ...(kept ? { receipt: kept } : {}) };
    },
  };
}

/**
 * A model call as a span with the OpenTelemetry GenAI conventions' attributes (a no-op without tracing):
 * operation, provider, requested and answering model, token usage — never the prompt or the answer.
 */
async function traceModelCall(model: ModelSpec | undefined, request: ModelCallRequest, call: () => Promise<ModelCallResult>): Promise<ModelCallResult> {
  const attributes = {
    'gen_ai.operation.name': 'chat',
    ...(model ? { 'gen_ai.provider.name': model.provider, 'gen_ai.request.model': model.providerModel, 'conveyor.tier': model.tier } : {}),
    'conveyor.station': request.station,
    'conveyor.step': request.stepId,
    'conveyor.model_id': request.modelId,
  };
  return trace.getTracer('conveyor').startActiveSpan(`chat ${model?.providerModel ?? request.modelId}`, { kind: SpanKind.CLIENT, attributes }, async (span) => {
    try {
      const result = await call();
      span.setAttributes({
        'gen_ai.response.model': result.modelVersion ?? result.modelId,
        'gen_ai.usage.input_tokens': result.usage.inputTokens,
        'gen_ai.usage.output_tokens': result.usage.outputTokens,
        'conveyor.cache_hit': result.cacheHit,
        'conveyor.cost_usd': result.costUsd,
      });
      return result;
    } catch (error) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.name : 'error' });
      span.setAttribute('error.type', error instanceof Error ? error.name : 'error');
      throw error;
    } finally {
      span.end();
    }
  });
}

/**
 * `{ from: 'cheaper-tier' }`: the answer compared with a cheaper tier's. The step's own earlier answer at a
 * lower tier when it passed one along; else one call of the cheapest fitting model of the nearest lower
 * tier, with the tier's failover order as routing gives it and the cache as for any call (a cached answer
 * is that model's answer to this input, and costs nothing again), its tokens and cost added to the
 * answer's; at the cheapest tier, the model's own probability, then `otherwise`.
 */
async function checkAgainstCheaperTier(
  gateway: ModelGateway,
  answerable: AnswerableStation,
  station: AnyStation,
  rule: CheaperTierConfidence,
  request: StationCallRequest,
  answer: ModelCallResult,
): Promise<{ result: ModelCallResult; scored: ScoredConfidence }> {
  const models = gateway.models();
  const answeredTier = models.find((model) => model.id === answer.modelId)?.tier;
  const below = answeredTier === undefined ? [] : tiers.slice(0, tiers.indexOf(answeredTier)).reverse();
  const learnableLabel = station.learnable?.label;
  if (request.cheaper && below.includes(request.cheaper.tier)) {
    return { result: answer, scored: cheaperTierConfidence(rule, learnableLabel, answer.output, request.cheaper) };
  }
  const inputChars = JSON.stringify(request.input).length;
  for (const tier of below) {
    const decision = route({ station: { name: station.name, defaultTier: tier, maxOutputTokens: station.maxOutputTokens }, models, inputChars, longInputChars: Infinity, budgetRemainingUsd: Infinity });
    if (decision.kind !== 'model' || decision.tier !== tier) continue;
    let cheaper: ModelCallResult;
    try {
      cheaper = await stationCall(gateway, answerable, {
        modelId: decision.model.id,
        input: request.input,
        ...(decision.fallbacks.length > 0 ? { fallbacks: decision.fallbacks.map((model) => model.id) } : {}),
        signal: Context.current().cancellationSignal,
        ...modelCallHeartbeat(Context.current()),
        settles: settlementOf(Context.current(), request, 'cheaper'),
      });
    } catch (error) {
      throw toApplicationFailure(error);
    }
    return {
      result: { ...answer, usage: addUsage(answer.usage, cheaper.usage), costUsd: answer.costUsd + cheaper.costUsd },
      scored: cheaperTierConfidence(rule, learnableLabel, answer.output, { modelId: cheaper.modelId, output: cheaper.output }),
    };
  }
  return { result: answer, scored: scoreConfidenceWithScorer(rule, answer.output, answer.confidence, answer.confidenceSource) };
}

/**
 * Agreement of k samples: k − 1 more answers of the same model (at the rule's temperature, uncached), each
 * compared with the first on the rule's field; the confidence is the share of the k that agree. The
 * extra calls' tokens and cost are added to the first call's, so the ledger and the budget see them all.
 */
async function sampleAgreement(
  gateway: ModelGateway,
  station: AnswerableStation,
  rule: SamplesConfidence,
  learnableLabel: string | undefined,
  request: ModelCallRequest,
  first: ModelCallResult,
): Promise<{ result: ModelCallResult; agreement: number }> {
  const context = Context.current();
  const field = rule.field ?? learnableLabel;
  const key = agreementKey(first.output, field);
  let agreeing = 1;
  let usage = first.usage;
  let cost = first.costUsd;
  for (let sample = 2; sample <= rule.k; sample++) {
    let answer;
    try {
      answer = await stationCall(gateway, station, {
        modelId: first.modelId,
        input: request.input,
        temperature: rule.temperature ?? DEFAULT_SAMPLE_TEMPERATURE,
        cache: { enabled: false },
        signal: context.cancellationSignal,
        ...modelCallHeartbeat(context),
      });
    } catch (error) {
      throw toApplicationFailure(error);
    }
    usage = addUsage(usage, answer.usage);
    cost += answer.costUsd;
    if (agreementKey(answer.output, field) === key) agreeing++;
  }
  return { result: { ...first, usage, costUsd: cost }, agreement: agreeing / rule.k };
}

/** A failed attempt as the delivery loop reads it: retryable or not, with its evidence; no secret in the message. */
function attemptFailure(actionName: string, idempotencyKey: string, error: unknown, scrub: (text: string) => string): ApplicationFailure {
  const message = scrub(`action ${actionName} (${idempotencyKey}): ${error instanceof Error ? error.message : String(error)}`);
  const details = (evidence: { status?: number | undefined; bodyExcerpt?: string | undefined; retryAfterMs?: number | undefined }): ActionFailureDetails => ({
    ...(evidence.status !== undefined ? { status: evidence.status } : {}),
    ...(evidence.bodyExcerpt !== undefined ? { bodyExcerpt: scrub(evidence.bodyExcerpt).slice(0, EVIDENCE_EXCERPT_CHARS) } : {}),
    ...(evidence.retryAfterMs !== undefined ? { retryAfterMs: evidence.retryAfterMs } : {}),
  });
  if (error instanceof PermanentActionError) return ApplicationFailure.create({ type: 'ActionRefusedError', message, nonRetryable: true, details: [details(error.evidence)] });
  if (error instanceof ApplicationFailure && error.nonRetryable) return ApplicationFailure.create({ type: 'ActionRefusedError', message, nonRetryable: true, details: [{}] });
  if (error instanceof RetryableActionError) return ApplicationFailure.create({ type: 'ActionAttemptError', message, details: [details(error.options)] });
  return ApplicationFailure.create({ type: 'ActionAttemptError', message, details: [{}] });
}

export type FactoryActivities = ReturnType<typeof createFactoryActivities>;

/** What a job needs before its first step, from one local activity (beginJob). */
export interface JobStart {
  definition: JobDefinition;
  /** The input as the job type's schema parsed it. */
  input: unknown;
  /** The reviewers' public keys the worker holds (none: signed decisions are off). */
  reviewerKeys: Record<string, string>;
  catalogue: ModelSpec[];
  screening: ScreeningResult;
  /** The job's opening station calls, answered ahead when the request asked (`answerAhead`); see {@link openingCalls}. */
  ahead?: AnswerAhead[];
}

export interface BeginJobRequest {
  jobId: string;
  type: string;
  input: unknown;
  /** The request's policy overrides: the opening calls are routed under the job's own policy. */
  policy?: PolicyOverrides;
  /** Answer the opening calls ahead (jobs started on engine v3; absent in histories from before). */
  answerAhead?: boolean;
}

/**
 * The station calls a job of this definition opens with, as its workflow will request them: the recipe's
 * station steps that read nothing but the job's input (no earlier step, no `when`, no fan-out, no learned
 * router), each routed as its first call is (domain/routing.ts, the job's budget reserved step by step in
 * recipe order) and answered in the worker's process. A model planner's job opens with its plan: none.
 */
export function openingCalls(jobId: string, definition: JobDefinition, policy: ResolvedJobPolicy, input: unknown, catalogue: readonly ModelSpec[]): ModelCallRequest[] {
  if (policy.planner !== 'recipe') return [];
  const budget = new JobBudget(policy.budgetUsd);
  const calls: ModelCallRequest[] = [];
  for (const step of orderSteps(definition.jobType.recipe.steps)) {
    if (isActionStep(step) || isFanOut(step) || step.when !== undefined || stepDependencies(step).length > 0) continue;
    const station = definition.stations[step.station];
    if (!station || stationRouter(policy, station.name)) continue;
    // What the step's local activity would receive: its wired input, through JSON.
    const stationInput = JSON.parse(JSON.stringify(resolveStepInputs(step.inputs, input, {}))) as unknown;
    const decision = route({ station, models: catalogue, inputChars: JSON.stringify(stationInput).length, longInputChars: policy.longInputChars, budgetRemainingUsd: budget.remainingUsd });
    if (decision.kind !== 'model') break;
    budget.reserve(step.id, decision.estimatedCostUsd);
    if (executionOf([decision.model, ...decision.fallbacks]) !== 'local') continue;
    calls.push({ jobId, stepId: step.id, call: 1, station: station.name, modelId: decision.model.id, input: stationInput, ...(decision.fallbacks.length > 0 ? { fallbacks: decision.fallbacks.map((model) => model.id) } : {}) });
  }
  return calls;
}

/** The assessment request the workflow will make for the action that reads a station's answer (see {@link AssessAhead}). */
export function assessmentRequestAhead(jobId: string, ahead: AssessAhead, answered: { stepId: string; output: unknown; confidence: number | null }): AssessProposalRequest {
  const outputs = { ...ahead.outputs, [answered.stepId]: answered.output };
  const proposal = resolveProposal(ahead.proposal, ahead.input, outputs);
  const request = { jobId, jobType: ahead.jobType, stepId: ahead.stepId, action: ahead.action, proposal, settings: ahead.settings, input: ahead.input, outputs, confidences: { ...ahead.confidences, [answered.stepId]: answered.confidence } };
  return JSON.parse(JSON.stringify(request)) as AssessProposalRequest;
}

/**
 * The start of a job in one local activity instead of four in a row: its definition and checked input,
 * the reviewers' keys, the model catalogue and the screening of its input — the same activities, called
 * in process, so a job of local steps reaches its first step in one round through the worker. Asked to,
 * it also answers the job's opening station calls ({@link openingCalls}) with `callStation`, so those
 * steps need no round of their own; a call that fails here is left to the workflow's own call.
 */
export function createJobStartActivity(parts: {
  loadJobDefinition: FactoryActivities['loadJobDefinition'];
  loadReviewerKeys: () => Promise<Record<string, string>>;
  loadModelCatalog: () => Promise<ModelSpec[]>;
  screenInput: (request: { jobId: string; text: string }) => Promise<ScreeningResult>;
  callStation: FactoryActivities['callStation'];
}) {
  return {
    async beginJob(request: BeginJobRequest): Promise<JobStart> {
      const loaded = await parts.loadJobDefinition(request);
      const { input } = loaded;
      // A job on engine v3 sends its policy overrides: one that will run its recipe needs only the recipe's stations and actions.
      const policy = request.answerAhead ? effectiveJobPolicy(loaded.definition.jobType.policy, request) : undefined;
      const definition = policy?.planner === 'recipe' ? recipeScoped(loaded.definition) : loaded.definition;
      const [reviewerKeys, catalogue, screening] = await Promise.all([parts.loadReviewerKeys(), parts.loadModelCatalog(), parts.screenInput({ jobId: request.jobId, text: screeningText(input) })]);
      const started: JobStart = { definition, input, reviewerKeys, catalogue, screening };
      if (!policy) return started;
      const calls = openingCalls(request.jobId, definition, policy, input, catalogue);
      const answered = await Promise.all(calls.map((call) => parts.callStation(call).then((result): AnswerAhead => ({ activity: 'callStation', request: call, result }), () => undefined)));
      const ahead = answered.filter((answer): answer is AnswerAhead => answer !== undefined);
      return ahead.length > 0 ? { ...started, ahead } : started;
    },
  };
}
export type JobStartActivities = ReturnType<typeof createJobStartActivity>;
