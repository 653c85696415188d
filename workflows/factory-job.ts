/**
 * The factory job workflow: interprets one job of any factory. At its start a recorded activity takes the
 * plain-data snapshot of the job type (recipe, policy, each station's tier, threshold and schemas), so the
 * job finishes and replays on the definition it started with, whatever the workers' code says later.
 * Then: screen the input, plan (the recipe, or a large model's plan checked against the definition), run
 * each step when the steps it reads from are done — stations through the step runner, actions through the
 * factory's assessment and the approval desk — and return the job's record.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import type { AssessAhead, JobStart } from '../activities/factory';
import { JobBudget } from '../domain/budget';
import type { ModelSpec } from '../domain/models';
import { screeningText } from '../domain/screening';
import type { JobRequest, JobResult } from '../domain/job';
import { invalidJobInput, jobRequestSchemaOf } from '../domain/job-request';
import { isActionStep, isFanOut, orderSteps, planProblemText, recipeProblems, resolveProposal, resolveRecipeWire, resolveStepInputs, stepDependencies, DEFAULT_FAN_OUT_CONCURRENCY, type RecipeFacts, type RecipeStep } from '../domain/recipe';
import { effectiveJobPolicy } from '../factory/job-policy';
import type { JobDefinition, ResolvedJobPolicy } from '../factory/snapshot';
import { factoryDesk, JobRejected } from './approval-desk';
import { loadReviewerKeys } from './decide-handlers';
import { JobRecorder } from './job-record';
import { asJobFailure, definitions, engine, failureSummary, jobStart, localModels, models } from './proxies';
import { internCatalogue, internDefinition } from './interned';
import { AnswersAhead } from './answers-ahead';
import { answersAheadOn, fewerPromisesOn, localStepsOn } from './patches';
import { executionFor, StepRunner } from './step-runner';

function parseRequest(raw: unknown): JobRequest {
  const parsed = jobRequestSchemaOf().safeParse(raw);
  if (parsed.success) return parsed.data;
  const error = invalidJobInput(parsed.error.issues);
  throw ApplicationFailure.create({ type: error.name, message: error.message, nonRetryable: true, details: [error.issues] });
}

/** What recipe checks know of a definition: field lists from its snapshot's schemas. */
export function recipeFactsOf(definition: JobDefinition, jobInputFields?: readonly string[]): RecipeFacts {
  const fieldsOf = (schema: Record<string, unknown>) => (schema.type === 'object' && schema.properties && typeof schema.properties === 'object' ? Object.keys(schema.properties) : undefined);
  return {
    ...(jobInputFields ? { jobInputFields } : {}),
    stations: new Map(
      Object.values(definition.stations).map((station) => {
        const outputFields = fieldsOf(station.outputSchema);
        return [station.name, { inputFields: station.inputFields, requiredInputFields: station.requiredInputFields, ...(outputFields ? { outputFields } : {}) }];
      }),
    ),
    actions: new Set(Object.keys(definition.actions)),
  };
}

export async function factoryJobWorkflow(rawRequest: JobRequest): Promise<JobResult> {
  const request = parseRequest(rawRequest);
  // Handlers first (an early query or decision gets an answer), the definition right after.
  // Known once the definition is loaded; the handlers registered before read them when a decision comes.
  const known: { policy?: ResolvedJobPolicy; runner?: StepRunner } = {};
  const recorder = new JobRecorder({ jobId: request.id, jobType: request.type, ...(request.batchId ? { batchId: request.batchId } : {}), upsertsAtWaits: true }, new JobBudget(0));
  const desk = factoryDesk({
    recorder,
    policy: () => known.policy!,
    input: request.input,
    requestedBy: request.requestedBy,
    checkApproval: (approval, merged) => (known.runner ? known.runner.checkApproval(approval, merged) : 'the job is not ready for decisions yet'),
  });
  recorder.registerQueries();
  desk.registerHandlers();
  recorder.publish('planning');

  const begun = await beginJob(request, recorder);
  const { definition, input } = begun;
  const policy = (known.policy = effectiveJobPolicy(definition.jobType.policy, request));
  recorder.budget = new JobBudget(policy.budgetUsd);
  recorder.definition = { factory: definition.factory.name, version: definition.version, hash: definition.hash };
  recorder.memo({ definition: recorder.definition });

  desk.reviewerKeys = { ...policy.approval.reviewerKeys, ...(begun.reviewerKeys ?? (await loadReviewerKeys())) };
  const catalogue = begun.catalogue ?? internCatalogue(await engine.loadModelCatalog());
  recorder.screening = begun.screening ?? (await engine.screenInput({ jobId: request.id, text: screeningText(input) }));
  if (recorder.screening.flagged) {
    recorder.decide({ stepId: 'screening', kind: 'screening', reason: `input flagged: ${recorder.screening.reasons.join(', ')}; every action needs a reviewer` });
  }
  const runner = (known.runner = new StepRunner({ jobId: request.id, jobType: request.type, input, recorder, desk, stations: definition.stations, actions: definition.actions, policy, models: catalogue, ...(begun.ahead ? { ahead: begun.ahead } : {}) }));

  // Engine v4: a recipe job's plan is the recipe, at once — no call, no promise.
  recorder.plan = policy.planner === 'recipe' && fewerPromisesOn() ? recipePlan(definition, recorder) : await makePlan(definition, policy, request, input, recorder, catalogue);
  recorder.memo({ plan: recorder.plan });
  recorder.publish('running');
  try {
    await executePlan(recorder.plan.steps, runner, recorder, input, policy);
  } catch (error) {
    if (error instanceof JobRejected) return recorder.finish('rejected', error.message);
    recorder.publish('failed');
    throw error;
  }
  return recorder.finish('completed');
}

