/**
 * `conveyor eval`: measures a small classifier as the factory would use it — accuracy, coverage,
 * escalations, cost and latency per item, and the threshold curve — on a shared dataset or a labelled
 * file, offline with the workflows' own routing code, and with --durable also as jobs on Temporal (an
 * in-process worker on the configured or embedded server), checking that both decide every item alike.
 * It measures one learnable classifier station of the factory (--factory, else CONVEYOR_FACTORY, else
 * the built-in one; --station, else its first) under one job type's policy (--job-type, else one that
 * runs the station alone). Bad input exits with code 2 and a message naming the problem.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { modelAccuracyOf } from '../activities/evaluation';
import { ConveyorClient } from '../client';
import { datasetNames, EvalDataError, EvalModelError, EvaluationTargetError, isDatasetName, runEvaluation, type DatasetName, type EvaluationOptions, type EvaluationRun } from '../evaluation/eval';
import { FactoryDefinitionError } from '../factory/validate';
import { FactoryModuleError } from '../platform/factory-module';
import { loadSettings } from '../platform/settings';
import { InvalidRegistryError } from '../providers/registry';
import { factoryFromSettings } from '../workers/worker';
import { durableEvaluator } from './eval-durable';
import { runAsScript, table, usd } from './output';

export interface CommandOutput {
  stdout: (line: string) => void;
  stderr: (line: string) => void;
}

const usage =
  'usage: conveyor eval (--dataset <banking77|clinc150|bitext-customer-support> | --data <file.csv|file.jsonl> [--text-column text] [--label-column label])\n' +
  '                     [--factory <module>] [--station <name>] [--job-type <name>]\n' +
  '                     [--model <model-file>] [--threshold <0..1>] [--limit N] [--durable [--concurrency N]] [--out <dir>] [--json]\n' +
  '                     [--schedule <cron> [--schedule-id ID] [--baseline <accuracy>] [--tolerance 0.02]]';

/** The evaluation's own options as flags give them, plus what only the command uses. */
export interface EvalArguments extends Pick<EvaluationOptions, 'station' | 'jobType' | 'dataset' | 'dataFile' | 'textColumn' | 'labelColumn' | 'modelFile' | 'threshold' | 'limit' | 'outDir'> {
  /** The factory module (default: CONVEYOR_FACTORY, else the built-in factory). */
  factoryModule?: string;
  durable: boolean;
  /** Jobs in flight at once in the durable run. */
  concurrency?: number;
  json: boolean;
  /** Register a Temporal Schedule that re-runs this evaluation on the cron. */
  schedule?: { cron: string; scheduleId?: string; baseline?: number; tolerance: number };
}

