/**
 * The train/test splits of a benchmark. Two kinds, both seeded (providers/local/prng) and both keeping
 * rows with the same prompt text on one side (MMLU repeats some questions across subject files), so the
 * router is never tested on a question it was trained on:
 * - by question (`splitByQuestion`): a seeded shuffle of the distinct prompts; the router trains on
 *   questions from the very subjects it is tested on (in-domain).
 * - by subject (`splitBySubject`, MMLU): a seeded shuffle of the subjects cut into folds of about
 *   `testFraction` of the rows each; one fold's subjects are held out, and every row of them is a test
 *   row, so the router never sees a held-out subject in training. A prompt recorded both in a held-out
 *   subject and in a training subject is dropped from the training side (its training-subject rows are
 *   left out and counted), so no prompt straddles the split and no subject is on both sides.
 */
import { createSeededRandom, shuffleInPlace, splitHeldOut } from '../../providers/local/prng';

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

export interface SubjectSplit<T> extends QuestionSplit<T> {
  /** The held-out subjects, in the order the seeded shuffle took them. */
  testSubjects: string[];
  trainSubjects: string[];
  /** Rows of training subjects left out because their prompt is also recorded in a held-out subject. */
  trainRowsDroppedAsSharedWithTest: number;
}

export class QuestionSplitError extends Error {
  override readonly name = 'QuestionSplitError';
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

export interface SubjectSplitSettings extends SplitSettings {
  /**
   * Which of the round(1 / testFraction) folds is held out (default 0). The subjects, sorted then
   * shuffled with the seed, are laid end to end by row count; a subject belongs to the fold its middle
   * row falls in, so the folds partition the subjects and each holds about `testFraction` of the rows.
   */
  fold?: number;
}

export function subjectFoldCount(testFraction: number): number {
  if (!(testFraction > 0 && testFraction < 1)) throw new QuestionSplitError(`testFraction must be in (0, 1), got ${testFraction}`);
  return Math.max(2, Math.round(1 / testFraction));
}

/** Every fold's subjects for a seed, fold 0 first; each subject is in exactly one fold. */
export function subjectFoldsOf(rowsPerSubject: ReadonlyMap<string, number>, settings: SplitSettings): string[][] {
  const subjects = shuffleInPlace([...rowsPerSubject.keys()].sort(), createSeededRandom(settings.seed));
  const foldCount = subjectFoldCount(settings.testFraction);
  if (subjects.length < foldCount) throw new QuestionSplitError(`${foldCount} subject folds need at least ${foldCount} subjects, got ${subjects.length}`);
  const totalRows = [...rowsPerSubject.values()].reduce((sum, rows) => sum + rows, 0);
  const folds: string[][] = Array.from({ length: foldCount }, () => []);
  let rowsBefore = 0;
  for (const subject of subjects) {
    const rows = rowsPerSubject.get(subject) ?? 0;
    const fold = Math.min(foldCount - 1, Math.floor(((rowsBefore + rows / 2) / totalRows) * foldCount));
    (folds[fold] as string[]).push(subject);
    rowsBefore += rows;
  }
  // A very large subject could leave a fold empty; move the last subject of the fullest fold into it.
  for (const fold of folds) {
    if (fold.length > 0) continue;
    const donor = folds.reduce((most, candidate) => (candidate.length > most.length ? candidate : most));
    fold.push(donor.pop() as string);
  }
  return folds;
}

export function splitBySubject<T extends { prompt: string; subject?: string }>(questions: readonly T[], settings: SubjectSplitSettings): SubjectSplit<T> {
  const rowsPerSubject = new Map<string, number>();
  for (const question of questions) {
    if (question.subject === undefined) throw new QuestionSplitError(`a split by subject needs every question to have a subject; "${question.prompt.slice(0, 60)}" has none`);
    rowsPerSubject.set(question.subject, (rowsPerSubject.get(question.subject) ?? 0) + 1);
  }
  const folds = subjectFoldsOf(rowsPerSubject, settings);
  const fold = settings.fold ?? 0;
  if (!Number.isInteger(fold) || fold < 0 || fold >= folds.length) throw new QuestionSplitError(`fold must be an integer from 0 to ${folds.length - 1}, got ${fold}`);
  const testSubjects = folds[fold] as string[];
  const heldOut = new Set(testSubjects);
  const test = questions.filter((question) => heldOut.has(question.subject as string));
  const testPromptSet = new Set(test.map((question) => question.prompt));
  const trainSide = questions.filter((question) => !heldOut.has(question.subject as string));
  const train = trainSide.filter((question) => !testPromptSet.has(question.prompt));
  return {
    train,
    test,
    trainPrompts: new Set(train.map((question) => question.prompt)).size,
    testPrompts: testPromptSet.size,
    testSubjects,
    trainSubjects: [...rowsPerSubject.keys()].filter((subject) => !heldOut.has(subject)).sort(),
    trainRowsDroppedAsSharedWithTest: trainSide.length - train.length,
  };
}
