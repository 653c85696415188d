/**
 * Conveyor's evaluation: golden sets from the shared datasets, the factory's own routing replayed
 * offline (cli/eval-durable.ts runs it durably on Temporal), and the cost/quality report. The pure
 * pieces (metrics, curve, agreement, rendering) are importable on their own.
 */
export { datasetNames, isDatasetName, loadNamedDataset, loadFileDataset, sampleItems, EvalDataError, EVAL_SEED, type DatasetName, type EvalDataset } from './datasets';
export { cachedTrainedModel, openModelFile, trainingDataHash, EvalModelError, type EvalModel } from './model';
export { evaluationGateway, evaluationRegistry, EVAL_SMALL_MODEL_ID } from './serving';
export {
  evaluationTarget,
  withModelLabels,
  learnableClassifierStations,
  defaultLearnableStation,
  EvaluationTargetError,
  EVAL_MODEL_FILE_OPTION,
  type EvaluationTarget,
  type TargetChoice,
} from './target';
export { decideItem, evaluateOffline, isCorrect, targetStepSettings, escalationEstimateUsd, type ItemDecision, type TierCall, type FinalStop, type StepSettings } from './offline';
export {
  summarize,
  curvePoint,
  coveredAt,
  defaultCurveThresholds,
  compareDecisions,
  percentile,
  reportAssumptions,
  type EvalReport,
  type CurvePoint,
  type Agreement,
  type ComparableDecision,
  type Disagreement,
} from './metrics';
export { reportMarkdown, coverageAccuracySvg, costQualitySvg, linePlotSvg, writeReportFiles, type FullReport, type ReportContext } from './render';
export { runEvaluation, type EvaluationOptions, type EvaluationRun, type DurableEvaluator, type DurableEvaluationRequest } from './run';
