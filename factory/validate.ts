/**
 * Factory validation: every check a definition must pass before a worker runs it or `conveyor factory
 * check` calls it good. Each problem names the definition and the field, and says what to fix.
 */
import { z } from 'zod';
import { tiers } from '../domain/models';
import { recipeProblems, type RecipeFacts, type StationShape } from '../domain/recipe';
import { DEFAULT_AGREE_CONFIDENCE, DEFAULT_DISAGREE_CONFIDENCE } from './confidence';
import type { AnyAction, AnyJobType, AnyStation, FactorySpec, LocalClassifier } from './define';

export interface FactoryProblem {
  /** e.g. `station "classify"`, `job type "intake"`, `action "dispatch"`, `factory`. */
  definition: string;
  /** The field path inside the definition, e.g. `recipe.steps[2].station`. */
  field: string;
  message: string;
}

export class FactoryDefinitionError extends Error {
  override readonly name = 'FactoryDefinitionError';
  constructor(readonly problems: readonly FactoryProblem[]) {
    super(`the factory has ${problems.length} problem(s):\n${problems.map((problem) => `- ${formatProblem(problem)}`).join('\n')}`);
  }
}

export function formatProblem(problem: FactoryProblem): string {
  return `${problem.definition}${problem.field ? ` → ${problem.field}` : ''}: ${problem.message}`;
}

const namePattern = /^[A-Za-z][\w-]*$/;

/** The fields of an object schema (through optional/nullable/default wrappers), or undefined for other schemas. */
export function objectShape(schema: unknown): Record<string, z.ZodType> | undefined {
  let current = schema;
  for (let depth = 0; depth < 8 && current instanceof z.ZodType; depth++) {
    if (current instanceof z.ZodObject) return current.shape;
    if (current instanceof z.ZodOptional || current instanceof z.ZodNullable || current instanceof z.ZodDefault || current instanceof z.ZodReadonly) {
      current = (current as z.ZodOptional<z.ZodType>).unwrap();
      continue;
    }
    return undefined;
  }
  return undefined;
}

/** Input fields a station needs wired: those its schema does not accept as undefined. */
export function requiredFields(shape: Record<string, z.ZodType>): string[] {
  return Object.keys(shape).filter((field) => !shape[field]!.safeParse(undefined).success);
}

const isSchema = (value: unknown): value is z.ZodType => value instanceof z.ZodType;
const isFunction = (value: unknown): value is (...args: never[]) => unknown => typeof value === 'function';
const isUnitInterval = (value: unknown) => typeof value === 'number' && Number.isFinite(value) && value >= 0 && value <= 1;
const isPositiveInt = (value: unknown) => typeof value === 'number' && Number.isInteger(value) && value > 0;
const isPositive = (value: unknown) => typeof value === 'number' && Number.isFinite(value) && value > 0;
const isText = (value: unknown) => typeof value === 'string' && value.trim() !== '';

/** Every problem of a factory specification; empty when it may run. */
export function checkFactory(spec: FactorySpec): FactoryProblem[] {
  const problems: FactoryProblem[] = [];
  const problem = (definition: string, field: string, message: string) => problems.push({ definition, field, message });
  if (spec === null || typeof spec !== 'object') return [{ definition: 'factory', field: '', message: 'expected the object defineFactory takes: { name, version, stations, actions, jobTypes }' }];
  if (!isText(spec.name)) problem('factory', 'name', 'must be a non-empty string');
  if (!isText(spec.version)) problem('factory', 'version', 'must be a non-empty string (change it whenever prompts or execute change)');

  const stations = listOf<AnyStation>(spec.stations, 'stations', 'station', problem);
  const actions = listOf<AnyAction>(spec.actions ?? [], 'actions', 'action', problem);
  const jobTypes = listOf<AnyJobType>(spec.jobTypes, 'jobTypes', 'job-type', problem);
  if (Array.isArray(spec.jobTypes) && spec.jobTypes.length === 0) problem('factory', 'jobTypes', 'a factory needs at least one job type');

  const stationsByName = uniqueByName(stations, 'station', problem);
  const actionsByName = uniqueByName(actions, 'action', problem);
  uniqueByName(jobTypes, 'job type', problem);

  for (const station of stations) checkStation(station, problem);
  for (const action of actions) checkAction(action, problem);
  for (const jobType of jobTypes) checkJobType(jobType, stationsByName, actionsByName, problem);
  return problems;
}

