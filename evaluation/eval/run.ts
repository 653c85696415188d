/**
 * One evaluation run, end to end: load the items, find or train the model, decide every item offline
 * with the factory's routing, optionally run the same items as triage jobs on Temporal and compare,
 * and build the report (and its files). `conveyor eval` is a thin layer of flags over this.
 */
import { ConveyorClient } from '../../client';
import { connectWorkerConnection } from '../../platform/connection';
import { ensureTemporal } from '../../platform/embedded-server';
import { loadSettings } from '../../platform/settings';
import { createModelGateway } from '../../providers/gateway';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import path from 'node:path';
import { loadFileDataset, loadNamedDataset, sampleItems, type DatasetName, type EvalDataset } from './datasets';
import { evaluationOutboxFile, evaluateDurably, startEvaluationWorker } from './durable';
import { compareDecisions, summarize, type Agreement } from './metrics';
import { cachedTrainedModel, openModelFile, type EvalModel } from './model';
import { evaluateOffline, triageStepSettings, type ItemDecision } from './offline';
import { createOpenLabelLocalProvider, evaluationRegistry, withOpenIntentLabels } from './open-label';
import { writeReportFiles, type FullReport } from './render';

export interface EvaluationOptions {
  dataset?: DatasetName;
  dataFile?: string;
  textColumn?: string;
  labelColumn?: string;
  modelFile?: string;
  threshold?: number;
  limit?: number;
  durable?: boolean;
  outDir?: string;
  /** Jobs in flight at once in the durable run. */
  concurrency?: number;
  /** A pre-built workflow bundle for the durable run's worker (tests bundle once per file). */
  workflowBundle?: WorkflowBundleWithSourceMap;
  command?: string;
  env?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
}

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
  const dataset = loadItems(options);
  const items = sampleItems(dataset.test, options.limit);

  let model: EvalModel;
  if (options.modelFile) {
    model = openModelFile(options.modelFile);
  } else {
    log(`finding or training a model on ${dataset.train.length} ${dataset.name} training items…`);
    model = cachedTrainedModel({ datasetName: dataset.name, train: dataset.train, modelsDir: path.join(settings.dataDir, 'models') });
    log(model.trained ? `trained ${model.file} in ${model.trainMs} ms` : `reusing ${model.file}`);
  }

  const registry = evaluationRegistry(model.file, env);
  const stepSettings = triageStepSettings(registry.models, options.threshold);
  const gateway = withOpenIntentLabels(
    createModelGateway({ registry, providers: { local: createOpenLabelLocalProvider() }, cache: null, rateLimiter: null, env }),
  );
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
    durable = await runDurable(options, settings, env, model, items, stepSettings, log);
    agreement = compareDecisions(offline, durable);
  }

  const report: FullReport = {
    ...offlineReport,
    context: {
      dataset: dataset.name,
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

async function runDurable(
  options: EvaluationOptions,
  settings: ReturnType<typeof loadSettings>,
  env: NodeJS.ProcessEnv,
  model: EvalModel,
  items: EvalDataset['test'],
  stepSettings: ReturnType<typeof triageStepSettings>,
  log: (line: string) => void,
): Promise<ItemDecision[]> {
  const runId = `eval-${new Date().toISOString().replace(/[-:.TZ]/g, '').slice(0, 17)}-${Math.random().toString(36).slice(2, 6)}`;
  // A task queue of its own, so no other worker (with another small model) picks up these jobs.
  const taskQueue = `${settings.taskQueue}-${runId}`;
  const endpoint = await ensureTemporal(settings, { log });
  const connection = await connectWorkerConnection(settings, endpoint.address);
  let evaluationWorker: Awaited<ReturnType<typeof startEvaluationWorker>> | undefined;
  let client: ConveyorClient | undefined;
  try {
    log(options.workflowBundle ? 'starting an evaluation worker…' : 'bundling workflows and starting an evaluation worker…');
    evaluationWorker = await startEvaluationWorker({
      connection,
      namespace: settings.namespace,
      taskQueue,
      modelFile: model.file,
      outboxFile: evaluationOutboxFile(settings.dataDir),
      workflowBundle: options.workflowBundle,
      env,
    });
    client = await ConveyorClient.connect({ settings: { ...settings, taskQueue }, address: endpoint.address, uiUrl: endpoint.uiUrl });
    const run = await evaluateDurably({ client, items, knownLabels: model.labels, settings: stepSettings, runId, concurrency: options.concurrency, log });
    log(`durable run ${run.batchId}: ${run.decisions.length} jobs in ${(run.elapsedMs / 1000).toFixed(1)} s${client.uiLink(run.batchId) ? ` — ${client.uiLink(run.batchId)}` : ''}`);
    return run.decisions;
  } finally {
    await client?.close();
    await evaluationWorker?.stop();
    await connection.close();
    await endpoint.stop();
  }
}
