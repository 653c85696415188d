/**
 * The built-in factory's workflow bundle entry: the engine's workflows plus the frozen first job workflow
 * (`jobWorkflow`), which finishes and replays jobs started before factory jobs existed. Like the engine's
 * (workflows/index.ts), it loads the first job workflow's modules only in the workflows that run it.
 */
import type * as Legacy from './job-workflow';

export * from '../workflows';

export function jobWorkflow(...args: Parameters<typeof Legacy.jobWorkflow>): ReturnType<typeof Legacy.jobWorkflow> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports, no-restricted-globals -- the bundle's own (webpack) require, evaluated on the first call, per workflow
  return (require('./job-workflow') as typeof Legacy).jobWorkflow(...args);
}