/** Parses and checks the flags; returns the problem in words when they are not usable. */
export function parseEvalArguments(argv: string[]): { ok: true; value: EvalArguments } | { ok: false; problem: string } {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        dataset: { type: 'string' },
        data: { type: 'string' },
        factory: { type: 'string' },
        station: { type: 'string' },
        'job-type': { type: 'string' },
        'text-column': { type: 'string' },
        'label-column': { type: 'string' },
        model: { type: 'string' },
        threshold: { type: 'string' },
        limit: { type: 'string' },
        durable: { type: 'boolean' },
        concurrency: { type: 'string' },
        out: { type: 'string' },
        json: { type: 'boolean' },
        schedule: { type: 'string' },
        'schedule-id': { type: 'string' },
        baseline: { type: 'string' },
        tolerance: { type: 'string' },
      },
      allowPositionals: false,
      strict: true,
    }));
  } catch (error) {
    return { ok: false, problem: (error as Error).message };
  }
  const text = (flag: string): string | undefined => {
    const value = values[flag];
    return typeof value === 'string' ? value : undefined;
  };
  const dataset = text('dataset');
  const dataFile = text('data');
  if (!dataset && !dataFile) return { ok: false, problem: `missing --dataset <${datasetNames.join('|')}> or --data <file>` };
  if (dataset && dataFile) return { ok: false, problem: 'give either --dataset or --data, not both' };
  if (dataset && !isDatasetName(dataset)) return { ok: false, problem: `--dataset must be one of ${datasetNames.join(', ')}, not "${dataset}"` };
  if (dataset && (text('text-column') || text('label-column'))) return { ok: false, problem: '--text-column and --label-column apply to --data files only' };

  const thresholdText = text('threshold');
  const threshold = thresholdText === undefined ? undefined : Number(thresholdText);
  if (threshold !== undefined && (thresholdText?.trim() === '' || !Number.isFinite(threshold) || threshold < 0 || threshold > 1)) {
    return { ok: false, problem: `--threshold must be a number from 0 to 1, not "${thresholdText}"` };
  }
  const positiveInteger = (flag: string): number | string | undefined => {
    const raw = text(flag);
    if (raw === undefined) return undefined;
    return /^\d+$/.test(raw) && Number(raw) > 0 ? Number(raw) : `--${flag} must be a whole number above 0, not "${raw}"`;
  };
  const limit = positiveInteger('limit');
  if (typeof limit === 'string') return { ok: false, problem: limit };
  const concurrency = positiveInteger('concurrency');
  if (typeof concurrency === 'string') return { ok: false, problem: concurrency };
  if (concurrency !== undefined && values.durable !== true) return { ok: false, problem: '--concurrency applies to --durable runs only' };
  const cron = text('schedule');
  const fraction = (flag: string): number | string | undefined => {
    const raw = text(flag);
    if (raw === undefined) return undefined;
    const value = Number(raw);
    return raw.trim() !== '' && Number.isFinite(value) && value >= 0 && value <= 1 ? value : `--${flag} must be a number from 0 to 1, not "${raw}"`;
  };
  const baseline = fraction('baseline');
  if (typeof baseline === 'string') return { ok: false, problem: baseline };
  const tolerance = fraction('tolerance');
  if (typeof tolerance === 'string') return { ok: false, problem: tolerance };
  if (cron === undefined && (baseline !== undefined || tolerance !== undefined || text('schedule-id'))) {
    return { ok: false, problem: '--baseline, --tolerance and --schedule-id apply with --schedule only' };
  }
  if (cron !== undefined && cron.trim().split(/\s+/).length !== 5) return { ok: false, problem: `--schedule must be a 5-field cron expression like "0 6 * * *", not "${cron}"` };
  if (cron !== undefined && values.durable === true) return { ok: false, problem: '--schedule runs the offline evaluation; drop --durable' };

  return {
    ok: true,
    value: {
      factoryModule: text('factory'),
      station: text('station'),
      jobType: text('job-type'),
      dataset: dataset as DatasetName | undefined,
      dataFile,
      textColumn: text('text-column'),
      labelColumn: text('label-column'),
      modelFile: text('model'),
      threshold,
      limit,
      durable: values.durable === true,
      concurrency,
      outDir: text('out'),
      json: values.json === true,
      schedule: cron === undefined ? undefined : { cron, scheduleId: text('schedule-id'), baseline, tolerance: tolerance ?? 0.02 },
    },
  };
}

/** The --json document: the report's measures first, then where they came from. */
export function evalJson(run: EvaluationRun): Record<string, unknown> {
  const { report } = run;
  const { context, durable, ...measures } = report;
  return {
    ...measures,
    dataset: context.dataset,
    factory: context.factory,
    station: context.station,
    jobType: context.jobType,
    model: { file: run.model.file, labels: run.model.labels.length, trained: run.model.trained },
    ...(durable ? { durable: { ...durable.report, agreement: durable.agreement } } : {}),
    files: run.files,
  };
}