type Report = (definition: string, field: string, message: string) => void;

function listOf<T extends { kind: string }>(value: unknown, field: string, kind: string, problem: Report): T[] {
  if (!Array.isArray(value)) {
    problem('factory', field, 'must be an array');
    return [];
  }
  return value.filter((item, index) => {
    const ok = item !== null && typeof item === 'object' && (item as { kind?: unknown }).kind === kind;
    if (!ok) problem('factory', `${field}[${index}]`, `is not a ${kind.replace('-', ' ')} definition (make it with define${kind === 'job-type' ? 'JobType' : kind === 'station' ? 'Station' : 'Action'})`);
    return ok;
  }) as T[];
}

function uniqueByName<T extends { name: string }>(items: readonly T[], kind: string, problem: Report): Map<string, T> {
  const byName = new Map<string, T>();
  for (const item of items) {
    if (!isText(item.name) || !namePattern.test(item.name)) {
      problem(`${kind} ${JSON.stringify(item.name)}`, 'name', 'must start with a letter and use letters, digits, _ or -');
      continue;
    }
    if (byName.has(item.name)) problem(`${kind} "${item.name}"`, 'name', `two ${kind}s are named "${item.name}"; names must be unique`);
    byName.set(item.name, item);
  }
  return byName;
}

function checkLocalClassifier(local: unknown, where: string, problem: Report): void {
  const spec = (local ?? {}) as Partial<Record<keyof LocalClassifier, unknown>>;
  if (spec.kind !== 'classifier') {
    problem(where, 'local', 'must be a function (input, context) => { output, confidence? } or localClassifier({ name, trainingFile, labels, text, output })');
    return;
  }
  if (!isText(spec.name) || !namePattern.test(spec.name as string)) problem(where, 'local.name', 'must start with a letter and use letters, digits, _ or -');
  if (!isText(spec.trainingFile) || !/^([/\\]|[A-Za-z]:[/\\])/.test(spec.trainingFile as string)) {
    problem(where, 'local.trainingFile', `must be an absolute path (e.g. path.join(__dirname, 'data/labels.csv')); got ${JSON.stringify(spec.trainingFile)}`);
  }
  const labels = spec.labels;
  if (!Array.isArray(labels) || labels.length < 2 || !labels.every(isText)) problem(where, 'local.labels', 'must list at least two labels (non-empty strings)');
  else if (new Set(labels).size !== labels.length) problem(where, 'local.labels', 'lists a label twice');
  if (spec.modelFileOption !== undefined && !isText(spec.modelFileOption)) problem(where, 'local.modelFileOption', 'must be a non-empty string (a registry model option)');
  if (!isFunction(spec.text)) problem(where, 'local.text', 'must be a function (input) => the text to classify');
  if (!isFunction(spec.output)) problem(where, 'local.output', "must be a function ({ label, confidence, ranked }) => the station's output");
}

