/**
 * Where the provider's classifiers come from: the default intent and relevance models are trained from
 * the project's demo data (data/demo) on first use — under a second — and kept in memory; when a model
 * directory is configured they are also saved there and reloaded while the demo data is unchanged.
 * A ModelSpec may instead name a saved model file, loaded once and reloaded when the file changes.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { trainClassifier, type LabelledText, type TextClassifier } from './classifier';
import { loadLabelledFile, repositoryRoot } from './dataset';
import { loadClassifier, modelVersionOf, saveClassifier } from './model-file';
import { classifierPresets, type ModelSize } from './tiers';
import { InvalidModelFileError } from './errors';

export type ClassifierTask = 'intent' | 'relevance';

export interface LoadedClassifier {
  model: TextClassifier;
  task: string;
  /** Recorded in the ledger, e.g. "intent-lr@1:3f2a9c0d11be". */
  version: string;
}

export const demoDataDir = path.join(repositoryRoot, 'data', 'demo');
export const demoDataFiles: Record<ClassifierTask, string> = {
  intent: path.join(demoDataDir, 'support-intents.csv'),
  relevance: path.join(demoDataDir, 'call-snippets.csv'),
};

/** Trains a classifier of the given size with that tier's features and training settings. */
export function trainSizedClassifier(examples: readonly LabelledText[], size: ModelSize, seed?: number): TextClassifier {
  const preset = classifierPresets[size];
  return trainClassifier(examples, preset.features, seed === undefined ? preset.training : { ...preset.training, seed });
}

export class ClassifierStore {
  private readonly defaults = new Map<string, LoadedClassifier>();
  private readonly fromFiles = new Map<string, { modifiedMs: number; loaded: LoadedClassifier }>();

  constructor(private readonly modelDir?: string) {}

  defaultModel(task: ClassifierTask, size: ModelSize): LoadedClassifier {
    const key = `${task}-${size}`;
    const cached = this.defaults.get(key);
    if (cached) return cached;

    const dataFile = demoDataFiles[task];
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
      if (savedPath) saveClassifier(savedPath, model, task, { dataFile: path.relative(repositoryRoot, dataFile), dataHash, examples: examples.length, size });
    }
    const loaded = { model, task, version: modelVersionOf(task, model) };
    this.defaults.set(key, loaded);
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
