/**
 * Conveyor inside your own workflows: import from here in workflow code (it is deterministic and bundles
 * into Temporal's workflow sandbox). Register Conveyor's activities in your worker with
 * `conveyorActivities(...)` from the package root.
 */
export { useConveyor, runStation, requestApproval, runAction, conveyorRecord, isRejection, JobRejected, type ConveyorOptions } from './workflows/primitives';
export { decideUpdate, decideSignal, pendingApprovalsQuery, progressQuery, recordQuery, type DecideResult } from './workflows/messages';
export { factoryJobWorkflow } from './workflows/factory-job';
