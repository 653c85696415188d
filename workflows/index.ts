/** The workflow bundle's entry: every workflow the Conveyor worker runs. */
export { jobWorkflow } from './job';
export { batchWorkflow } from './batch';
export { scheduledEvaluationWorkflow } from './evaluation';
export { distillWorkflow } from './distill';
