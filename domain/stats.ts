/**
 * The one percentile every report, evaluation and benchmark uses: nearest rank, `p` in [0, 100], over
 * an unsorted list (sorted here, on a copy); 0 for an empty list.
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** One equal-width bin of a calibration report: the scores in [lower, upper) (the last bin includes 1). */
export interface CalibrationBin {
  lower: number;
  upper: number;
  count: number;
  /** Mean predicted probability of the bin's items. */
  meanScore: number;
  /** Share of the bin's items that were correct. */
  accuracy: number;
}

export interface CalibrationReport {
  /** Σ over bins of (count / pairs) × |meanScore − accuracy|: 0 is perfectly calibrated. */
  expectedCalibrationError: number;
  /** The non-empty bins, lowest first. */
  bins: CalibrationBin[];
  pairs: number;
}

/**
 * The one expected calibration error (ECE): scores (predicted probabilities of being correct, in
 * [0, 1]) in `bins` equal-width bins; each bin weighs by its share of the items. Scores outside [0, 1]
 * are clamped into the end bins. An empty list has ECE 0 and no bins.
 */
export function calibrationReport(scores: readonly { score: number; correct: boolean }[], bins = 10): CalibrationReport {
  if (!Number.isInteger(bins) || bins < 1) throw new RangeError(`calibrationReport: bins must be a positive integer, got ${bins}`);
  const counts = new Array<number>(bins).fill(0);
  const scoreSums = new Array<number>(bins).fill(0);
  const correctCounts = new Array<number>(bins).fill(0);
  for (const { score, correct } of scores) {
    const clamped = Math.min(1, Math.max(0, score));
    const bin = Math.min(bins - 1, Math.floor(clamped * bins));
    counts[bin]!++;
    scoreSums[bin]! += clamped;
    if (correct) correctCounts[bin]!++;
  }
  const report: CalibrationReport = { expectedCalibrationError: 0, bins: [], pairs: scores.length };
  for (let bin = 0; bin < bins; bin++) {
    const count = counts[bin]!;
    if (count === 0) continue;
    const meanScore = scoreSums[bin]! / count;
    const accuracy = correctCounts[bin]! / count;
    report.bins.push({ lower: bin / bins, upper: (bin + 1) / bins, count, meanScore, accuracy });
    report.expectedCalibrationError += (count / scores.length) * Math.abs(meanScore - accuracy);
  }
  return report;
}
