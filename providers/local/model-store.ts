/**
 * Where the provider's classifiers come from: a station's classifier (`localClassifier` in its
 * definition) is trained from the labelled file it names on first use, per tier, and kept in memory;
 * when a model directory is configured it is also saved there and reloaded while the file is unchanged.
 * A ModelSpec may instead name a saved model file, loaded once and reloaded when the file changes.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { trainClassifier, type LabelledText, type TextClassifier } from './classifier';
import { loadLabelledFile } from './dataset';
import { loadClassifier, modelVersionOf, saveClassifier } from './model-file';
import { classifierPresets, type ModelSize } from './tiers';
import { InvalidModelFileError, InvalidTrainingDataError } from './errors';

export interface LoadedClassifier {
  model: TextClassifier;
  task: string;
  /** Recorded in the ledger, e.g. "intent-lr@1:3f2a9c0d11be". */
  version: string;
}

/** What a default model is trained from: its name (the task) and its labelled file. */
export interface ClassifierSource {
  name: string;
  trainingFile: string;
}

/** Trains a classifier of the given size with that tier's features and training settings. */
export function trainSizedClassifier(examples: readonly LabelledText[], size: ModelSize, seed?: number): TextClassifier {
  const preset = classifierPresets[size];
  return trainClassifier(examples, preset.features, seed === undefined ? preset.training : { ...preset.training, seed });
}

export class ClassifierStore {
  private readonly defaults = new Map<string, { dataFile: string; loaded: LoadedClassifier }>();
  private readonly fromFiles = new Map<string, { modifiedMs: number; loaded: LoadedClassifier }>();

  constructor(private readonly modelDir?: string) {}

  defaultModel(source: ClassifierSource, size: ModelSize): LoadedClassifier {
    const dataFile = path.resolve(source.trainingFile);
    const key = `${source.name}-${size}`;
    const cached = this.defaults.get(key);
    if (cached && cached.dataFile === dataFile) return cached.loaded;
    if (!existsSync(dataFile)) throw new InvalidTrainingDataError(`classifier "${source.name}": its training file ${dataFile} does not exist`);

    const dataHash = createHash('sha256')
      .update(readFileSync(dataFile))
      .update(JSON.stringify(classifierPresets[size]))
      .digest('hex')
      .slice(0, 16);
    const savedPath = this.modelDir ? path.join(this.modelDir, `${key}.json`) : undefined;
    let model: TextClassifier | undefined;
    if (savedPath && existsSync(savedPath)) {
      try {
        const saved = loadClassifier(savedPath);
        if (saved.training.dataHash === dataHash) model = saved.model;
      } catch (error) {
        if (!(error instanceof InvalidModelFileError)) throw error;
        // A damaged cache file is rebuilt below rather than failing the call.
      }
    }
    if (!model) {
      const examples = loadLabelledFile(dataFile);
      model = trainSizedClassifier(examples, size);
      if (savedPath) saveClassifier(savedPath, model, source.name, { dataFile, dataHash, examples: examples.length, size });
    }
    const loaded = { model, task: source.name, version: modelVersionOf(source.name, model) };
    this.defaults.set(key, { dataFile, loaded });
    return loaded;
  }

  /** A saved model; relative paths resolve against the model directory (or the working directory). */
  modelFromFile(filePath: string): LoadedClassifier {
    const absolutePath = path.resolve(this.modelDir ?? process.cwd(), filePath);
    if (!existsSync(absolutePath)) throw new InvalidModelFileError(`model file not found: ${absolutePath} (from model option "${filePath}")`);
    const modifiedMs = statSync(absolutePath).mtimeMs;
    const cached = this.fromFiles.get(absolutePath);
    if (cached && cached.modifiedMs === modifiedMs) return cached.loaded;
    const saved = loadClassifier(absolutePath);
    const loaded = { model: saved.model, task: saved.task, version: modelVersionOf(saved.task, saved.model) };
    this.fromFiles.set(absolutePath, { modifiedMs, loaded });
    return loaded;
  }
}