function printHuman(run: EvaluationRun, out: CommandOutput): void {
  const { report } = run;
  const percent = (value: number) => `${(value * 100).toFixed(1)}%`;
  out.stdout(`${report.context.dataset}: ${report.n} items, station ${report.context.station} (job type ${report.context.jobType}), threshold ${report.threshold}, model ${run.model.file}`);
  out.stdout(
    table([
      { measure: 'accuracy (escalations assumed right)', value: percent(report.accuracy) },
      { measure: 'coverage (kept by the small model)', value: percent(report.coverage) },
      { measure: 'accuracy on covered items', value: percent(report.accuracyOnCovered) },
      { measure: 'escalation rate', value: percent(report.escalationRate) },
      { measure: 'escalation rate by tier', value: Object.entries(report.escalationRateByTier).map(([tier, rate]) => `${tier} ${percent(rate)}`).join(', ') },
      { measure: 'cost per item', value: usd(report.costPerItemUsd) },
      { measure: 'latency p50 / p95', value: `${report.p50Ms.toFixed(3)} / ${report.p95Ms.toFixed(3)} ms` },
      ...(report.outOfScope.n > 0 ? [{ measure: 'out-of-scope items escalated', value: `${report.outOfScope.escalated} of ${report.outOfScope.n}` }] : []),
    ]),
  );
  if (run.agreement) {
    out.stdout(`durable vs offline: ${run.agreement.agreed} of ${run.agreement.n} decisions agree`);
    for (const disagreement of run.agreement.disagreements.slice(0, 10)) {
      out.stdout(`  item ${disagreement.index}: ${disagreement.field} offline ${JSON.stringify(disagreement.offline)} durable ${JSON.stringify(disagreement.durable)}`);
    }
  }
  out.stdout(`assumption: ${report.assumptions[0] ?? ''}`);
  for (const file of run.files) out.stdout(`wrote ${file}`);
}

export async function evalCommand(argv: string[], out: CommandOutput, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const parsed = parseEvalArguments(argv);
  if (!parsed.ok) {
    out.stderr(`conveyor eval: ${parsed.problem}\n${usage}`);
    return 2;
  }
  const { factoryModule, ...options } = parsed.value;
  let run: EvaluationRun;
  try {
    const settings = loadSettings(env);
    const factory = factoryFromSettings(settings, factoryModule ?? settings.factoryModule);
    run = await runEvaluation({
      ...options,
      factory,
      durable: options.durable ? durableEvaluator({ concurrency: options.concurrency }) : undefined,
      command: ['conveyor eval', ...argv].join(' '),
      env,
      log: (line) => out.stderr(line),
    });
  } catch (error) {
    if (
      error instanceof EvalDataError ||
      error instanceof EvalModelError ||
      error instanceof EvaluationTargetError ||
      error instanceof InvalidRegistryError ||
      error instanceof FactoryDefinitionError ||
      error instanceof FactoryModuleError
    ) {
      out.stderr(`conveyor eval: ${error.message}`);
      return 2;
    }
    throw error;
  }
  if (options.json) out.stdout(JSON.stringify(evalJson(run)));
  else printHuman(run, out);
  if (options.schedule) {
    const scheduleId = options.schedule.scheduleId ?? `eval-${options.dataset ?? path.basename(options.dataFile ?? 'data')}`;
    const baselineAccuracy = options.schedule.baseline ?? modelAccuracyOf(run.report.curve);
    const client = await ConveyorClient.connect();
    try {
      await client.scheduleEvaluation(scheduleId, options.schedule.cron, {
        station: run.report.context.station,
        jobType: run.report.context.jobType,
        dataset: options.dataset,
        dataFile: options.dataFile && path.resolve(options.dataFile),
        modelFile: run.model.file,
        limit: options.limit,
        threshold: options.threshold,
        baselineAccuracy,
        tolerance: options.schedule.tolerance,
      });
    } finally {
      await client.close();
    }
    out.stderr(
      `scheduled "${scheduleId}" (${options.schedule.cron}): a run fails when the model's accuracy drops below ${baselineAccuracy.toFixed(4)} − ${options.schedule.tolerance}; a worker must be running (conveyor worker)`,
    );
  }
  // A durable run that disagrees with the offline one is a failed check, not just a number.
  return run.agreement && run.agreement.disagreements.length > 0 ? 1 : 0;
}

if (require.main === module) runAsScript(evalCommand);
