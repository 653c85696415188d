/**
 * The learned answer scorer (learning/scorer.ts) and its offline comparison (evaluation/scoring/):
 * on a seeded sample of BANKING77 it ranks the small model's held-out answers better than the model's
 * own confidence at matched coverage; the calibration report and the coverage curve are right on
 * hand-computed examples; a registered scorer loads back with identical scores; a missing one fails
 * with a message naming the fix. Pure: no Temporal server.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { calibrationReport } from '../domain/stats';
import { accuracyAtCoverage, areaUnderCoverageCurve } from '../evaluation/scoring/coverage';
import { compareOnAnswers, defaultScoringSetup, prepareAnswers, type PreparedAnswers, type ScoringComparison, type ScoringSetup } from '../evaluation/scoring/experiment';
import { ModelRegistry, ModelRegistryError } from '../learning/model-registry';
import { loadScorer, registerScorer, trainScorer, type TrainedScorer } from '../learning/scorer';
import { InvalidTrainingDataError } from '../providers/local/errors';

const setup: ScoringSetup = { ...defaultScoringSetup, limits: { train: 4000, test: 1200 } };
let prepared: PreparedAnswers;
let comparison: ScoringComparison;
let trained: TrainedScorer;
const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'conveyor-scoring-'));
  dirs.push(dir);
  return dir;
};

beforeAll(() => {
  prepared = prepareAnswers('banking77', setup);
  comparison = compareOnAnswers(prepared, (pairs, seed) => (trained = trainScorer('intent', pairs, { seed })), setup);
});

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('learned scorer on a seeded BANKING77 sample', () => {
  it('beats the model’s own confidence at matched coverage on held-out answers', () => {
    expect(comparison.sizes).toMatchObject({ scorerSlice: 1600, test: 1200 });
    expect(comparison.sizes.sliceWrong).toBeGreaterThan(100);
    const at = (measurement: ScoringComparison['own'], coverage: number) => measurement.atCoverage.find((point) => point.coverage === coverage)!.accuracy;
    expect(at(comparison.learned, 0.7)).toBeGreaterThan(at(comparison.own, 0.7));
    expect(at(comparison.learned, 0.8)).toBeGreaterThan(at(comparison.own, 0.8));
    expect(comparison.learned.area).toBeGreaterThan(comparison.own.area);
    expect(comparison.matchedCoverage.higher).toBeGreaterThan(comparison.matchedCoverage.lower);
  });

  it('reports its calibration error, measured out of fold at training and on the test answers', () => {
    expect(trained.calibration.pairs).toBe(1600);
    expect(trained.calibration.expectedCalibrationError).toBeGreaterThan(0);
    expect(trained.calibration.expectedCalibrationError).toBeLessThan(0.1);
    expect(comparison.learned.calibration.expectedCalibrationError).toBeLessThan(0.1);
  });

  it('needs right and wrong answers to learn from', () => {
    const pairs = prepared.slice.filter((item) => item.correct).slice(0, 50);
    expect(() => trainScorer('intent', pairs)).toThrow(InvalidTrainingDataError);
    expect(() => trainScorer('intent', pairs)).toThrow(/need at least 2 right and 2 wrong/);
  });
});

describe('registering and loading a scorer', () => {
  it('round-trips through the learning registry with identical scores', async () => {
    const dataDir = tempDir();
    const registered = await registerScorer(dataDir, trained, 'alice');
    expect(registered).toEqual({ id: 'intent', version: trained.version });
    const registry = new ModelRegistry(dataDir, 'scorer.intent');
    expect((await registry.state()).current).toBe(trained.version);
    expect((await registry.current())?.notes).toMatchObject({ expectedCalibrationError: trained.calibration.expectedCalibrationError });

    const current = await loadScorer(dataDir, 'intent');
    const byVersion = await loadScorer(dataDir, 'intent', trained.version);
    expect(current.version).toBe(trained.version);
    expect(await loadScorer(dataDir, 'intent')).toBe(current); // cached in-process
    for (const item of prepared.test.slice(0, 200)) {
      const score = trained.score(item);
      expect(current.score(item)).toBe(score);
      expect(byVersion.score(item)).toBe(score);
    }
    expect(current.score({ text: 'where is my card', answer: 'card_arrival', modelConfidence: null })).toBeGreaterThan(0);
    expect(await registerScorer(dataDir, trained, 'alice')).toEqual(registered);
  });

  it('names the fix when no scorer is registered', async () => {
    const dataDir = tempDir();
    await expect(loadScorer(dataDir, 'missing')).rejects.toThrow(ModelRegistryError);
    await expect(loadScorer(dataDir, 'missing')).rejects.toThrow(/no learned scorer "missing".*scorer\.missing.*registerScorer/);
    await registerScorer(dataDir, trained, 'alice');
    await expect(loadScorer(dataDir, 'intent', 'scorer.intent-lr@1:000000000000')).rejects.toThrow(/no learned scorer "intent" version scorer\.intent-lr@1:000000000000/);
  });
});

describe('calibration and coverage, by hand', () => {
  it('computes the expected calibration error over equal-width bins', () => {
    const scores = [
      { score: 0.1, correct: false },
      { score: 0.15, correct: true },
      { score: 0.8, correct: true },
      { score: 0.9, correct: true },
      { score: 0.95, correct: false },
    ];
    const report = calibrationReport(scores, 2);
    // bin [0, 0.5): mean 0.125, accuracy 0.5; bin [0.5, 1]: mean 0.883…, accuracy 0.666…
    // ECE = 2/5 × 0.375 + 3/5 × (2.65/3 − 2/3) = 0.15 + 0.13 = 0.28
    expect(report.pairs).toBe(5);
    expect(report.bins).toHaveLength(2);
    expect(report.bins[0]).toMatchObject({ lower: 0, upper: 0.5, count: 2, accuracy: 0.5 });
    expect(report.bins[0]!.meanScore).toBeCloseTo(0.125, 12);
    expect(report.bins[1]).toMatchObject({ lower: 0.5, upper: 1, count: 3 });
    expect(report.bins[1]!.meanScore).toBeCloseTo(2.65 / 3, 12);
    expect(report.bins[1]!.accuracy).toBeCloseTo(2 / 3, 12);
    expect(report.expectedCalibrationError).toBeCloseTo(0.28, 12);

    const tenBins = calibrationReport([{ score: 1, correct: true }, { score: 0.05, correct: false }]);
    expect(tenBins.bins.map((bin) => [bin.lower, bin.count])).toEqual([[0, 1], [0.9, 1]]);
    expect(tenBins.expectedCalibrationError).toBeCloseTo(0.025, 12);
    expect(calibrationReport([])).toEqual({ expectedCalibrationError: 0, bins: [], pairs: 0 });
  });

  it('takes tied scores as a block at their mean accuracy', () => {
    const items = [
      { score: 0.9, correct: true },
      { score: 0.5, correct: true },
      { score: 0.5, correct: false },
      { score: 0.1, correct: false },
    ];
    expect(accuracyAtCoverage(items, 0.25)).toBe(1);
    expect(accuracyAtCoverage(items, 0.5)).toBeCloseTo(0.75, 12); // 1 + ½ of the tie block, over 2
    expect(accuracyAtCoverage(items, 0.75)).toBeCloseTo(2 / 3, 12);
    expect(accuracyAtCoverage(items, 1)).toBe(0.5);
    expect(areaUnderCoverageCurve(items)).toBeCloseTo((1 + 0.75 + 2 / 3 + 0.5) / 4, 12);
  });
});
