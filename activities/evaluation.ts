/**
 * The scheduled evaluation's activity: runs the offline evaluation (the same routing code as the
 * workflows) and returns its headline figures for the workflow to compare with the baseline.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { runEvaluation } from '../evaluation/eval/run';
import { EvaluationTargetError } from '../evaluation/eval/target';
import type { Factory } from '../factory/define';

export interface ScheduledEvaluationRequest {
  /** The learnable classifier station evaluated, and the job type whose policy decides it (defaults: see evaluationTarget). */
  station?: string;
  jobType?: string;
  dataset?: 'banking77' | 'clinc150' | 'bitext-customer-support';
  dataFile?: string;
  modelFile?: string;
  limit?: number;
  threshold?: number;
  /** The model's own accuracy (threshold 0) that runs are compared with. */
  baselineAccuracy: number;
  tolerance: number;
}

export interface ScheduledEvaluationResult {
  n: number;
  /** The small model's own accuracy on every item (no escalation): the figure the baseline watches. */
  modelAccuracy: number;
  /** Accuracy with escalations counted right, at the routing threshold. */
  accuracy: number;
  coverage: number;
  accuracyOnCovered: number;
  modelFile: string;
}

/** The curve's point at threshold 0: every item kept, so accuracy is the model's alone. */
export function modelAccuracyOf(curve: readonly { threshold: number; accuracyOnCovered: number }[]): number {
  const everyItem = curve.find((point) => point.threshold === 0);
  if (!everyItem) throw new Error('the evaluation curve has no point at threshold 0');
  return everyItem.accuracyOnCovered;
}

/** The scheduled evaluation's activity, for the worker's factory. */
export function createEvaluationActivities(deps: { factory: Factory }) {
  return {
    runScheduledEvaluation: (request: ScheduledEvaluationRequest) => runScheduledEvaluation(deps.factory, request),
  };
}

export type EvaluationActivities = ReturnType<typeof createEvaluationActivities>;

export async function runScheduledEvaluation(factory: Factory, request: ScheduledEvaluationRequest): Promise<ScheduledEvaluationResult> {
  const heartbeat = setInterval(() => Context.current().heartbeat(), 10_000);
  try {
    const run = await runEvaluation({
      factory,
      station: request.station,
      jobType: request.jobType,
      dataset: request.dataset,
      dataFile: request.dataFile,
      modelFile: request.modelFile,
      limit: request.limit,
      threshold: request.threshold,
    }).catch((error: unknown) => {
      // The factory has no such station or job type: retrying cannot help.
      if (error instanceof EvaluationTargetError) throw ApplicationFailure.create({ type: error.name, message: error.message, nonRetryable: true });
      throw error;
    });
    return {
      n: run.report.n,
      modelAccuracy: modelAccuracyOf(run.report.curve),
      accuracy: run.report.accuracy,
      coverage: run.report.coverage,
      accuracyOnCovered: run.report.accuracyOnCovered,
      modelFile: run.model.file,
    };
  } finally {
    clearInterval(heartbeat);
  }
}
