/**
 * Factory validation: every check a definition must pass before a worker runs it or `conveyor factory
 * check` calls it good. Each problem names the definition and the field, and says what to fix.
 */
import { z } from 'zod';
import { tiers } from '../domain/models';
import { parseWire, wireSchema } from '../domain/plan';
import type { AnyAction, AnyJobType, AnyStation, FactorySpec, RecipeStep } from './define';

export interface FactoryProblem {
  /** e.g. `station "classify"`, `job type "intake"`, `action "file-ticket"`, `factory`. */
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
const MAX_FAN_OUT_CONCURRENCY = 100;

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
  } else {
    problem(where, 'confidence', "must be { from: 'model' }, { from: 'model', otherwise }, { from: 'field', field } or a function");
  }
  if (station.local !== undefined && !isFunction(station.local) && !isText((station.local as { model?: unknown }).model)) {
    problem(where, 'local', 'must be a function (input, context) => { output, confidence? } or { model: <bundled offline model> }');
  }
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
  if (action.settings !== undefined && !isSchema(action.settings)) problem(where, 'settings', 'must be a zod schema');
  if (!isFunction(action.execute)) problem(where, 'execute', 'must be an async function (proposal, context) => receipt');
  if (action.sensitivity !== undefined && !isFunction(action.sensitivity)) problem(where, 'sensitivity', 'must be a function (proposal, settings, job) => reason | undefined');
  if (action.skip !== undefined && !isFunction(action.skip)) problem(where, 'skip', 'must be a function (proposal) => reason | undefined');
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
  const steps: readonly RecipeStep[] | undefined = jobType.recipe?.steps;
  if (!steps || !Array.isArray(steps) || steps.length === 0) {
    problem(where, 'recipe.steps', 'must be a non-empty array of steps');
    return;
  }
  const ids = new Map<string, number>();
  steps.forEach((step: RecipeStep, index) => {
    const at = `recipe.steps[${index}]`;
    if (step === null || typeof step !== 'object') problem(where, at, 'must be a step object: { id, station, inputs } or { id, action, proposal }');
    else if (!isText(step.id) || !namePattern.test(step.id)) problem(where, `${at}.id`, 'must start with a letter and use letters, digits, _ or -');
    else if (ids.has(step.id)) problem(where, `${at}.id`, `duplicate step id "${step.id}" (also recipe.steps[${ids.get(step.id)}])`);
    else ids.set(step.id, index);
  });
  const outputOf = (stepId: string): { shape?: Record<string, z.ZodType>; list: boolean } | undefined => {
    const index = ids.get(stepId);
    if (index === undefined) return undefined;
    const step = steps[index] as RecipeStep;
    if ('station' in step) return { shape: objectShape(stations.get(step.station)?.output), list: 'each' in step };
    return { shape: undefined, list: false };
  };
  const checkWire = (wire: unknown, at: string, fanOut: boolean) => {
    if (typeof wire !== 'string') return problem(where, at, 'must be a wire string ($job.<field>, $steps.<id>.<field> or, in a fan-out, $item)');
    if (fanOut && /^\$item(\.[\w-]+)*$/.test(wire)) return;
    if (!wireSchema.safeParse(wire).success) {
      return problem(where, at, `${JSON.stringify(wire)} is not a wire: expected $job.<field> or $steps.<stepId>.<field>${fanOut ? ' or $item.<field>' : ''}`);
    }
    const parsed = parseWire(wire);
    if (parsed.source === 'job') {
      const field = parsed.path[0];
      if (field !== undefined && inputShape && !inputShape[field]) problem(where, at, `${wire}: the job input has no field "${field}" (fields: ${Object.keys(inputShape).join(', ')})`);
      return;
    }
    const source = outputOf(parsed.stepId!);
    if (!source) return problem(where, at, `${wire}: no step "${parsed.stepId}" in the recipe`);
    const field = parsed.path[0];
    if (field === undefined) return;
    if (source.list) return problem(where, at, `${wire}: step "${parsed.stepId}" is a fan-out; its output is a list, wire it whole ($steps.${parsed.stepId})`);
    if (source.shape && !source.shape[field]) {
      problem(where, at, `${wire}: the output of step "${parsed.stepId}" has no field "${field}" (fields: ${Object.keys(source.shape).join(', ')})`);
    }
  };
  steps.forEach((step: RecipeStep, index) => {
    const at = `recipe.steps[${index}]`;
    if (step === null || typeof step !== 'object') return;
    const hasStation = 'station' in step;
    const hasAction = 'action' in step;
    if (hasStation === hasAction) {
      problem(where, at, 'a step names exactly one of station or action');
      return;
    }
    if (step.when !== undefined) checkWire(step.when, `${at}.when`, false);
    if (hasAction) {
      if (!actions.has(step.action)) {
        problem(where, `${at}.action`, `no action "${step.action}" is defined${actions.size ? ` (actions: ${[...actions.keys()].join(', ')})` : ' (the factory defines no actions)'}`);
      }
      checkWire(step.proposal, `${at}.proposal`, false);
      return;
    }
    const station = stations.get(step.station);
    const fanOut = 'each' in step;
    if (!station) {
      problem(where, `${at}.station`, `no station "${step.station}" is defined${stations.size ? ` (stations: ${[...stations.keys()].join(', ')})` : ''}`);
    }
    if (fanOut) {
      checkWire(step.each, `${at}.each`, false);
      if (step.concurrency !== undefined && !(isPositiveInt(step.concurrency) && step.concurrency <= MAX_FAN_OUT_CONCURRENCY)) {
        problem(where, `${at}.concurrency`, `must be an integer from 1 to ${MAX_FAN_OUT_CONCURRENCY}`);
      }
    }
    if (step.inputs === null || typeof step.inputs !== 'object') {
      problem(where, `${at}.inputs`, 'must be an object: station input field → wire');
      return;
    }
    for (const [field, wire] of Object.entries(step.inputs)) checkWire(wire, `${at}.inputs.${field}`, fanOut);
    const shape = station ? objectShape(station.input) : undefined;
    if (shape) {
      for (const field of requiredFields(shape)) if (!(field in step.inputs)) problem(where, `${at}.inputs.${field}`, `input "${field}" of station ${station!.name} is not wired`);
      for (const field of Object.keys(step.inputs)) if (!shape[field]) problem(where, `${at}.inputs.${field}`, `station ${station!.name} has no input "${field}" (inputs: ${Object.keys(shape).join(', ')})`);
    }
  });
  const cycle = findCycle(steps);
  if (cycle) problem(where, 'recipe.steps', `the steps form a dependency cycle: ${cycle.join(' → ')}`);
}

