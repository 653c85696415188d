/**
 * Recipes: the steps of a job type — model steps, action steps and fan-outs — wired from the job input
 * and earlier steps. Pure, so a factory is checked with the same rules when a worker starts
 * (factory/validate.ts, from its zod schemas) and a model-written plan is checked inside the workflow
 * (from the definition snapshot's facts).
 */
import { isWire, parseWire, readPath, resolveWire } from './wire';

/** A wire: `$job.<path>` (the job input), `$steps.<stepId>.<path>` (an earlier step's output) or, in a fan-out, `$item.<path>`. */
export type Wire = string;

export type RecipeStep =
  /** A model step: the station's input fields, each wired. */
  | { id: string; station: string; inputs: Record<string, Wire>; when?: Wire }
  /**
   * An action step: the proposal goes to the action — one wire to an object (usually an earlier step's
   * output), or an object whose fields are wired like a station's inputs.
   */
  | { id: string; action: string; proposal: Wire | Record<string, Wire>; when?: Wire }
  /**
   * A fan-out: the station runs once per item of the list `each` resolves to, at most `concurrency` at a
   * time; inputs may read `$item` / `$item.<path>`. The step's output is the list of answers, in order.
   */
  | { id: string; station: string; each: Wire; inputs: Record<string, Wire>; concurrency?: number; when?: Wire };

export type StationStep = Extract<RecipeStep, { station: string }>;
export type ActionStep = Extract<RecipeStep, { action: string }>;

export const MAX_FAN_OUT_CONCURRENCY = 100;
export const DEFAULT_FAN_OUT_CONCURRENCY = 4;
const stepIdPattern = /^[A-Za-z][\w-]*$/;
const itemWire = /^\$item(\.[\w-]+)*$/;

/** What recipe checks know of a station: its input fields and (when its output is an object) its output fields. */
export interface StationShape {
  inputFields: readonly string[];
  requiredInputFields: readonly string[];
  outputFields?: readonly string[];
}

export interface RecipeFacts {
  /** The job input's fields, when its schema is an object. */
  jobInputFields?: readonly string[];
  stations: ReadonlyMap<string, StationShape>;
  actions: ReadonlySet<string>;
}

export interface RecipeProblem {
  /** e.g. `recipe.steps[2].inputs.text` */
  field: string;
  message: string;
}

export function isActionStep(step: RecipeStep): step is ActionStep {
  return 'action' in step;
}

export function isFanOut(step: RecipeStep): step is Extract<RecipeStep, { each: Wire }> {
  return 'each' in step;
}

/** Ids of the steps a step reads from. */
export function stepDependencies(step: RecipeStep): string[] {
  const wires = [
    ...('inputs' in step && step.inputs && typeof step.inputs === 'object' ? Object.values(step.inputs) : []),
    ...('proposal' in step ? (typeof step.proposal === 'string' ? [step.proposal] : step.proposal && typeof step.proposal === 'object' ? Object.values(step.proposal) : []) : []),
    ...('each' in step ? [step.each] : []),
    ...(step.when !== undefined ? [step.when] : []),
  ].filter((wire): wire is string => typeof wire === 'string' && wire.startsWith('$steps.'));
  return [...new Set(wires.map((wire) => parseWire(wire).stepId!))];
}

/** Resolves a wire against the job input, finished steps' outputs and, in a fan-out, the current item. */
export function resolveRecipeWire(wire: Wire, jobInput: unknown, outputs: Readonly<Record<string, unknown>>, item?: { value: unknown }): unknown {
  if (item && itemWire.test(wire)) return readPath(item.value, wire.split('.').slice(1));
  return resolveWire(wire, jobInput, outputs);
}

/** A station step's input: each field's wire resolved (in a fan-out, against `item`). */
export function resolveStepInputs(inputs: Readonly<Record<string, Wire>>, jobInput: unknown, outputs: Readonly<Record<string, unknown>>, item?: { value: unknown }): Record<string, unknown> {
  return Object.fromEntries(Object.entries(inputs).map(([field, wire]) => [field, resolveRecipeWire(wire, jobInput, outputs, item)]));
}

/** An action step's proposal: its wire, or each of its fields' wires, resolved. */
export function resolveProposal(proposal: Wire | Readonly<Record<string, Wire>>, jobInput: unknown, outputs: Readonly<Record<string, unknown>>): unknown {
  return typeof proposal === 'string' ? resolveRecipeWire(proposal, jobInput, outputs) : resolveStepInputs(proposal, jobInput, outputs);
}

