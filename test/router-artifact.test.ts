/**
 * The router artifact (learning/router.ts): trained on `{ text, defaultSuffices }` examples, its
 * threshold calibrated on a held-out slice to a target share of large-tier calls, saved, registered as
 * `router.<id>` and made current; loaded back, it decides with a readable reason; a missing router
 * fails with a message that says how to fix it. Also the subject-held-out split of the routing
 * evaluation: no subject and no prompt is ever on both sides.
 */
import { describe, expect, it } from 'vitest';
import { calibrateRouterThreshold, loadRouter, routerInput, routerLabels, routerRegistryName, trainAndRegisterRouter, type RouterExample } from '../learning/router';
import { predictProbabilities } from '../providers/local/classifier';
import { loadClassifier } from '../providers/local/model-file';
import { ModelRegistry, ModelRegistryError } from '../learning/model-registry';
import { splitBySubject, subjectFoldsOf } from '../learning/routing/question-split';
import { loadRecordedBenchmark } from '../learning/routing/recorded-questions';
import { resolveSharedDataDir } from '../providers/local/dataset';
import { createSeededRandom } from '../providers/local/prng';
import { countTokens } from '../providers/local/tokens';
import { sharedDataMissing } from './support/prerequisites';
import { tempDir } from './support/temporal';

const easyWords = ['capital', 'colour', 'animal', 'river', 'planet', 'author', 'language', 'holiday', 'fruit', 'ocean'];
const hardWords = ['integral', 'eigenvalue', 'theorem', 'derivative', 'proof', 'matrix'];
const filler = ['which', 'of', 'the', 'following', 'is', 'a', 'named', 'best', 'most', 'likely', 'true', 'for', 'this', 'case'];

/** Questions of random filler words with an easy or a hard topic word; the small tier suffices for most easy ones. */
function syntheticExamples(count: number, seed: number): RouterExample[] {
  const random = createSeededRandom(seed);
  const pick = (words: string[]) => words[random.nextInt(words.length)] as string;
  return Array.from({ length: count }, (_, index) => {
    const hard = random.next() < 0.4;
    const words = Array.from({ length: 6 + random.nextInt(6) }, () => pick(filler));
    words.splice(random.nextInt(words.length), 0, hard ? pick(hardWords) : pick(easyWords));
    const defaultSuffices = hard ? random.next() < 0.2 : random.next() < 0.9;
    return { text: `q${index} ${words.join(' ')}?`, defaultSuffices };
  });
}