function checkStation(station: AnyStation, problem: Report): void {
  const where = `station "${station.name}"`;
  if (!isText(station.description)) problem(where, 'description', 'must be a non-empty string');
  if (!isSchema(station.input)) problem(where, 'input', 'must be a zod schema');
  else if (!objectShape(station.input)) problem(where, 'input', 'must be a zod object schema (recipes wire its fields)');
  if (!isSchema(station.output)) problem(where, 'output', 'must be a zod schema');
  if (!isFunction(station.prompt)) problem(where, 'prompt', 'must be a function (input) => { system, user }');
  if (!(tiers as readonly unknown[]).includes(station.defaultTier)) problem(where, 'defaultTier', `must be one of ${tiers.join(', ')}; got ${JSON.stringify(station.defaultTier)}`);
  if (!isUnitInterval(station.confidenceThreshold)) problem(where, 'confidenceThreshold', `must be a number in [0, 1]; got ${JSON.stringify(station.confidenceThreshold)}`);
  if (!isPositiveInt(station.maxOutputTokens)) problem(where, 'maxOutputTokens', 'must be a positive integer');
  const rule = station.confidence;
  const outputShape = objectShape(station.output);
  if (isFunction(rule)) {
    // a custom rule: nothing to check before it runs
  } else if (rule?.from === 'model') {
    if (rule.otherwise !== undefined && !isUnitInterval(rule.otherwise)) problem(where, 'confidence.otherwise', 'must be a number in [0, 1]');
  } else if (rule?.from === 'field') {
    const field = outputShape?.[rule.field];
    if (!field) problem(where, 'confidence.field', `the output schema has no field "${rule.field}"`);
    else if (!field.safeParse(0.5).success) problem(where, 'confidence.field', `output field "${rule.field}" is not a number in [0, 1]`);
  } else if (rule?.from === 'logprobs') {
    if (rule.otherwise !== undefined && !isUnitInterval(rule.otherwise)) problem(where, 'confidence.otherwise', 'must be a number in [0, 1]');
    if (rule.field !== undefined && !outputShape?.[rule.field]) problem(where, 'confidence.field', `the output schema has no field "${rule.field}"`);
  } else if (rule?.from === 'samples') {
    if (!(Number.isInteger(rule.k) && rule.k >= 2 && rule.k <= 20)) problem(where, 'confidence.k', `must be an integer from 2 to 20 (the number of answers compared); got ${JSON.stringify(rule.k)}`);
    if (rule.temperature !== undefined && !(typeof rule.temperature === 'number' && rule.temperature > 0 && rule.temperature <= 2)) problem(where, 'confidence.temperature', 'must be a number in (0, 2]: samples at temperature 0 would all agree');
    if (rule.field !== undefined && !outputShape?.[rule.field]) problem(where, 'confidence.field', `the output schema has no field "${rule.field}"`);
  } else if (rule?.from === 'scorer') {
    if (!isText(rule.id)) problem(where, 'confidence.id', 'must name a learned scorer of the learning registry (e.g. "intent-scorer")');
    if (rule.otherwise !== undefined && !isUnitInterval(rule.otherwise)) problem(where, 'confidence.otherwise', 'must be a number in [0, 1]');
    if (station.learnable === undefined) problem(where, 'confidence', "a learned scorer reads the station's `learnable` text and label fields: set `learnable`");
  } else if (rule?.from === 'cheaper-tier') {
    for (const key of ['agree', 'disagree', 'otherwise'] as const) {
      if (rule[key] !== undefined && !isUnitInterval(rule[key])) problem(where, `confidence.${key}`, 'must be a number in [0, 1]');
    }
    if ((rule.agree ?? DEFAULT_AGREE_CONFIDENCE) <= (rule.disagree ?? DEFAULT_DISAGREE_CONFIDENCE)) {
      problem(where, 'confidence', `agree (${rule.agree ?? DEFAULT_AGREE_CONFIDENCE}) must be above disagree (${rule.disagree ?? DEFAULT_DISAGREE_CONFIDENCE}): agreeing with a cheaper tier is the evidence`);
    }
    if (rule.field !== undefined && !outputShape?.[rule.field]) problem(where, 'confidence.field', `the output schema has no field "${rule.field}"`);
  } else {
    problem(where, 'confidence', "must be { from: 'model' }, { from: 'model', otherwise }, { from: 'field', field }, { from: 'logprobs' }, { from: 'samples', k }, { from: 'scorer', id }, { from: 'cheaper-tier' } or a function");
  }
  if (station.local !== undefined && !isFunction(station.local)) checkLocalClassifier(station.local, where, problem);
  if (station.learnable !== undefined) {
    const { label, text } = station.learnable;
    if (!outputShape?.[label]) problem(where, 'learnable.label', `the output schema has no field "${label}"`);
    if (!objectShape(station.input)?.[text]) problem(where, 'learnable.text', `the input schema has no field "${text}"`);
  }
}

