/** The engine's workflow bundle entry: every workflow a Conveyor worker runs for any factory. */
export { factoryJobWorkflow } from './factory-job';
export { batchWorkflow } from './batch';
export { scheduledEvaluationWorkflow } from './evaluation';
export { distillWorkflow } from './distill';
