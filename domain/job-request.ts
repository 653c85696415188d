/**
 * The job request's rules: the schemas a request is checked against and the errors that name what was
 * wrong. Each schema is built on its first use and kept (domain/lazy.ts), and this module exports only
 * functions and classes, so the workflow bundle shares it across every workflow of a worker thread
 * (workers/worker.ts conveyorPreloadModules) — the SDK deep-freezes a shared module's exports, and a
 * frozen zod schema cannot parse. domain/job.ts exports the same schemas as values for the rest of the code.
 */
import { z } from 'zod';
import { once } from './lazy';

export const jobIdSchemaOf = once(() =>
  z
    .string()
    .min(1, 'must not be empty')
    .max(200, 'longer than 200 characters')
    .regex(/^[\w.:@-]+$/, 'use letters, digits and . _ : @ - only'),
);

/** What a job request may change about its type's policy; reviewers and timeout outcomes are not among them. */
export const policyOverridesSchemaOf = once(() =>
  z
    .object({
      planner: z.enum(['recipe', 'model']).optional(),
      budgetUsd: z.number().positive().optional(),
      overBudget: z.enum(['pause', 'fail']).optional(),
      approvalTimeoutMs: z.number().int().positive().optional(),
      confidenceThresholds: z.record(z.string(), z.number().min(0).max(1)).optional(),
    })
    .strict(),
);

export const jobRequestSchemaOf = once(() =>
  z
    .object({
      /** The job id is the workflow id: starting the same id again returns the existing run. */
      id: jobIdSchemaOf(),
      type: z.string().min(1, 'must name a job type'),
      input: z.unknown(),
      /** Who asked for the job; they may not approve it themselves unless the policy allows. */
      requestedBy: z.string().min(1).optional(),
      batchId: z.string().optional(),
      policy: policyOverridesSchemaOf().optional(),
    })
    .strict(),
);

export class UnknownJobTypeError extends Error {
  override readonly name = 'UnknownJobTypeError';
}

/** Bad job input: names the field and the rule it broke. Never retried. */
export class InvalidJobInputError extends Error {
  override readonly name = 'InvalidJobInputError';
  constructor(
    message: string,
    readonly issues: { field: string; problem: string }[] = [],
  ) {
    super(message);
  }
}

/** The request's (or, with `prefix`, its part's) zod issues as an {@link InvalidJobInputError} naming each field. */
export function invalidJobInput(issues: readonly z.core.$ZodIssue[], prefix = ''): InvalidJobInputError {
  const list = issues.map((issue) => ({
    field: [prefix, ...issue.path.map(String)].filter(Boolean).join('.') || prefix || 'request',
    problem: issue.message,
  }));
  return new InvalidJobInputError(`Invalid job: ${list.map((i) => `${i.field}: ${i.problem}`).join('; ')}`, list);
}