function checkAction(action: AnyAction, problem: Report): void {
  const where = `action "${action.name}"`;
  if (!isText(action.description)) problem(where, 'description', 'must be a non-empty string');
  if (!isSchema(action.proposal)) problem(where, 'proposal', 'must be a zod schema');
  else if (!objectShape(action.proposal)) problem(where, 'proposal', 'must be a zod object schema (reviewers edit a proposal field by field); wrap a list in an object, e.g. z.object({ clips: z.array(…) })');
  if (action.settings !== undefined && !isSchema(action.settings)) problem(where, 'settings', 'must be a zod schema');
  if (!isFunction(action.execute)) problem(where, 'execute', 'must be an async function (proposal, context) => receipt');
  if (action.sensitivity !== undefined && !isFunction(action.sensitivity)) problem(where, 'sensitivity', 'must be a function (proposal, settings, job) => reason | undefined');
  if (action.skip !== undefined && !isFunction(action.skip)) problem(where, 'skip', 'must be a function (proposal) => reason | undefined');
  const positive = (value: unknown) => typeof value === 'number' && Number.isFinite(value) && value > 0;
  if (action.timeoutMs !== undefined && !positive(action.timeoutMs)) problem(where, 'timeoutMs', 'must be a positive number of milliseconds');
  if (action.retry !== undefined) {
    const retry = action.retry as Record<string, unknown>;
    if (retry === null || typeof retry !== 'object') problem(where, 'retry', 'must be an object { maximumAttempts?, initialIntervalMs?, maximumIntervalMs?, maximumRetryAfterMs? }');
    else {
      const attempts = retry.maximumAttempts;
      if (attempts !== undefined && !(Number.isInteger(attempts) && (attempts as number) >= 1 && (attempts as number) <= 100)) problem(where, 'retry.maximumAttempts', 'must be a whole number from 1 to 100');
      for (const field of ['initialIntervalMs', 'maximumIntervalMs', 'maximumRetryAfterMs'] as const) {
        if (retry[field] !== undefined && !positive(retry[field])) problem(where, `retry.${field}`, 'must be a positive number of milliseconds');
      }
      const known = new Set(['maximumAttempts', 'initialIntervalMs', 'maximumIntervalMs', 'maximumRetryAfterMs']);
      for (const field of Object.keys(retry)) if (!known.has(field)) problem(where, `retry.${field}`, `is not a retry setting (known: ${[...known].join(', ')})`);
    }
  }
}

function checkJobType(jobType: AnyJobType, stations: ReadonlyMap<string, AnyStation>, actions: ReadonlyMap<string, AnyAction>, problem: Report): void {
  const where = `job type "${jobType.name}"`;
  if (!isText(jobType.description)) problem(where, 'description', 'must be a non-empty string');
  const inputShape = isSchema(jobType.input) ? objectShape(jobType.input) : undefined;
  if (!isSchema(jobType.input)) problem(where, 'input', 'must be a zod schema');
  else if (!inputShape) problem(where, 'input', 'must be a zod object schema (recipes wire its fields)');
  if (jobType.summarize !== undefined && !isFunction(jobType.summarize)) problem(where, 'summarize', 'must be a function (input) => string');
  checkRecipe(jobType, where, inputShape, stations, actions, problem);
  checkPolicy(jobType, where, stations, actions, problem);
}

function checkRecipe(
  jobType: AnyJobType,
  where: string,
  inputShape: Record<string, z.ZodType> | undefined,
  stations: ReadonlyMap<string, AnyStation>,
  actions: ReadonlyMap<string, AnyAction>,
  problem: Report,
): void {
  const facts: RecipeFacts = {
    ...(inputShape ? { jobInputFields: Object.keys(inputShape) } : {}),
    stations: new Map([...stations.values()].map((station) => [station.name, stationShapeOf(station)])),
    actions: new Set(actions.keys()),
  };
  for (const { field, message } of recipeProblems(jobType.recipe?.steps, facts)) problem(where, field, message);
}

/** What recipe checks need of a station, from its zod schemas. */
export function stationShapeOf(station: AnyStation): StationShape {
  const input = objectShape(station.input) ?? {};
  const output = objectShape(station.output);
  return { inputFields: Object.keys(input), requiredInputFields: requiredFields(input), ...(output ? { outputFields: Object.keys(output) } : {}) };
}

