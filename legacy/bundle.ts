/**
 * The built-in factory's workflow bundle entry: the engine's workflows plus the frozen first job workflow
 * (`jobWorkflow`), which finishes and replays jobs started before factory jobs existed.
 */
export * from '../workflows';
export { jobWorkflow } from './job-workflow';
