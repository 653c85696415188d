/**
 * Conveyor's public API (the package root): define a factory, start and inspect its jobs, run workers.
 * Workflow code imports from `conveyor/workflow` (./workflow.ts) instead: it bundles into the sandbox.
 */
export * from './factory';
export { DEFINITION_API_VERSION } from './factory/define';
export { supportFactory } from './factories/support';
export * from './client';
export { createConveyorWorker, conveyorActivities, runWorker, bundleConveyorWorkflows, factoryFromSettings, defaultOutbox, workflowsPath, builtinWorkflowsPath, type ConveyorWorkerOptions, type ConveyorActivityOptions } from './workers/worker';
export { createModelGateway } from './providers/gateway';
export { Outbox, type OutboxRow } from './activities/outbox';
export { loadSettings, type ConveyorSettings } from './platform/settings';
export { ensureTemporal } from './platform/embedded-server';
