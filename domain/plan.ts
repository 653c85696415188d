/**
 * Plans: the steps of a job, each a station with inputs wired from the job or from earlier steps.
 * Validation is pure so the workflow can check a model-written plan deterministically.
 */
import { z } from 'zod';
import { parseWire, WIRE_PATTERN } from './wire';

export { parseWire, readPath, resolveWire, type Wire } from './wire';

/** A wire is a reference: `$job.<path>` or `$steps.<stepId>.<path>` (path optional, dot-separated). */
// A regex of its own: zod resets lastIndex on the one it checks with, and domain/wire.ts is a module the
// workflow bundle shares, its exports frozen (workers/worker.ts conveyorPreloadModules).
export const wireSchema = z.string().regex(new RegExp(WIRE_PATTERN), 'expected $job.<path> or $steps.<stepId>.<path>');

export const planStepSchema = z.object({
  id: z.string().regex(/^[A-Za-z][\w-]*$/, 'step ids start with a letter and use letters, digits, _ or -'),
  station: z.string().min(1),
  /** Station input fields, each wired from the job input or an earlier step's output. */
  inputs: z.record(z.string(), wireSchema),
  /** Optional guard: the step runs only when this wire resolves to a truthy value. */
  when: wireSchema.optional(),
});
export type PlanStep = z.infer<typeof planStepSchema>;

export const planSchema = z.object({ steps: z.array(planStepSchema).min(1) });
export type PlanBody = z.infer<typeof planSchema>;

export interface Plan extends PlanBody {
  strategy: 'recipe' | 'model';
  /** Why a model plan was replaced by the recipe, when it was. */
  fallbackReason?: string;
}

export const MAX_PLAN_STEPS = 12;

/** Ids of the steps a step reads from (its dependencies). */
export function dependenciesOf(step: PlanStep): string[] {
  const wires = [...Object.values(step.inputs), ...(step.when ? [step.when] : [])];
  const ids = wires.map(parseWire).flatMap((wire) => (wire.source === 'step' && wire.stepId ? [wire.stepId] : []));
  return [...new Set(ids)];
}

export interface StationCatalogueEntry {
  name: string;
  inputFields: readonly string[];
  requiredInputFields: readonly string[];
}

/**
 * Checks a plan against the station catalogue: known stations, complete and resolvable wiring,
 * unique ids, no cycles, at most MAX_PLAN_STEPS steps. Returns the problems found (empty = valid).
 */
export function validatePlan(plan: unknown, catalogue: readonly StationCatalogueEntry[]): string[] {
  const parsed = planSchema.safeParse(plan);
  if (!parsed.success) {
    return parsed.error.issues.map((issue) => `${issue.path.join('.') || 'plan'}: ${issue.message}`);
  }
  const problems: string[] = [];
  const { steps } = parsed.data;
  if (steps.length > MAX_PLAN_STEPS) problems.push(`plan has ${steps.length} steps; the limit is ${MAX_PLAN_STEPS}`);
  const ids = new Set<string>();
  for (const step of steps) {
    if (ids.has(step.id)) problems.push(`steps: duplicate step id "${step.id}"`);
    ids.add(step.id);
  }
  for (const step of steps) {
    const station = catalogue.find((entry) => entry.name === step.station);
    if (!station) {
      problems.push(`step "${step.id}": unknown station "${step.station}" (known: ${catalogue.map((s) => s.name).join(', ')})`);
      continue;
    }
    for (const field of station.requiredInputFields) {
      if (!(field in step.inputs)) problems.push(`step "${step.id}": input "${field}" of station ${station.name} is not wired`);
    }
    for (const field of Object.keys(step.inputs)) {
      if (!station.inputFields.includes(field)) problems.push(`step "${step.id}": station ${station.name} has no input "${field}"`);
    }
    for (const dependency of dependenciesOf(step)) {
      if (!ids.has(dependency)) problems.push(`step "${step.id}": reads from unknown step "${dependency}"`);
    }
  }
  if (problems.length === 0) {
    const cycle = findCycle(steps);
    if (cycle) problems.push(`steps form a cycle: ${cycle.join(' → ')}`);
  }
  return problems;
}

function findCycle(steps: readonly PlanStep[]): string[] | undefined {
  const byId = new Map(steps.map((step) => [step.id, step]));
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (id: string): string[] | undefined => {
    if (state.get(id) === 'done') return undefined;
    if (state.get(id) === 'visiting') return [...stack.slice(stack.indexOf(id)), id];
    state.set(id, 'visiting');
    stack.push(id);
    for (const dependency of dependenciesOf(byId.get(id)!)) {
      const cycle = visit(dependency);
      if (cycle) return cycle;
    }
    stack.pop();
    state.set(id, 'done');
    return undefined;
  };
  for (const step of steps) {
    const cycle = visit(step.id);
    if (cycle) return cycle;
  }
  return undefined;
}

