/**
 * One evaluation run, end to end: load the items, find or train the model, decide every item offline
 * with the factory's routing for the target station, optionally run the same items as jobs of the
 * target's job type on Temporal and compare,
 * and build the report (and its files). `conveyor eval` is a thin layer of flags over this. The durable
 * run is passed in (cli/eval-durable.ts): it needs a worker and a client, which this library, run
 * by the scheduled evaluation's activity too, may not import.
 */
import path from 'node:path';
import type { Factory } from '../../factory/define';
import { loadSettings, type ConveyorSettings } from '../../platform/settings';
import { loadFileDataset, loadNamedDataset, sampleItems, type DatasetName, type EvalDataset } from './datasets';
import { compareDecisions, summarize, type Agreement } from './metrics';
import { cachedTrainedModel, openModelFile, type EvalModel } from './model';
import { evaluateOffline, targetStepSettings, type ItemDecision, type StepSettings } from './offline';
import { evaluationGateway, evaluationRegistry } from './serving';
import { evaluationTarget, withModelLabels, type TargetChoice } from './target';
import { writeReportFiles, type FullReport } from './render';

export interface EvaluationOptions extends TargetChoice {
  /** The factory whose learnable classifier station is evaluated (`station`, `jobType`: see evaluationTarget). */
  factory: Factory;
  dataset?: DatasetName;
  dataFile?: string;
  textColumn?: string;
  labelColumn?: string;
  modelFile?: string;
  threshold?: number;
  limit?: number;
  /** Also run the items as jobs on Temporal and compare (cli/eval-durable.ts durableEvaluator). */
  durable?: DurableEvaluator;
  outDir?: string;
  command?: string;
  env?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
}

/** What a durable run gets: the items, the model under evaluation and the routing settings the offline run used. */
export interface DurableEvaluationRequest {
  settings: ConveyorSettings;
  env: NodeJS.ProcessEnv;
  model: EvalModel;
  items: EvalDataset['test'];
  stepSettings: StepSettings;
  log: (line: string) => void;
}

/** Runs the items as jobs on Temporal and returns the decisions the factory recorded, one per item. */
export type DurableEvaluator = (request: DurableEvaluationRequest) => Promise<ItemDecision[]>;

export interface EvaluationRun {
  report: FullReport;
  offline: ItemDecision[];
  durable?: ItemDecision[];
  agreement?: Agreement;
  model: EvalModel;
  files: string[];
}

function loadItems(options: EvaluationOptions): EvalDataset {
  if (options.dataset) return loadNamedDataset(options.dataset, options.env);
  if (!options.dataFile) throw new Error('an evaluation needs a dataset or a data file');
  return loadFileDataset(options.dataFile, {
    textColumn: options.textColumn,
    labelColumn: options.labelColumn,
    wholeFileIsTest: options.modelFile !== undefined,
  });
}

export async function runEvaluation(options: EvaluationOptions): Promise<EvaluationRun> {
  const env = options.env ?? process.env;
  const log = options.log ?? (() => {});
  const settings = loadSettings(env);
  const baseTarget = evaluationTarget(options.factory, options);
  const dataset = loadItems(options);
  const items = sampleItems(dataset.test, options.limit);

  let model: EvalModel;
  if (options.modelFile) {
    model = openModelFile(options.modelFile);
  } else {
    log(`finding or training a model on ${dataset.train.length} ${dataset.name} training items…`);
    model = cachedTrainedModel({ datasetName: dataset.name, task: baseTarget.classifier.name, train: dataset.train, modelsDir: path.join(settings.dataDir, 'models') });
    log(model.trained ? `trained ${model.file} in ${model.trainMs} ms` : `reusing ${model.file}`);
  }

  const target = withModelLabels(baseTarget, model.labels);
  const registry = evaluationRegistry(model.file, env);
  const stepSettings = targetStepSettings(target, registry.models, options.threshold);
  const gateway = evaluationGateway(registry, env);
  let offline: ItemDecision[];
  try {
    offline = await evaluateOffline(items, gateway, stepSettings, model.labels);
  } finally {
    await gateway.close();
  }
  const offlineReport = summarize(offline, stepSettings.threshold);

  let durable: ItemDecision[] | undefined;
  let agreement: Agreement | undefined;
  if (options.durable) {
    durable = await options.durable({ settings, env, model, items, stepSettings, log });
    agreement = compareDecisions(offline, durable);
  }

  const report: FullReport = {
    ...offlineReport,
    context: {
      dataset: dataset.name,
      factory: `${options.factory.name} ${options.factory.version}`,
      station: target.station.name,
      jobType: target.jobType.name,
      source: dataset.source,
      splitNote: options.limit !== undefined && options.limit < dataset.test.length ? `a seeded sample of ${items.length}: ${dataset.splitNote}` : dataset.splitNote,
      modelFile: model.file,
      modelLabels: model.labels.length,
      registry: registry.models.map((spec) => ({
        tier: spec.tier,
        modelId: spec.id,
        inputPricePerMTokUsd: spec.inputPricePerMTokUsd,
        outputPricePerMTokUsd: spec.outputPricePerMTokUsd,
      })),
      command: options.command ?? 'conveyor eval',
      generatedAt: new Date().toISOString(),
    },
    ...(durable && agreement ? { durable: { report: summarize(durable, stepSettings.threshold), agreement } } : {}),
  };
  const files = options.outDir ? writeReportFiles(options.outDir, report) : [];
  return { report, offline, durable, agreement, model, files };
}
