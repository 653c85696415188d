/**
 * Evaluation data: adapters that read the shared public datasets (BANKING77, CLINC150 with its
 * out-of-scope pool, the Bitext customer-support set) from the shared data folder, or any labelled
 * CSV/JSONL file, into a train split (for a model trained on the spot) and a test split (what is
 * evaluated). The data is read where it lives and never copied into the repository.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { LabelledText } from '../../providers/local/classifier';
import { loadLabelledFile, resolveSharedDataDir } from '../../providers/local/dataset';
import { splitHeldOut, createSeededRandom, shuffleInPlace } from '../../providers/local/prng';
import { InvalidTrainingDataError } from '../../providers/local/errors';

export const datasetNames = ['banking77', 'clinc150', 'bitext-customer-support'] as const;
export type DatasetName = (typeof datasetNames)[number];

/** The seed of every split and sample, so two runs evaluate the very same items. */
export const EVAL_SEED = 20_260_312;

export interface EvalDataset {
  /** A dataset name or the data file's name. */
  name: string;
  /** Where the items came from (files), for the report. */
  source: string;
  /** Examples to train a model on when none is given (undefined when the caller must pass --model). */
  train: LabelledText[];
  test: LabelledText[];
  /** How the test split was chosen, in one line for the report. */
  splitNote: string;
}

/** The dataset is missing or unreadable; the message names the path and what to do. */
export class EvalDataError extends Error {
  override readonly name = 'EvalDataError';
}

export function isDatasetName(name: string): name is DatasetName {
  return (datasetNames as readonly string[]).includes(name);
}

function requireFile(filePath: string, dataset: string): string {
  if (!existsSync(filePath)) {
    throw new EvalDataError(
      `dataset ${dataset}: ${filePath} not found; put the shared data there or point CONVEYOR_SHARED_DATA at the folder that holds ${dataset}/`,
    );
  }
  return filePath;
}

function loadFile(filePath: string, textColumn: string, labelColumn: string): LabelledText[] {
  try {
    return loadLabelledFile(filePath, { textColumn, labelColumn });
  } catch (error) {
    if (error instanceof InvalidTrainingDataError) throw new EvalDataError(error.message);
    throw error;
  }
}

function loadBanking77(dataDir: string): EvalDataset {
  const folder = path.join(dataDir, 'banking77');
  const trainFile = requireFile(path.join(folder, 'train.csv'), 'banking77');
  const testFile = requireFile(path.join(folder, 'test.csv'), 'banking77');
  return {
    name: 'banking77',
    source: `${trainFile}, ${testFile}`,
    train: loadFile(trainFile, 'text', 'category'),
    test: loadFile(testFile, 'text', 'category'),
    splitNote: 'the published test.csv (3,080 items, 40 per intent); models trained on train.csv',
  };
}

type ClincPairs = Array<[string, string]>;

function clincPairs(data: Record<string, unknown>, key: string, file: string): LabelledText[] {
  const pairs = data[key];
  if (!Array.isArray(pairs)) throw new EvalDataError(`dataset clinc150: ${file} has no "${key}" list`);
  return (pairs as ClincPairs)
    .filter((pair) => Array.isArray(pair) && typeof pair[0] === 'string' && typeof pair[1] === 'string')
    .map(([text, label]) => ({ text: text.trim(), label: label.trim() }))
    .filter((example) => example.text && example.label);
}

function loadClinc150(dataDir: string): EvalDataset {
  const file = requireFile(path.join(dataDir, 'clinc150', 'data_full.json'), 'clinc150');
  let data: Record<string, unknown>;
  try {
    data = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    throw new EvalDataError(`dataset clinc150: ${file} is not JSON (${(error as Error).message})`);
  }
  const test = [...clincPairs(data, 'test', file), ...clincPairs(data, 'oos_test', file)];
  return {
    name: 'clinc150',
    source: file,
    // The out-of-scope pool is never trained on: the model must not know "oos", so the only right move is to escalate.
    train: clincPairs(data, 'train', file),
    test,
    splitNote: 'test (4,500 in-scope items) + oos_test (1,000 out-of-scope items, label "oos", unknown to the model); models trained on train',
  };
}

function loadBitext(dataDir: string): EvalDataset {
  const file = requireFile(path.join(dataDir, 'bitext-customer-support', 'Bitext_Sample_Customer_Support_Training_Dataset.csv'), 'bitext-customer-support');
  const examples = loadFile(file, 'instruction', 'intent');
  const { train, heldOut } = splitHeldOut(examples, 0.2, EVAL_SEED);
  return {
    name: 'bitext-customer-support',
    source: file,
    train,
    test: heldOut,
    splitNote: `a seeded 80/20 split of the only file (seed ${EVAL_SEED}): ${heldOut.length} test items`,
  };
}

export function loadNamedDataset(name: DatasetName, env: NodeJS.ProcessEnv = process.env): EvalDataset {
  const dataDir = resolveSharedDataDir(env);
  if (name === 'banking77') return loadBanking77(dataDir);
  if (name === 'clinc150') return loadClinc150(dataDir);
  return loadBitext(dataDir);
}

/**
 * A labelled file of one's own. With a model given, every row is a test item; without one, a seeded
 * 80/20 split trains the model on the larger part and evaluates the rest.
 */
export function loadFileDataset(
  filePath: string,
  options: { textColumn?: string; labelColumn?: string; wholeFileIsTest: boolean },
): EvalDataset {
  const resolved = path.resolve(filePath);
  if (!existsSync(resolved)) throw new EvalDataError(`--data: file not found: ${resolved}`);
  const examples = loadFile(resolved, options.textColumn ?? 'text', options.labelColumn ?? 'label');
  if (options.wholeFileIsTest) {
    return { name: path.basename(resolved), source: resolved, train: [], test: examples, splitNote: `every row of ${path.basename(resolved)}` };
  }
  const { train, heldOut } = splitHeldOut(examples, 0.2, EVAL_SEED);
  return {
    name: path.basename(resolved),
    source: resolved,
    train,
    test: heldOut,
    splitNote: `a seeded 80/20 split of ${path.basename(resolved)} (seed ${EVAL_SEED}): ${heldOut.length} test items`,
  };
}

/** A reproducible sample of `limit` items (all of them, in order, when there is no limit). */
export function sampleItems<T>(items: readonly T[], limit: number | undefined, seed = EVAL_SEED): T[] {
  if (limit === undefined || limit >= items.length) return [...items];
  return shuffleInPlace([...items], createSeededRandom(seed)).slice(0, limit);
}