/**
 * The job's start: its definition snapshot and checked input — and, for jobs started after the
 * local-steps patch, in the same one local activity, its reviewer keys, the model catalogue and the
 * screening; for jobs on engine v3 also the answers to its opening station calls (workflows/answers-ahead.ts).
 * The definition and catalogue come back interned (workflows/interned.ts). A function of its own, so the
 * activity's result, which carries its own copy of both, ends with it: a suspended job keeps only what
 * its frame still references.
 */
async function beginJob(
  request: JobRequest,
  recorder: JobRecorder,
): Promise<{ definition: JobDefinition; input: unknown; ahead?: AnswersAhead } & Partial<Pick<JobStart, 'reviewerKeys' | 'catalogue' | 'screening'>>> {
  try {
    const args = { jobId: request.id, type: request.type, input: request.input };
    const answerAhead = answersAheadOn();
    if (answerAhead || localStepsOn()) {
      const started = await jobStart.beginJob.executeWithOptions({ summary: `start ${request.type}: definition, reviewer keys, models, screening${answerAhead ? ', opening local steps' : ''}` }, [
        answerAhead ? { ...args, ...(request.policy ? { policy: request.policy } : {}), answerAhead } : args,
      ]);
      const ahead = answerAhead ? new AnswersAhead() : undefined;
      ahead?.offer(started.ahead);
      return { definition: internDefinition(started.definition), input: started.input, reviewerKeys: started.reviewerKeys, catalogue: internCatalogue(started.catalogue), screening: started.screening, ...(ahead ? { ahead } : {}) };
    }
    const loaded = await definitions.loadJobDefinition.executeWithOptions({ summary: `definition of ${request.type}` }, [args]);
    return { definition: internDefinition(loaded.definition), input: loaded.input };
  } catch (error) {
    recorder.publish('failed');
    throw asJobFailure(error);
  }
}

// ---- planning --------------------------------------------------------------------------------------

/** The job type's recipe as the plan, and the decision that says so. */
function recipePlan(definition: JobDefinition, recorder: JobRecorder): JobRecorder['plan'] {
  recorder.decide({ stepId: 'plan', kind: 'plan', reason: `recipe of ${definition.jobType.name} (definition ${definition.version})` });
  return { strategy: 'recipe', steps: definition.jobType.recipe.steps };
}

