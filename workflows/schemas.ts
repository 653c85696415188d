/**
 * Zod schemas rebuilt inside the workflow from a definition snapshot's JSON Schemas: the workflow checks
 * wired inputs and reviewers' edits with them, deterministically, without the team's code. The activity
 * that runs the team's code parses again with the original schema (transforms and refinements included).
 */
import { z } from 'zod';
import type { JsonSchema } from '../factory/snapshot';

/**
 * Keyed by the snapshot's (interned, frozen) JSON Schema objects. This module is preloaded by the worker's
 * bundle (workers/worker.ts conveyorPreloadModules), so the cache serves every workflow of a worker thread.
 */
const cache = new WeakMap<JsonSchema, z.ZodType>();

// zod sets its global defaults (error messages, memoizer) on the first schema it builds. A preloaded zod is
// frozen by the SDK right after the preload, so one schema is built now, while those defaults can still be set.
z.object({ warm: z.string() });

export function schemaOf(json: JsonSchema): z.ZodType {
  let schema = cache.get(json);
  if (!schema) cache.set(json, (schema = z.fromJSONSchema(json)));
  return schema;
}

/** The problems of a value under a snapshot schema, or undefined when it passes. */
export function schemaProblem(json: JsonSchema, value: unknown, root = 'value'): string | undefined {
  const parsed = schemaOf(json).safeParse(value);
  if (parsed.success) return undefined;
  return parsed.error.issues.map((issue) => `${issue.path.map(String).join('.') || root}: ${issue.message}`).join('; ');
}
