/**
 * The model under evaluation: a saved classifier given with --model, or one trained on the dataset's
 * train split and cached under `$CONVEYOR_DATA_DIR/models/`, keyed by a hash of the training data and
 * settings, so repeated runs reuse it instead of retraining.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { LabelledText } from '../../providers/local/classifier';
import { loadClassifier, saveClassifier } from '../../providers/local/model-file';
import { trainSizedClassifier } from '../../providers/local/model-store';
import { classifierPresets, type ModelSize } from '../../providers/local/tiers';
import { InvalidModelFileError } from '../../providers/local/errors';
import { EVAL_SEED } from './datasets';

export interface EvalModel {
  /** Absolute path of the saved classifier (what the small tier's `options.modelFile` names). */
  file: string;
  labels: string[];
  /** True when this run trained it; false when it was given or found in the cache. */
  trained: boolean;
  trainMs?: number;
}

/** The model file is missing or not a classifier; the message names the file. */
export class EvalModelError extends Error {
  override readonly name = 'EvalModelError';
}

export function openModelFile(file: string): EvalModel {
  const absolute = path.resolve(file);
  try {
    const saved = loadClassifier(absolute);
    return { file: absolute, labels: saved.model.labels, trained: false };
  } catch (error) {
    if (error instanceof InvalidModelFileError) throw new EvalModelError(`--model: ${error.message}`);
    throw error;
  }
}

export function trainingDataHash(examples: readonly LabelledText[], size: ModelSize, seed: number): string {
  const hash = createHash('sha256');
  for (const example of examples) hash.update(example.text).update('\u0000').update(example.label).update('\u0001');
  hash.update(JSON.stringify({ preset: classifierPresets[size], seed }));
  return hash.digest('hex').slice(0, 16);
}

/** Trains on `train` unless a model of the same data, size and seed is already cached in `modelsDir`. */
export function cachedTrainedModel(options: {
  datasetName: string;
  /** The classifier's name (the target station's `localClassifier` name): the saved model's task and version prefix. */
  task: string;
  train: readonly LabelledText[];
  modelsDir: string;
  size?: ModelSize;
  seed?: number;
}): EvalModel {
  const size = options.size ?? 'medium';
  const seed = options.seed ?? EVAL_SEED;
  if (new Set(options.train.map((example) => example.label)).size < 2) {
    throw new EvalModelError(`${options.datasetName}: the training split needs at least 2 distinct labels to train a model; pass --model instead`);
  }
  const dataHash = trainingDataHash(options.train, size, seed);
  const safeName = options.datasetName.replace(/[^\w.-]+/g, '_');
  const file = path.resolve(options.modelsDir, `${safeName}-${size}-${dataHash}.model.json`);
  if (existsSync(file)) {
    try {
      const saved = loadClassifier(file);
      if (saved.training.dataHash === dataHash && saved.task === options.task) return { file, labels: saved.model.labels, trained: false };
    } catch (error) {
      if (!(error instanceof InvalidModelFileError)) throw error;
      // A damaged cache entry is retrained and overwritten below.
    }
  }
  const startedAt = performance.now();
  const model = trainSizedClassifier(options.train, size, seed);
  const trainMs = Math.round(performance.now() - startedAt);
  saveClassifier(file, model, options.task, { dataset: options.datasetName, dataHash, size, seed, trainSize: options.train.length });
  return { file, labels: model.labels, trained: true, trainMs };
}