/** Every problem of a recipe against what the factory defines; empty when it may run. */
export function recipeProblems(steps: unknown, facts: RecipeFacts): RecipeProblem[] {
  const problems: RecipeProblem[] = [];
  const problem = (field: string, message: string) => problems.push({ field, message });
  if (!Array.isArray(steps) || steps.length === 0) return [{ field: 'recipe.steps', message: 'must be a non-empty array of steps' }];
  const list = steps as RecipeStep[];
  const ids = new Map<string, number>();
  list.forEach((step, index) => {
    const at = `recipe.steps[${index}]`;
    const id: unknown = (step as { id?: unknown } | null)?.id;
    if (step === null || typeof step !== 'object') problem(at, 'must be a step object: { id, station, inputs } or { id, action, proposal }');
    else if (typeof id !== 'string' || !stepIdPattern.test(id)) problem(`${at}.id`, 'must start with a letter and use letters, digits, _ or -');
    else if (ids.has(id)) problem(`${at}.id`, `duplicate step id "${id}" (also recipe.steps[${ids.get(id)}])`);
    else ids.set(id, index);
  });
  const outputOf = (stepId: string): { fields?: readonly string[]; list: boolean } | undefined => {
    const index = ids.get(stepId);
    if (index === undefined) return undefined;
    const step = list[index]!;
    if ('station' in step) return { fields: facts.stations.get(step.station)?.outputFields, list: isFanOut(step) };
    return { list: false };
  };
  const checkWire = (wire: unknown, at: string, fanOut: boolean) => {
    if (typeof wire !== 'string') return problem(at, 'must be a wire string ($job.<field>, $steps.<id>.<field> or, in a fan-out, $item)');
    if (fanOut && itemWire.test(wire)) return;
    if (!isWire(wire)) {
      return problem(at, `${JSON.stringify(wire)} is not a wire: expected $job.<field> or $steps.<stepId>.<field>${fanOut ? ' or $item.<field>' : ''}`);
    }
    const parsed = parseWire(wire);
    if (parsed.source === 'job') {
      const field = parsed.path[0];
      if (field !== undefined && facts.jobInputFields && !facts.jobInputFields.includes(field)) {
        problem(at, `${wire}: the job input has no field "${field}" (fields: ${facts.jobInputFields.join(', ')})`);
      }
      return;
    }
    const source = outputOf(parsed.stepId!);
    if (!source) return problem(at, `${wire}: no step "${parsed.stepId}" in the recipe`);
    const field = parsed.path[0];
    if (field === undefined) return;
    if (source.list) return problem(at, `${wire}: step "${parsed.stepId}" is a fan-out; its output is a list, wire it whole ($steps.${parsed.stepId})`);
    if (source.fields && !source.fields.includes(field)) {
      problem(at, `${wire}: the output of step "${parsed.stepId}" has no field "${field}" (fields: ${source.fields.join(', ')})`);
    }
  };
  list.forEach((step, index) => {
    const at = `recipe.steps[${index}]`;
    if (step === null || typeof step !== 'object') return;
    const hasStation = 'station' in step;
    const hasAction = 'action' in step;
    if (hasStation === hasAction) return problem(at, 'a step names exactly one of station or action');
    if (step.when !== undefined) checkWire(step.when, `${at}.when`, false);
    if (hasAction) {
      if (!facts.actions.has(step.action)) {
        problem(`${at}.action`, `unknown action "${step.action}"${facts.actions.size ? ` (actions: ${[...facts.actions].join(', ')})` : ' (the factory defines no actions)'}`);
      }
      if (step.proposal !== null && typeof step.proposal === 'object') {
        for (const [field, wire] of Object.entries(step.proposal)) checkWire(wire, `${at}.proposal.${field}`, false);
      } else checkWire(step.proposal, `${at}.proposal`, false);
      return;
    }
    const station = facts.stations.get(step.station);
    const fanOut = isFanOut(step);
    if (!station) problem(`${at}.station`, `unknown station "${step.station}"${facts.stations.size ? ` (stations: ${[...facts.stations.keys()].join(', ')})` : ''}`);
    if (fanOut) {
      checkWire(step.each, `${at}.each`, false);
      if (step.concurrency !== undefined && !(Number.isInteger(step.concurrency) && step.concurrency >= 1 && step.concurrency <= MAX_FAN_OUT_CONCURRENCY)) {
        problem(`${at}.concurrency`, `must be an integer from 1 to ${MAX_FAN_OUT_CONCURRENCY}`);
      }
    }
    if (step.inputs === null || typeof step.inputs !== 'object') return problem(`${at}.inputs`, 'must be an object: station input field → wire');
    for (const [field, wire] of Object.entries(step.inputs)) checkWire(wire, `${at}.inputs.${field}`, fanOut);
    if (station) {
      for (const field of station.requiredInputFields) if (!(field in step.inputs)) problem(`${at}.inputs.${field}`, `input "${field}" of station ${step.station} is not wired`);
      for (const field of Object.keys(step.inputs)) {
        if (!station.inputFields.includes(field)) problem(`${at}.inputs.${field}`, `station ${step.station} has no input "${field}" (inputs: ${station.inputFields.join(', ')})`);
      }
    }
  });
  const cycle = findCycle(list);
  if (cycle) problem('recipe.steps', `the steps form a dependency cycle: ${cycle.join(' → ')}`);
  return problems;
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

/** A problem as a model planner reads it: `step "<id>": …` instead of the field path. */
export function planProblemText(steps: unknown, problem: RecipeProblem): string {
  const match = /^recipe\.steps\[(\d+)\]/.exec(problem.field);
  if (!match) return `${problem.field.replace(/^recipe\./, '')}: ${problem.message}`;
  const id = (Array.isArray(steps) ? (steps[Number(match[1])] as { id?: unknown } | undefined)?.id : undefined) ?? `#${match[1]}`;
  return `step ${JSON.stringify(id)}: ${problem.message}`;
}

/** Steps in an order where every step comes after the steps it reads from (the recipe must have no cycle). */
export function orderSteps(steps: readonly RecipeStep[]): RecipeStep[] {
  const ordered: RecipeStep[] = [];
  const placed = new Set<string>();
  while (ordered.length < steps.length) {
    const before = ordered.length;
    for (const step of steps) {
      if (!placed.has(step.id) && stepDependencies(step).every((id) => placed.has(id))) {
        ordered.push(step);
        placed.add(step.id);
      }
    }
    if (ordered.length === before) throw new Error('the recipe has a dependency cycle');
  }
  return ordered;
}