async function makePlan(definition: JobDefinition, policy: ResolvedJobPolicy, request: JobRequest, input: unknown, recorder: JobRecorder, catalogue: readonly ModelSpec[]): Promise<JobRecorder['plan']> {
  if (policy.planner === 'recipe') return recipePlan(definition, recorder);
  const recipe = { strategy: 'recipe' as const, steps: definition.jobType.recipe.steps };
  const fallBack = (reason: string) => {
    recorder.decide({ stepId: 'plan', kind: 'plan', reason: `fell back to the recipe: ${reason}` });
    return { ...recipe, fallbackReason: reason };
  };
  const planner = catalogue.filter((model) => model.tier === 'large').sort((a, b) => a.id.localeCompare(b.id))[0];
  if (!planner) return fallBack('no large model in the registry to plan with');
  const facts = recipeFactsOf(definition);
  let repairHint: string | undefined;
  for (let attempt = 1; attempt <= 2; attempt++) {
    let proposal;
    const execution = executionFor([planner]);
    if (execution !== 'local') recorder.flush();
    try {
      proposal = await (execution === 'local' ? localModels : models).planJob.executeWithOptions({ summary: `plan ${definition.jobType.name} with ${planner.id}${repairHint ? ' (repair)' : ''}` }, [
        {
          jobId: request.id,
          jobType: definition.jobType.name,
          description: definition.jobType.description,
          input,
          modelId: planner.id,
          ...(repairHint ? { repairHint } : {}),
          stations: Object.values(definition.stations).map((s) => ({ name: s.name, description: s.description, inputFields: s.inputFields })),
          actions: Object.values(definition.actions).map((a) => ({ name: a.name, description: a.description })),
        },
      ]);
    } catch (error) {
      return fallBack(`model planner failed: ${failureSummary(error)}`);
    }
    recorder.budget.reserve(`plan#${attempt}`, proposal.costUsd);
    recorder.budget.settle(`plan#${attempt}`, proposal.costUsd);
    const steps = (proposal.plan as { steps?: unknown }).steps;
    const problems = recipeProblems(steps, facts).map((problem) => planProblemText(steps, problem));
    if (problems.length === 0) {
      recorder.decide({ stepId: 'plan', kind: 'plan', reason: `model plan by ${planner.id}${attempt > 1 ? ' after one repair' : ''}`, modelId: planner.id, tier: 'large' });
      return { strategy: 'model', steps: steps as RecipeStep[] };
    }
    repairHint = problems.join('; ');
    recorder.decide({ stepId: 'plan', kind: 'plan', reason: `model plan invalid (attempt ${attempt}): ${repairHint}`, modelId: planner.id, tier: 'large' });
  }
  return fallBack(`model plan still invalid after one repair: ${repairHint}`);
}

// ---- execution -------------------------------------------------------------------------------------

/**
 * Each step starts when the steps it reads from are done; independent steps run in parallel. The first
 * failure fails the plan, and no step that reads from the failed one starts.
 */
function executePlan(steps: readonly RecipeStep[], runner: StepRunner, recorder: JobRecorder, input: unknown, policy: ResolvedJobPolicy): Promise<void> {
  const plan = { steps, finished: new Set<string>() };
  const run = (step: RecipeStep, ends?: StepEnds) => runStep(step, runner, recorder, input, policy, plan, ends);
  return fewerPromisesOn() ? scheduleSteps(orderSteps(steps), run) : chainSteps(orderSteps(steps), run);
}

/**
 * Engine v4: one scheduler starts each step, in plan order, as soon as the last step it reads from is done,
 * and each step tells it how it ended — one promise per step (its run) where a chain made five or more.
 */
function scheduleSteps(ordered: readonly RecipeStep[], run: (step: RecipeStep, ends?: StepEnds) => Promise<void>): Promise<void> {
  return new Promise((resolve, reject) => {
    // As the chain read them: a step waits for the earlier steps it reads from (orderSteps puts those first).
    const waitingFor = new Map<string, Set<string>>();
    for (const step of ordered) waitingFor.set(step.id, new Set(stepDependencies(step).filter((id) => waitingFor.has(id))));
    let unfinished = ordered.length;
    let failed = false;
    const start = (step: RecipeStep) => {
      waitingFor.delete(step.id);
      void run(step, { finished: finish, failed: fail });
    };
    // A step's failure is what it threw (an ApplicationFailure, an ActivityFailure): passed on as it is.
    const fail = (error: Error) => {
      failed = true;
      reject(error);
    };
    const finish = (id: string) => {
      if (failed) return;
      if (--unfinished === 0) return resolve();
      for (const step of ordered) {
        const waiting = waitingFor.get(step.id);
        if (waiting?.delete(id) && waiting.size === 0) start(step);
      }
    };
    if (unfinished === 0) return resolve();
    for (const step of ordered) if (waitingFor.get(step.id)?.size === 0) start(step);
  });
}

/** Before engine v4: a promise chain per step, `Promise.all` of the steps it reads from, then the step. */
async function chainSteps(ordered: readonly RecipeStep[], run: (step: RecipeStep) => Promise<void>): Promise<void> {
  const done = new Map<string, Promise<void>>();
  for (const step of ordered) {
    const dependencies = stepDependencies(step).map((id) => done.get(id)!);
    done.set(step.id, Promise.all(dependencies).then(() => run(step)));
  }
  await Promise.all(done.values());
}