describe('router artifact', () => {
  it('trains, registers and makes current a router, and loads it back to decide with a reason', async () => {
    const dataDir = tempDir('router-artifact');
    const registered = await trainAndRegisterRouter({
      id: 'quiz',
      examples: syntheticExamples(1200, 7),
      targetLargeShare: 0.4,
      by: 'test',
      notes: { origin: 'synthetic questions', split: 'none' },
      dataDir,
    });
    expect(registered).toMatchObject({ id: 'quiz', targetLargeShare: 0.4 });
    expect(registered.version).toMatch(/^router\.quiz-lr@1:[0-9a-f]{12}$/);

    const registry = new ModelRegistry(dataDir, routerRegistryName('quiz'));
    const state = await registry.state();
    expect(state.current).toBe(registered.version);
    const entry = await registry.version(registered.version);
    expect(entry.threshold).toBe(registered.threshold);
    expect(entry.notes).toMatchObject({ kind: 'router', targetLargeShare: 0.4, origin: 'synthetic questions', split: 'none', examples: 1200 });
    const notes = entry.notes as { trainExamples: number; calibrationExamples: number };
    expect(notes.trainExamples + notes.calibrationExamples).toBe(1200);
    expect(notes.calibrationExamples).toBe(180);

    const current = await loadRouter(dataDir, 'quiz');
    const byVersion = await loadRouter(dataDir, 'quiz', registered.version);
    expect(byVersion).toBe(current); // cached in-process
    expect(current).toMatchObject({ id: 'quiz', version: registered.version, threshold: registered.threshold });

    const hard = current.decide('which of the following is true for this eigenvalue theorem?');
    const easy = current.decide('which of the following is the capital named for this river?');
    expect(hard.probability).toBeLessThan(easy.probability);
    expect(hard.escalate).toBe(true);
    expect(easy.escalate).toBe(false);
    expect(hard.escalate).toBe(hard.probability < hard.threshold);
    expect(hard.reason).toMatch(new RegExp(`^router quiz@${registered.version.replace(/[.@]/g, '\\$&')}: P\\(small tier suffices\\)=0\\.\\d\\d < threshold 0\\.\\d\\d → start at large$`));
    expect(easy.reason).toMatch(/≥ threshold 0\.\d\d → start at small$/);
  });

  it('decides by tokens per expected miss when trained so: its threshold, calibrated on that value, keeps a long input at the small tier that a short one of the same risk leaves', async () => {
    const dataDir = tempDir('router-rule');
    const examples = syntheticExamples(1200, 7);
    const registered = await trainAndRegisterRouter({ id: 'per-token', examples, targetLargeShare: 0.4, by: 'test', dataDir, rule: 'tokens-per-miss' });
    expect(registered.rule).toBe('tokens-per-miss');
    const entry = await new ModelRegistry(dataDir, routerRegistryName('per-token')).version(registered.version);
    expect(entry.notes).toMatchObject({ decisionRule: 'tokens-per-miss', calibration: { rule: 'escalate when tokens / (1 − P(default-suffices)) < threshold' } });
    const router = await loadRouter(dataDir, 'per-token');
    expect(router.rule).toBe('tokens-per-miss');

    const question = 'which of the following is true for this eigenvalue theorem?';
    const short = router.decide(question);
    expect(short.value).toBeCloseTo(countTokens(question) / (1 - short.probability), 6);
    expect(short.escalate).toBe(short.value < short.threshold);
    expect(short.reason).toMatch(/P\(small tier suffices\)=0\.\d\d, \d+ tokens per expected miss (<|≥) threshold \d+ → start at (large|small)$/);
    // The same risky question inside a long text: a similar probability, many more tokens, so a higher value.
    const long = router.decide(`${question} ${'which of the following is a named case for this '.repeat(40)}`);
    expect(long.value).toBeGreaterThan(short.value);
    // A router registered before rules were recorded, and one trained without a rule, decide by the probability.
    const plain = await trainAndRegisterRouter({ id: 'by-probability', examples, targetLargeShare: 0.4, by: 'test', dataDir });
    expect(plain.rule).toBe('probability');
    const decision = (await loadRouter(dataDir, 'by-probability')).decide(question);
    expect(decision).toMatchObject({ rule: 'probability', value: decision.probability });
  });

  it('records the text signals it was trained with and adds them itself, so a live step and the benchmark read the same text', async () => {
    const dataDir = tempDir('router-signals');
    const examples = syntheticExamples(600, 13);
    const withSignals = await trainAndRegisterRouter({ id: 'signals', examples, targetLargeShare: 0.4, by: 'test', dataDir });
    const without = await trainAndRegisterRouter({ id: 'plain', examples, targetLargeShare: 0.4, by: 'test', dataDir, signals: [] });
    expect(withSignals.signals).toEqual(['length', 'numbers']);
    expect(without.signals).toEqual([]);
    expect((await new ModelRegistry(dataDir, routerRegistryName('signals')).version(withSignals.version)).notes).toMatchObject({ textSignals: ['length', 'numbers'] });

    const text = 'which of the following 3 matrices, 12 by 12, has the eigenvalue 2.5?';
    expect(routerInput(text, ['length', 'numbers'])).toBe(`${text}\nlengthbande numbersbandc`);
    expect(routerInput(text, [])).toBe(text);
    for (const [registered, read] of [
      [withSignals, routerInput(text, ['length', 'numbers'])],
      [without, text],
    ] as const) {
      const router = await loadRouter(dataDir, registered.id, registered.version);
      expect(router.signals).toEqual(registered.signals);
      const entry = await new ModelRegistry(dataDir, routerRegistryName(registered.id)).version(registered.version);
      const { model } = loadClassifier(entry.file);
      // The decision on the step's raw text is the model's probability for the text with the router's own signals.
      expect(router.decide(text).probability).toBe(predictProbabilities(model, read)[model.labels.indexOf(routerLabels.defaultSuffices)]);
    }
    await expect(trainAndRegisterRouter({ id: 'odd', examples, targetLargeShare: 0.4, by: 'test', dataDir, signals: ['length', 'colour' as 'length'] })).rejects.toThrow(
      /router odd: unknown router signal "colour" \(known: length, numbers\)/,
    );
  });

  it('calibrates the threshold so that the target share of the calibration slice goes to the large tier', async () => {
    const dataDir = tempDir('router-calibration');
    for (const [id, target] of [
      ['half', 0.5],
      ['fifth', 0.2],
    ] as const) {
      const registered = await trainAndRegisterRouter({ id, examples: syntheticExamples(2000, 11), targetLargeShare: target, by: 'test', dataDir });
      const calibration = (await new ModelRegistry(dataDir, routerRegistryName(id)).version(registered.version)).notes.calibration as { examples: number; escalatedShare: number };
      expect(calibration.examples).toBe(300);
      // At most the target, and within a few examples of it (ties of equal probabilities aside).
      expect(calibration.escalatedShare).toBeLessThanOrEqual(target);
      expect(calibration.escalatedShare).toBeGreaterThan(target - 0.03);
    }
    const probabilities = Array.from({ length: 1000 }, (_, index) => (index + 0.5) / 1000);
    const threshold = calibrateRouterThreshold(probabilities, 0.3);
    expect(probabilities.filter((probability) => probability < threshold).length).toBe(300);
    // Halfway between neighbours, so a new value near either side lands where its neighbours did.
    expect(threshold).toBeCloseTo(0.3, 12);
    // Tied values (a classifier saturated at 1) are never split: the boundary goes below the group.
    const saturated = [0.01, 0.02, 0.03, 1, 1, 1, 1, 1, 1, 1];
    expect(calibrateRouterThreshold(saturated, 0.5)).toBeCloseTo(0.515, 12);
    expect(0.999999 < calibrateRouterThreshold(saturated, 0.5)).toBe(false);
    expect(() => calibrateRouterThreshold(probabilities, 1)).toThrow(RangeError);
  });

  it('refuses a target the same model already carries another threshold for', async () => {
    const dataDir = tempDir('router-conflict');
    const examples = syntheticExamples(400, 3);
    await trainAndRegisterRouter({ id: 'same', examples, targetLargeShare: 0.3, by: 'test', dataDir });
    await expect(trainAndRegisterRouter({ id: 'same', examples, targetLargeShare: 0.6, by: 'test', dataDir })).rejects.toThrow(/already registered .* another router id/);
  });

  it('names what is missing and how to fix it when there is no such router or version', async () => {
    const dataDir = tempDir('router-missing');
    await expect(loadRouter(dataDir, 'nobody')).rejects.toThrow(ModelRegistryError);
    await expect(loadRouter(dataDir, 'nobody')).rejects.toThrow(/router nobody: no router registered .*trainAndRegisterRouter\(\{ id: 'nobody'/);
    const registered = await trainAndRegisterRouter({ id: 'known', examples: syntheticExamples(300, 5), targetLargeShare: 0.5, by: 'test', dataDir });
    await expect(loadRouter(dataDir, 'known', 'router.known-lr@1:000000000000')).rejects.toThrow(
      new RegExp(`no version router\\.known-lr@1:000000000000 .*registered: ${registered.version.replace(/[.@]/g, '\\$&')}`),
    );
  });
});

describe('subject-held-out split', () => {
  function checkSplit(questions: { prompt: string; subject?: string }[], seed: number) {
    const rowsPerSubject = new Map<string, number>();
    for (const question of questions) rowsPerSubject.set(question.subject!, (rowsPerSubject.get(question.subject!) ?? 0) + 1);
    const folds = subjectFoldsOf(rowsPerSubject, { seed, testFraction: 0.25 });
    expect(folds).toHaveLength(4);
    expect(folds.flat().sort()).toEqual([...rowsPerSubject.keys()].sort());
    folds.forEach((subjects, fold) => {
      const split = splitBySubject(questions, { seed, testFraction: 0.25, fold });
      expect(split.testSubjects).toEqual(subjects);
      const trainSubjects = new Set(split.train.map((question) => question.subject));
      const testSubjects = new Set(split.test.map((question) => question.subject));
      expect([...testSubjects].filter((subject) => trainSubjects.has(subject))).toEqual([]);
      expect([...testSubjects].sort()).toEqual([...subjects].sort());
      const trainPrompts = new Set(split.train.map((question) => question.prompt));
      expect(split.test.filter((question) => trainPrompts.has(question.prompt))).toEqual([]);
      expect(split.train.length + split.test.length + split.trainRowsDroppedAsSharedWithTest).toBe(questions.length);
    });
    const again = splitBySubject(questions, { seed, testFraction: 0.25 });
    expect(again.testSubjects).toEqual(splitBySubject(questions, { seed, testFraction: 0.25 }).testSubjects);
    return folds;
  }

  it('never puts one subject or one prompt on both sides, on hand-made questions that share prompts across subjects', () => {
    const questions = Array.from({ length: 400 }, (_, index) => ({ prompt: `question ${index % 370}`, subject: `subject${index % 13}` }));
    checkSplit(questions, 4);
  });

  it.skipIf(sharedDataMissing('routellm/mmlu'))('holds out about a quarter of MMLU in whole subjects, with no subject or prompt on both sides', () => {
    const mmlu = loadRecordedBenchmark('mmlu', resolveSharedDataDir());
    const folds = checkSplit(mmlu.questions, 20_260_519);
    const headline = splitBySubject(mmlu.questions, { seed: 20_260_519, testFraction: 0.25 });
    expect(headline.test.length / mmlu.questions.length).toBeGreaterThan(0.2);
    expect(headline.test.length / mmlu.questions.length).toBeLessThan(0.3);
    expect(folds.flat()).toHaveLength(57);
  });
});
