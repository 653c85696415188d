/**
 * The engine's workflow bundle entry: every workflow a Conveyor worker runs for any factory.
 *
 * Each workflow's modules are loaded when that workflow starts, not when the bundle is: the SDK gives
 * every cached workflow its own copy of each module it evaluated (the reusable V8 context isolates module
 * state per workflow), so a batch does not carry the job interpreter's modules, nor a job the distill
 * loop's. Measured in bench/results/engine-memory.md.
 */
import type * as Batch from './batch';
import type * as Distill from './distill';
import type * as Evaluation from './evaluation';
import type * as FactoryJob from './factory-job';
import { limitWorkflowStackFrames } from './stack-frames';

limitWorkflowStackFrames();

/* eslint-disable @typescript-eslint/no-require-imports, no-restricted-globals -- the bundle's own (webpack) require, deterministic; a require in the function body is evaluated on the first call, per workflow */
export function factoryJobWorkflow(...args: Parameters<typeof FactoryJob.factoryJobWorkflow>): ReturnType<typeof FactoryJob.factoryJobWorkflow> {
  return (require('./factory-job') as typeof FactoryJob).factoryJobWorkflow(...args);
}

export function batchWorkflow(...args: Parameters<typeof Batch.batchWorkflow>): ReturnType<typeof Batch.batchWorkflow> {
  return (require('./batch') as typeof Batch).batchWorkflow(...args);
}

export function scheduledEvaluationWorkflow(...args: Parameters<typeof Evaluation.scheduledEvaluationWorkflow>): ReturnType<typeof Evaluation.scheduledEvaluationWorkflow> {
  return (require('./evaluation') as typeof Evaluation).scheduledEvaluationWorkflow(...args);
}

export function distillWorkflow(...args: Parameters<typeof Distill.distillWorkflow>): ReturnType<typeof Distill.distillWorkflow> {
  return (require('./distill') as typeof Distill).distillWorkflow(...args);
}
/* eslint-enable @typescript-eslint/no-require-imports, no-restricted-globals */
