/**
 * The names of Conveyor's job metrics and the histogram buckets they are exported with, shared by the
 * workflows that emit them (workflows/metrics.ts), the runtime that exports them (platform/logging.ts),
 * the alert rules and the dashboard (deploy/).
 */

/** Every metric Conveyor's workflows emit, with its type and unit (the README's metrics table). */
export const jobMetricNames = {
  modelCost: 'conveyor_model_cost_usd',
  modelCalls: 'conveyor_model_calls',
  escalations: 'conveyor_escalations',
  modelFailovers: 'conveyor_model_failovers',
  jobsFinished: 'conveyor_jobs_finished',
  actionAttempts: 'conveyor_action_attempts',
  approvalsRequested: 'conveyor_approvals_requested',
  approvalWait: 'conveyor_approval_wait_seconds',
  tokenUsage: 'gen_ai_client_token_usage',
  operationDuration: 'gen_ai_client_operation_duration_seconds',
} as const;

/** The buckets the GenAI conventions advise for token counts and call durations (seconds). */
export const genAiBuckets = {
  [jobMetricNames.tokenUsage]: [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864],
  [jobMetricNames.operationDuration]: [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92],
  // From seconds (a reviewer at the desk) to a week (an approval left over a holiday).
  [jobMetricNames.approvalWait]: [1, 10, 60, 300, 900, 3600, 14400, 43200, 86400, 259200, 604800],
};
