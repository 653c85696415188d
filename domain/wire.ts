/**
 * Wires, the references a plan or recipe step reads its inputs from: `$job.<path>` or
 * `$steps.<stepId>.<path>`. Plain functions with no schema library, so workflows can use them without
 * building zod schemas per cached workflow; domain/plan.ts builds its schema from the same pattern.
 */

/** A wire: `$job.<path>` or `$steps.<stepId>.<path>` (path optional, dot-separated). */
export const WIRE_PATTERN = /^\$(job|steps\.[A-Za-z][\w-]*)(\.[\w-]+)*$/;

export function isWire(text: string): boolean {
  return WIRE_PATTERN.test(text);
}

export interface Wire {
  source: 'job' | 'step';
  stepId?: string;
  path: string[];
}

export function parseWire(wire: string): Wire {
  const parts = wire.slice(1).split('.');
  if (parts[0] === 'job') return { source: 'job', path: parts.slice(1) };
  return { source: 'step', stepId: parts[1], path: parts.slice(2) };
}

/** Reads a dotted path from a value; undefined when any segment is missing. */
export function readPath(value: unknown, path: readonly string[]): unknown {
  let current = value;
  for (const segment of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[segment];
  }
  return current;
}

/** Resolves a wire against the job input and the outputs of finished steps. */
export function resolveWire(wire: string, jobInput: unknown, outputs: Readonly<Record<string, unknown>>): unknown {
  const parsed = parseWire(wire);
  return parsed.source === 'job' ? readPath(jobInput, parsed.path) : readPath(outputs[parsed.stepId!], parsed.path);
}
