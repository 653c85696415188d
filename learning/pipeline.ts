/**
 * The distill run's three pieces of work, shared by the workflow's activities and the offline
 * simulation: curate (base data + collected examples → train and held-out files), train a candidate
 * from the training rows, and evaluate candidate and current model on the golden set and the held-out
 * examples — gate verdict, per-label changes and report files included. Files live in the station's
 * run folder under the data dir; what crosses into the workflow is the summary and the report.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { LabelledText } from '../providers/local/classifier';
import { loadLabelledFile } from '../providers/local/dataset';
import { saveClassifier, modelVersionOf } from '../providers/local/model-file';
import { trainSizedClassifier } from '../providers/local/model-store';
import { curateExamples, repeatByWeight, type CuratedExample } from './curation';
import type { EvaluationTarget } from '../evaluation/eval/target';
import { evaluateModelFile } from './evaluate';
import { gateCandidate, labelChanges } from './gate';
import { learningDirOf, type ModelRegistry } from './model-registry';
import type { CuratedRun, DistillReport, DistillSettings, ModelEvaluation, TrainedCandidate, CollectedExample } from './types';

export function runDirOf(dataDir: string, station: string, runId: string): string {
  return path.join(learningDirOf(dataDir, station), 'runs', runId.replace(/[^\w.-]+/g, '_'));
}

function writeJsonl(file: string, rows: readonly unknown[]): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, rows.map((row) => JSON.stringify(row)).join('\n') + (rows.length > 0 ? '\n' : ''));
}

export function readCuratedFile(file: string): CuratedExample[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as CuratedExample);
}

export function loadDataFile(file: string, settings: Pick<DistillSettings, 'textColumn' | 'labelColumn'>): LabelledText[] {
  return loadLabelledFile(path.resolve(file), { textColumn: settings.textColumn, labelColumn: settings.labelColumn });
}

/** Curates a run from the base data and the station's collected examples (from either example store). */
export function curateRun(options: { settings: DistillSettings; runId: string; dataDir: string; collected: readonly CollectedExample[] }): CuratedRun {
  const { settings } = options;
  const base = settings.baseDataFile ? loadDataFile(settings.baseDataFile, settings) : [];
  const golden = loadDataFile(settings.goldenDataFile, settings);
  const curation = curateExamples({
    base,
    collected: options.collected,
    excludedTexts: golden.map((item) => item.text),
    heldOutFraction: settings.heldOutFraction,
  });
  const runDir = runDirOf(options.dataDir, settings.station, options.runId);
  const trainFile = path.join(runDir, 'train.jsonl');
  const heldOutFile = path.join(runDir, 'held-out.jsonl');
  writeJsonl(trainFile, curation.train);
  writeJsonl(heldOutFile, curation.heldOut);
  return { ...curation.summary, trainRows: repeatByWeight(curation.train).length, runId: options.runId, runDir, trainFile, heldOutFile };
}

/** Trains the candidate; it is saved under the station's classifier name (its task and version prefix, e.g. `intent-lr@1:…`). */
export function trainCandidate(options: { target: EvaluationTarget; trainFile: string; runDir: string; size: DistillSettings['size']; seed: number }): TrainedCandidate {
  const rows = repeatByWeight(readCuratedFile(options.trainFile));
  const startedAt = performance.now();
  const model = trainSizedClassifier(rows, options.size, options.seed);
  const trainMs = Math.round(performance.now() - startedAt);
  const task = options.target.classifier.name;
  const station = options.target.station.name;
  const file = path.join(options.runDir, 'candidate.model.json');
  saveClassifier(file, model, task, { station, size: options.size, seed: options.seed, trainRows: rows.length, trainFile: options.trainFile });
  return { version: modelVersionOf(task, model), file, trainMs, trainRows: rows.length };
}

export async function evaluateCandidate(options: {
  /** The station the run distills, as its factory runs it (see evaluation/eval/target.ts). */
  target: EvaluationTarget;
  settings: DistillSettings;
  runId: string;
  runDir: string;
  candidateFile: string;
  heldOutFile: string;
  curation: CuratedRun;
  /** The station's registry: the current model to compare with, and where the candidate is registered. */
  registry: ModelRegistry;
  env?: NodeJS.ProcessEnv;
  now?: Date;
}): Promise<DistillReport> {
  const { settings } = options;
  const golden = loadDataFile(settings.goldenDataFile, settings);
  const heldOut = readCuratedFile(options.heldOutFile);
  const { registry } = options;
  const serving = await registry.current();
  const candidate = await evaluateModelFile(options.target, options.candidateFile, golden, heldOut, settings.targetAccuracy, options.env);
  const current: ModelEvaluation | null = serving ? await evaluateModelFile(options.target, serving.file, golden, heldOut, settings.targetAccuracy, options.env) : null;
  const gate = gateCandidate(candidate, current, settings);
  const registered = await registry.register(
    options.candidateFile,
    {
      by: 'distill',
      threshold: candidate.thresholdAtTarget,
      runId: options.runId,
      notes: { goldenAccuracy: candidate.accuracy, coverageAtTarget: candidate.coverageAtTarget, gatePassed: gate.passed },
    },
    options.now,
  );
  const { runId: _runId, runDir: _runDir, trainFile: _trainFile, heldOutFile: _heldOutFile, ...curation } = options.curation;
  const report: DistillReport = {
    station: settings.station,
    runId: options.runId,
    generatedAt: (options.now ?? new Date()).toISOString(),
    settings: {
      targetAccuracy: settings.targetAccuracy,
      tolerance: settings.tolerance,
      size: settings.size,
      seed: settings.seed,
      goldenDataFile: path.resolve(settings.goldenDataFile),
      baseDataFile: settings.baseDataFile ? path.resolve(settings.baseDataFile) : null,
    },
    curation,
    candidate,
    current,
    gate,
    labelChanges: labelChanges(candidate, current),
    files: { json: path.join(options.runDir, 'report.json'), markdown: path.join(options.runDir, 'report.md'), candidateModel: registered.file },
  };
  writeDistillReport(report);
  return report;
}