/**
 * The action step a station step's answer lets start, for its call to assess ahead: one that reads the
 * step, has no `when`, and waits for nothing else unfinished. Undefined when there is none, or the job
 * takes no answers ahead.
 */
function assessAheadFor(step: RecipeStep, plan: { steps: readonly RecipeStep[]; finished: ReadonlySet<string> }, runner: StepRunner, recorder: JobRecorder, input: unknown, policy: ResolvedJobPolicy): AssessAhead | undefined {
  if (!runner.answersAhead) return undefined;
  const next = plan.steps.filter(isActionStep).find((candidate) => candidate.when === undefined && stepDependencies(candidate).includes(step.id) && stepDependencies(candidate).every((id) => id === step.id || plan.finished.has(id)));
  if (!next) return undefined;
  return { jobType: recorder.identity.jobType, stepId: next.id, action: next.action, proposal: next.proposal, settings: policy.actions[next.action], input, outputs: { ...recorder.outputs }, confidences: { ...recorder.confidences } };
}

/** How a step scheduled by {@link scheduleSteps} reports its end: its promise is not awaited, so it never rejects. */
interface StepEnds {
  finished(stepId: string): void;
  /** What the step threw (an ApplicationFailure, an ActivityFailure, a cancellation). */
  failed(error: Error): void;
}

/** One step of the plan; with `ends` (engine v4's scheduler) it reports how it ended instead of rejecting. */
async function runStep(step: RecipeStep, runner: StepRunner, recorder: JobRecorder, input: unknown, policy: ResolvedJobPolicy, plan: { steps: readonly RecipeStep[]; finished: Set<string> }, ends?: StepEnds): Promise<void> {
  try {
    const resolve = (wire: string, item?: { value: unknown }) => resolveRecipeWire(wire, input, recorder.outputs, item);
    if (step.when !== undefined && !resolve(step.when)) {
      recorder.decide({ stepId: step.id, kind: 'skip', reason: `skipped: ${step.when} is false` });
      recorder.stepsDone++;
      plan.finished.add(step.id);
      return ends?.finished(step.id);
    }
    if (isActionStep(step)) {
      const proposal = resolveProposal(step.proposal, input, recorder.outputs);
      const output = await runner.runAction(step.id, step.action, proposal, policy.actions[step.action]);
      if (output) recorder.outputs[step.id] = output;
    } else {
      const upstream = stepDependencies(step)
        .map((id) => recorder.confidences[id])
        .filter((value): value is number => typeof value === 'number');
      const upstreamConfidence = upstream.length ? Math.min(...upstream) : undefined;
      const inputsFor = (item?: { value: unknown }) => resolveStepInputs(step.inputs, input, recorder.outputs, item);
      if (isFanOut(step)) {
        const items = resolve(step.each);
        if (!Array.isArray(items)) {
          throw ApplicationFailure.create({ type: 'StationInputError', nonRetryable: true, message: `step "${step.id}": ${step.each} is not a list (fan-out needs one)` });
        }
        const answers = await mapBounded(items, step.concurrency ?? DEFAULT_FAN_OUT_CONCURRENCY, (item, index) =>
          runner.runStation(`${step.id}[${index}]`, step.station, inputsFor({ value: item }), upstreamConfidence),
        );
        recorder.outputs[step.id] = answers.map((answer) => answer.output);
        const scored = answers.map((answer) => answer.confidence).filter((value): value is number => value !== null);
        recorder.confidences[step.id] = scored.length ? Math.min(...scored) : null;
      } else {
        const answer = await runner.runStation(step.id, step.station, inputsFor(), upstreamConfidence, assessAheadFor(step, plan, runner, recorder, input, policy));
        recorder.outputs[step.id] = answer.output;
        recorder.confidences[step.id] = answer.confidence;
      }
      recorder.publish();
    }
    recorder.stepsDone++;
    plan.finished.add(step.id);
    recorder.refreshDetails();
    ends?.finished(step.id);
  } catch (error) {
    if (!ends) throw error;
    return ends.failed(error as Error);
  }
}

/** Maps items with at most `limit` in flight, results in input order. */
async function mapBounded<T, R>(items: readonly T[], limit: number, run: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await run(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}
