/**
 * `conveyor train`: trains a local text classifier from a labelled CSV or JSONL file, reports its
 * accuracy on a seeded held-out tenth (overall and on the most confident 80%), and saves the model
 * for a ModelSpec's `options.modelFile`. Bad input exits with code 2 and a message naming the problem.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { classifyText, type LabelledText, type TextClassifier } from '../providers/local/classifier';
import { loadLabelledFile } from '../providers/local/dataset';
import { saveClassifier } from '../providers/local/model-file';
import { trainSizedClassifier } from '../providers/local/model-store';
import { splitHeldOut } from '../providers/local/prng';
import { InvalidTrainingDataError } from '../providers/local/errors';
import type { ModelSize } from '../providers/local/tiers';
import { runAsScript } from './output';

export interface TrainFromFileOptions {
  dataPath: string;
  outPath: string;
  textColumn?: string;
  labelColumn?: string;
  modelSize?: ModelSize;
  /** Task name stored in the model and its version, e.g. "intent" (default) or "relevance". */
  task?: string;
  seed?: number;
}

export interface TrainSummary {
  n: number;
  trainSize: number;
  testSize: number;
  labels: string[];
  accuracy: number;
  /** Accuracy on the 80% of held-out examples the model was most confident about. */
  accuracyAtTop80: number;
  trainMs: number;
  out: string;
}

export interface HeldOutScore {
  accuracy: number;
  accuracyAtTop80: number;
}

/** Accuracy overall and on the most confident 80% (ties broken by position, so the result is stable). */
export function scoreOnHeldOut(model: TextClassifier, examples: readonly LabelledText[]): HeldOutScore {
  const outcomes = examples.map((example) => {
    const { label, confidence } = classifyText(model, example.text);
    return { correct: label === example.label, confidence };
  });
  const accuracyOf = (items: typeof outcomes) => (items.length === 0 ? 0 : items.filter((item) => item.correct).length / items.length);
  const mostConfident = [...outcomes].sort((a, b) => b.confidence - a.confidence).slice(0, Math.max(1, Math.round(outcomes.length * 0.8)));
  return { accuracy: accuracyOf(outcomes), accuracyAtTop80: accuracyOf(mostConfident) };
}

const DEFAULT_SEED = 20_260_312;

export function trainFromFile(options: TrainFromFileOptions): TrainSummary {
  const examples = loadLabelledFile(options.dataPath, {
    textColumn: options.textColumn ?? 'text',
    labelColumn: options.labelColumn ?? 'label',
  });
  if (examples.length < 10) throw new InvalidTrainingDataError(`${options.dataPath}: only ${examples.length} labelled rows; need at least 10`);
  const seed = options.seed ?? DEFAULT_SEED;
  const { train, heldOut } = splitHeldOut(examples, 0.1, seed);
  if (new Set(train.map((example) => example.label)).size < 2) {
    throw new InvalidTrainingDataError(`${options.dataPath}: the labels column "${options.labelColumn ?? 'label'}" needs at least 2 distinct labels`);
  }
  const size = options.modelSize ?? 'medium';
  const startedAt = performance.now();
  const model = trainSizedClassifier(train, size, seed);
  const trainMs = Math.round(performance.now() - startedAt);
  const score = scoreOnHeldOut(model, heldOut);
  const out = path.resolve(options.outPath);
  saveClassifier(out, model, options.task ?? 'intent', {
    dataFile: path.basename(options.dataPath),
    size,
    seed,
    trainSize: train.length,
    heldOutSize: heldOut.length,
    heldOutAccuracy: score.accuracy,
  });
  return { n: examples.length, trainSize: train.length, testSize: heldOut.length, labels: model.labels, ...score, trainMs, out };
}

const modelSizes: readonly string[] = ['small', 'medium', 'large'];

const usage =
  'usage: conveyor train --data <file.csv|file.jsonl> [--text-column text] [--label-column label] [--model-size small|medium|large] [--task intent] --out <model-file> [--json]';

export function trainCommand(argv: string[], out: { stdout: (s: string) => void; stderr: (s: string) => void }): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        data: { type: 'string' },
        out: { type: 'string' },
        'text-column': { type: 'string' },
        'label-column': { type: 'string' },
        'model-size': { type: 'string' },
        task: { type: 'string' },
        json: { type: 'boolean' },
      },
      allowPositionals: false,
      strict: true,
    }));
  } catch (error) {
    out.stderr(`conveyor train: ${(error as Error).message}\n${usage}`);
    return Promise.resolve(2);
  }
  const text = (flag: string): string | undefined => {
    const value = values[flag];
    return typeof value === 'string' ? value : undefined;
  };
  const dataPath = text('data');
  const outPath = text('out');
  const modelSize = text('model-size') ?? 'medium';
  const problem = !dataPath
    ? 'missing --data <file>'
    : !outPath
      ? 'missing --out <model-file>'
      : !modelSizes.includes(modelSize)
        ? `--model-size must be small, medium or large, not "${modelSize}"`
        : undefined;
  if (problem || !dataPath || !outPath) {
    out.stderr(`conveyor train: ${problem ?? 'bad arguments'}\n${usage}`);
    return Promise.resolve(2);
  }

  let summary: TrainSummary;
  try {
    summary = trainFromFile({
      dataPath,
      outPath,
      textColumn: text('text-column'),
      labelColumn: text('label-column'),
      modelSize: modelSize as ModelSize,
      task: text('task'),
    });
  } catch (error) {
    if (error instanceof InvalidTrainingDataError) {
      out.stderr(`conveyor train: ${error.message}`);
      return Promise.resolve(2);
    }
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }

  if (values.json === true) {
    out.stdout(JSON.stringify(summary));
  } else {
    const percent = (value: number) => `${(value * 100).toFixed(1)}%`;
    out.stdout(`trained on ${summary.trainSize} of ${summary.n} examples, ${summary.labels.length} labels, in ${summary.trainMs} ms`);
    out.stdout(`held-out accuracy: ${percent(summary.accuracy)} on ${summary.testSize} examples`);
    out.stdout(`on the most confident 80%: ${percent(summary.accuracyAtTop80)}`);
    out.stdout(`saved ${summary.out}`);
  }
  return Promise.resolve(0);
}

if (require.main === module) runAsScript(trainCommand);
