/**
 * The shape of a plan a model writes, as a zod schema for the planner's structured output (activity side).
 * Apart from domain/recipe.ts so that workflows, which check plans with recipeProblems, build no zod
 * schema per cached workflow.
 */
import { z } from 'zod';

const recipeWireSchema = z.string().min(1);
/** A plan a model writes: steps of the three kinds (checked against the definition after parsing). */
export const recipePlanSchema = z.object({
  steps: z
    .array(
      z.union([
        z.object({ id: z.string(), action: z.string(), proposal: z.union([recipeWireSchema, z.record(z.string(), recipeWireSchema)]), when: recipeWireSchema.optional() }).strict(),
        z.object({ id: z.string(), station: z.string(), each: recipeWireSchema, inputs: z.record(z.string(), recipeWireSchema), concurrency: z.number().int().optional(), when: recipeWireSchema.optional() }).strict(),
        z.object({ id: z.string(), station: z.string(), inputs: z.record(z.string(), recipeWireSchema), when: recipeWireSchema.optional() }).strict(),
      ]),
    )
    .min(1),
});
