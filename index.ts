/**
 * Conveyor's public API (the package root): define a factory, start and inspect its jobs, run workers.
 * Workflow code imports from `conveyor/workflow` (./workflow.ts) instead: it bundles into the sandbox.
 */
export * from './factory';
/** The zod the definitions' schemas are checked with: import it from here, so a factory and the engine share one copy. */
export { z } from 'zod';
export { DEFINITION_API_VERSION } from './factory/define';
export { supportFactory } from './factories/support';
export * from './client';
export { createConveyorWorker, conveyorActivities, openConveyorActivities, conveyorPreloadModules, runWorker, bundleConveyorWorkflows, factoryFromSettings, defaultOutbox, workflowsPath, builtinWorkflowsPath, type ConveyorWorkerOptions, type ConveyorActivityOptions, type ConveyorActivities } from './workers/worker';
export { createModelGateway } from './providers/gateway';
export { Outbox, type ActionReceiptStore, type OutboxRow } from './activities/outbox';
export { PostgresOutbox } from './activities/outbox-postgres';
export { openClaimStore, type Claim, type ClaimStore } from './platform/claims';
export { webhookAction, webhookSignature, withWebhookActions, type WebhookActionSpec, type WebhookEnvelope } from './activities/webhook';
export { loadSettings, type ConveyorSettings } from './platform/settings';
export { ensureTemporal } from './platform/embedded-server';
export { conveyorTelemetry } from './platform/logging';
export { conveyorSinks } from './workers/metrics-sink';