function checkPolicy(jobType: AnyJobType, where: string, stations: ReadonlyMap<string, AnyStation>, actions: ReadonlyMap<string, AnyAction>, problem: Report): void {
  const policy = jobType.policy;
  if (policy === null || typeof policy !== 'object') {
    problem(where, 'policy', 'must be an object: { budgetUsd, approval, … }');
    return;
  }
  if (!isPositive(policy.budgetUsd)) problem(where, 'policy.budgetUsd', `must be a positive number of dollars; got ${JSON.stringify(policy.budgetUsd)}`);
  if (policy.planner !== undefined && policy.planner !== 'recipe' && policy.planner !== 'model') problem(where, 'policy.planner', "must be 'recipe' or 'model'");
  if (policy.overBudget !== undefined && policy.overBudget !== 'pause' && policy.overBudget !== 'fail') problem(where, 'policy.overBudget', "must be 'pause' or 'fail'");
  if (policy.longInputChars !== undefined && !isPositiveInt(policy.longInputChars)) problem(where, 'policy.longInputChars', 'must be a positive integer');
  for (const [name, threshold] of Object.entries(policy.confidenceThresholds ?? {})) {
    if (!stations.has(name)) problem(where, `policy.confidenceThresholds.${name}`, `unknown station "${name}"`);
    if (!isUnitInterval(threshold)) problem(where, `policy.confidenceThresholds.${name}`, `must be a number in [0, 1]; got ${JSON.stringify(threshold)}`);
  }
  if (policy.router !== undefined) {
    const router = policy.router;
    if (router === null || typeof router !== 'object' || !isText(router.id)) problem(where, 'policy.router.id', 'must name a router of the learning registry (trained with `conveyor router train`)');
    else {
      if (router.version !== undefined && !isText(router.version)) problem(where, 'policy.router.version', 'must be a registered version string (see `conveyor models --station router.<id>`)');
      if (router.escalateTo !== undefined && !(tiers as readonly unknown[]).includes(router.escalateTo)) problem(where, 'policy.router.escalateTo', `must be one of ${tiers.join(', ')}`);
      for (const name of router.stations ?? []) if (!stations.has(name)) problem(where, 'policy.router.stations', `unknown station "${name}"`);
    }
  }
  const approval = policy.approval;
  if (approval === null || typeof approval !== 'object') {
    problem(where, 'policy.approval', 'must be an object: { reviewers, timeoutMs, onTimeout, … }');
  } else {
    if (!Array.isArray(approval.reviewers) || approval.reviewers.length === 0 || !approval.reviewers.every(isText)) {
      problem(where, 'policy.approval.reviewers', 'must list at least one reviewer (who may approve this job type\'s sensitive steps)');
    }
    if (!isPositiveInt(approval.timeoutMs)) problem(where, 'policy.approval.timeoutMs', 'must be a positive integer of milliseconds');
    if (!['escalate', 'reject', 'approve'].includes(approval.onTimeout)) problem(where, 'policy.approval.onTimeout', "must be 'escalate', 'reject' or 'approve'");
    if (approval.onTimeout === 'escalate' && !(approval.escalationReviewers?.length && approval.escalationReviewers.every(isText))) {
      problem(where, 'policy.approval.escalationReviewers', "onTimeout 'escalate' needs at least one escalation reviewer");
    }
    for (const [index, name] of (approval.twoPersonActions ?? []).entries()) {
      if (!actions.has(name)) problem(where, `policy.approval.twoPersonActions[${index}]`, `unknown action "${name}"`);
    }
    for (const [reviewer, key] of Object.entries(approval.reviewerKeys ?? {})) {
      if (!isText(key)) problem(where, `policy.approval.reviewerKeys.${reviewer}`, 'must be a public key (PEM or base64 SPKI)');
    }
  }
  const steps: unknown[] = Array.isArray(jobType.recipe?.steps) ? jobType.recipe.steps : [];
  const used = steps.flatMap((step) => (step !== null && typeof step === 'object' && 'action' in step ? [(step as { action: string }).action] : []));
  for (const name of Object.keys(policy.actions ?? {})) if (!actions.has(name)) problem(where, `policy.actions.${name}`, `unknown action "${name}"`);
  // The snapshot parses the settings of every action the recipe uses or the policy sets: check them all here.
  for (const name of new Set([...used, ...Object.keys(policy.actions ?? {})])) {
    const action = actions.get(name);
    if (!action?.settings || !isSchema(action.settings)) continue;
    const parsed = action.settings.safeParse(policy.actions?.[name]);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) problem(where, ['policy.actions', name, ...issue.path.map(String)].join('.'), issue.message);
    }
  }
  const bounds = policy.bounds;
  if (bounds !== undefined) {
    if (bounds.maxBudgetUsd !== undefined && !isPositive(bounds.maxBudgetUsd)) problem(where, 'policy.bounds.maxBudgetUsd', 'must be a positive number');
    if (bounds.maxProposalChars !== undefined && !isPositiveInt(bounds.maxProposalChars)) problem(where, 'policy.bounds.maxProposalChars', 'must be a positive integer');
    for (const [field, max] of Object.entries(bounds.maxNumbers ?? {})) {
      if (typeof max !== 'number' || !Number.isFinite(max)) problem(where, `policy.bounds.maxNumbers.${field}`, 'must be a finite number');
    }
  }
}
