/**
 * Conveyor's custom search attributes: what operators filter runs by in the Temporal UI.
 * Pure declarations, importable from workflow code; the platform registers them on the server.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const ConveyorStatus = defineSearchAttributeKey('ConveyorStatus', SearchAttributeType.KEYWORD);
export const ConveyorJobType = defineSearchAttributeKey('ConveyorJobType', SearchAttributeType.KEYWORD);
export const ConveyorTopTier = defineSearchAttributeKey('ConveyorTopTier', SearchAttributeType.KEYWORD);
export const ConveyorBatchId = defineSearchAttributeKey('ConveyorBatchId', SearchAttributeType.KEYWORD);
export const ConveyorCostUsd = defineSearchAttributeKey('ConveyorCostUsd', SearchAttributeType.DOUBLE);
export const ConveyorEscalations = defineSearchAttributeKey('ConveyorEscalations', SearchAttributeType.INT);

export const conveyorSearchAttributes = [
  ConveyorStatus,
  ConveyorJobType,
  ConveyorTopTier,
  ConveyorBatchId,
  ConveyorCostUsd,
  ConveyorEscalations,
] as const;

/** Job statuses as operators see them in `ConveyorStatus`. */
/** `action_failed`: an action failed for good and waits for a reviewer's decision (retry, edit and retry, skip, reject). */
export const jobStatuses = ['planning', 'running', 'awaiting_approval', 'action_failed', 'completed', 'failed', 'rejected'] as const;
export type JobStatus = (typeof jobStatuses)[number];

/** The workflow types that run jobs: factory jobs, and the first job workflow kept for jobs started on it. */
export const jobWorkflowTypes = ['factoryJobWorkflow', 'jobWorkflow'] as const;
/** The visibility clause that selects job runs of either type. */
export const jobWorkflowTypeClause = `WorkflowType IN (${jobWorkflowTypes.map((type) => `"${type}"`).join(', ')})`;