const percent = (value: number) => `${(value * 100).toFixed(1)}%`;
const signedPoints = (value: number) => `${value >= 0 ? '+' : ''}${(value * 100).toFixed(1)}`;
const dollars = (value: number) => `$${value.toFixed(8)}`;

/** Rewrites the report files, e.g. once the shadow phase added its outcome; the same report writes the same files. */
export function writeDistillReport(report: DistillReport): void {
  fs.mkdirSync(path.dirname(report.files.json), { recursive: true });
  fs.writeFileSync(report.files.json, `${JSON.stringify(report, null, 2)}\n`);
  fs.writeFileSync(report.files.markdown, distillReportMarkdown(report));
}

export function distillReportMarkdown(report: DistillReport): string {
  const { candidate, current, curation } = report;
  const row = (name: string, value: (evaluation: ModelEvaluation) => string) => `| ${name} | ${current ? value(current) : '—'} | ${value(candidate)} |`;
  const changed = report.labelChanges.filter((change) => change.delta !== null && change.delta !== 0);
  const regressions = changed.filter((change) => (change.delta ?? 0) < 0).slice(0, 5);
  const gains = [...changed].reverse().filter((change) => (change.delta ?? 0) > 0).slice(0, 5);
  const target = percent(report.settings.targetAccuracy);
  return [
    `# Distill run ${report.runId} (${report.station})`,
    '',
    `- Golden set: ${report.settings.goldenDataFile} (${candidate.golden.n} items)`,
    `- Base data: ${report.settings.baseDataFile ?? 'none'}; collected examples: ${curation.collectedExamples}`,
    `- Curation: ${curation.trainExamples} training texts (${curation.trainRows} rows after weighting), ${curation.heldOutExamples} recent collected examples held out, ${curation.duplicatesMerged} duplicates merged, ${curation.conflictingTexts} conflicting texts dropped (${curation.conflictingRowsDropped} rows), ${curation.goldenOverlapDropped} golden-set texts dropped`,
    `- Gate: **${report.gate.passed ? 'passed' : 'refused'}** — ${report.gate.checks.map((check) => `${check.passed ? '✓' : '✗'} ${check.detail}`).join('; ')}`,
    ...(report.shadow ? [`- Shadow on live steps (${report.shadow.version}): **${report.shadow.passed ? 'passed' : 'refused'}** — ${report.shadow.detail}`] : []),
    '',
    `| measure | current (${current?.version ?? 'none'}) | candidate (${candidate.version}) |`,
    '| --- | --- | --- |',
    row('golden accuracy (model alone)', (e) => percent(e.accuracy)),
    row(`coverage at ${target} accuracy`, (e) => percent(e.coverageAtTarget)),
    row('threshold there', (e) => (e.thresholdAtTarget === null ? 'none reaches it' : String(e.thresholdAtTarget))),
    row('accuracy on covered items there', (e) => percent(e.accuracyOnCoveredAtTarget)),
    row('projected cost per item there', (e) => dollars(e.costPerItemUsdAtTarget)),
    row(`held-out collected examples (${candidate.heldOut.n}): accuracy`, (e) => percent(e.heldOut.accuracy)),
    row('held-out: coverage at the threshold', (e) => percent(e.heldOut.coverage)),
    '',
    '## Per-label changes (golden set, top-1 accuracy)',
    '',
    current ? `Largest regressions: ${regressions.map((c) => `${c.label} ${signedPoints(c.delta ?? 0)} pts`).join(', ') || 'none'}.` : 'No current model: no changes to compare.',
    current ? `Largest gains: ${gains.map((c) => `${c.label} ${signedPoints(c.delta ?? 0)} pts`).join(', ') || 'none'}.` : '',
    '',
    'Projected cost per item = the small model’s cost from registry prices and token counts + route()’s estimate of the next tier for each item below the threshold (local prices are notional).',
    '',
  ].join('\n');
}
