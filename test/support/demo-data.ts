/**
 * The project's demo intents (data/demo/support-intents.csv) as the learning tests use them: the whole
 * file, or shuffled with a seed and split into a golden set, a base model's training set and the
 * production traffic the learning loop collects from.
 */
import path from 'node:path';
import { loadLabelledFile } from '../../providers/local/dataset';
import { createSeededRandom, shuffleInPlace } from '../../providers/local/prng';

export const demoIntentsFile = path.resolve(__dirname, '..', '..', 'data', 'demo', 'support-intents.csv');

export function loadDemoIntents(): ReturnType<typeof loadLabelledFile> {
  return loadLabelledFile(demoIntentsFile);
}

/** Shuffled by `seed` (`all`): the first 200 examples golden, the next 40 a base model's, the rest production. */
export function demoIntentSplit(seed: number) {
  const demo = shuffleInPlace(loadDemoIntents(), createSeededRandom(seed));
  return { all: demo, golden: demo.slice(0, 200), base: demo.slice(200, 240), production: demo.slice(240) };
}