/** Ids of the steps a recipe step reads from. */
export function stepDependencies(step: RecipeStep): string[] {
  const wires = [
    ...('inputs' in step && step.inputs && typeof step.inputs === 'object' ? Object.values(step.inputs) : []),
    ...('proposal' in step ? [step.proposal] : []),
    ...('each' in step ? [step.each] : []),
    ...(step.when !== undefined ? [step.when] : []),
  ].filter((wire): wire is string => typeof wire === 'string' && wire.startsWith('$steps.'));
  return [...new Set(wires.map((wire) => parseWire(wire).stepId!))];
}

function findCycle(steps: readonly RecipeStep[]): string[] | undefined {
  // The first step of an id, as wires read it: a duplicate id is reported as such, not as a cycle through it.
  const byId = new Map<string, RecipeStep>();
  for (const step of steps) if (typeof step?.id === 'string' && !byId.has(step.id)) byId.set(step.id, step);
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (id: string): string[] | undefined => {
    const step = byId.get(id);
    if (!step || state.get(id) === 'done') return undefined;
    if (state.get(id) === 'visiting') return [...stack.slice(stack.indexOf(id)), id];
    state.set(id, 'visiting');
    stack.push(id);
    for (const dependency of stepDependencies(step)) {
      const cycle = visit(dependency);
      if (cycle) return cycle;
    }
    stack.pop();
    state.set(id, 'done');
    return undefined;
  };
  for (const id of byId.keys()) {
    const cycle = visit(id);
    if (cycle) return cycle;
  }
  return undefined;
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
    if (!stations.has(name)) problem(where, `policy.confidenceThresholds.${name}`, `no station "${name}" is defined`);
    if (!isUnitInterval(threshold)) problem(where, `policy.confidenceThresholds.${name}`, `must be a number in [0, 1]; got ${JSON.stringify(threshold)}`);
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
      if (!actions.has(name)) problem(where, `policy.approval.twoPersonActions[${index}]`, `no action "${name}" is defined`);
    }
    for (const [reviewer, key] of Object.entries(approval.reviewerKeys ?? {})) {
      if (!isText(key)) problem(where, `policy.approval.reviewerKeys.${reviewer}`, 'must be a public key (PEM or base64 SPKI)');
    }
  }
  const steps: unknown[] = Array.isArray(jobType.recipe?.steps) ? jobType.recipe.steps : [];
  const used = steps.flatMap((step) => (step !== null && typeof step === 'object' && 'action' in step ? [(step as { action: string }).action] : []));
  for (const name of Object.keys(policy.actions ?? {})) if (!actions.has(name)) problem(where, `policy.actions.${name}`, `no action "${name}" is defined`);
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
