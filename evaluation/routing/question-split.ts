/**
 * The train/test split of a benchmark, by question: rows with the same prompt text always land on the
 * same side (MMLU repeats some questions across subject files), so the router is never tested on a
 * question it was trained on. The split is a seeded shuffle of the distinct prompts (providers/local/prng).
 */
import { splitHeldOut } from '../../providers/local/prng';

export interface SplitSettings {
  seed: number;
  testFraction: number;
}

export interface QuestionSplit<T> {
  train: T[];
  test: T[];
  trainPrompts: number;
  testPrompts: number;
}

export function splitByQuestion<T extends { prompt: string }>(questions: readonly T[], settings: SplitSettings): QuestionSplit<T> {
  const distinctPrompts = [...new Set(questions.map((question) => question.prompt))];
  const { heldOut } = splitHeldOut(distinctPrompts, settings.testFraction, settings.seed);
  const testPrompts = new Set(heldOut);
  return {
    train: questions.filter((question) => !testPrompts.has(question.prompt)),
    test: questions.filter((question) => testPrompts.has(question.prompt)),
    trainPrompts: distinctPrompts.length - testPrompts.size,
    testPrompts: testPrompts.size,
  };
}
