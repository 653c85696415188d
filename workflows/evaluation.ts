/**
 * Evaluation as continuous monitoring: a workflow a Temporal Schedule starts on a cron, which re-runs
 * an evaluation and fails — visibly, as a failed run in the UI — when accuracy drops more than the
 * tolerance below the baseline.
 */
import { ApplicationFailure, proxyActivities, upsertSearchAttributes } from '@temporalio/workflow';
import type { EvaluationActivities, ScheduledEvaluationRequest, ScheduledEvaluationResult } from '../activities/evaluation';
import { ConveyorJobType, ConveyorStatus } from '../domain/search-attributes';

const { runScheduledEvaluation } = proxyActivities<EvaluationActivities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '2 minutes',
  retry: { maximumAttempts: 3, nonRetryableErrorTypes: ['EvalDataError', 'EvalModelError'] },
});

export async function scheduledEvaluationWorkflow(request: ScheduledEvaluationRequest): Promise<ScheduledEvaluationResult> {
  upsertSearchAttributes([
    { key: ConveyorJobType, value: 'evaluation' },
    { key: ConveyorStatus, value: 'running' },
  ]);
  const result = await runScheduledEvaluation(request);
  const floor = request.baselineAccuracy - request.tolerance;
  if (result.modelAccuracy < floor) {
    upsertSearchAttributes([{ key: ConveyorStatus, value: 'failed' }]);
    throw ApplicationFailure.create({
      type: 'EvaluationRegressionError',
      nonRetryable: true,
      message: `model accuracy ${result.modelAccuracy.toFixed(4)} fell below the baseline ${request.baselineAccuracy.toFixed(4)} minus the tolerance ${request.tolerance} (n = ${result.n})`,
      details: [result],
    });
  }
  upsertSearchAttributes([{ key: ConveyorStatus, value: 'completed' }]);
  return result;
}
