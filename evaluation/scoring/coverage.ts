/**
 * Coverage–accuracy curves of a confidence score: accept the share `c` of items the score ranks most
 * confident, and measure accuracy among the accepted. Items with equal scores are taken as a block in
 * random order, so a point inside a tie counts the block's mean accuracy (the expected value), never
 * an order that happens to flatter the score. Area is the mean accuracy over every accepted count
 * 1…n (the area under the curve over coverage 0–1, as steps).
 */

export interface ScoredOutcome {
  score: number;
  correct: boolean;
}

export interface CoveragePoint {
  /** Share of the items accepted. */
  coverage: number;
  /** Accuracy among the accepted items. */
  accuracy: number;
  /** The lowest score accepted at this point. */
  threshold: number;
}

interface TieBlock {
  score: number;
  /** Items ranked above the block. */
  before: number;
  correctBefore: number;
  size: number;
  correct: number;
}

function tieBlocks(items: readonly ScoredOutcome[]): TieBlock[] {
  const sorted = [...items].sort((a, b) => b.score - a.score);
  const blocks: TieBlock[] = [];
  let before = 0;
  let correctBefore = 0;
  for (let start = 0; start < sorted.length; ) {
    const score = sorted[start]!.score;
    let end = start;
    let correct = 0;
    while (end < sorted.length && sorted[end]!.score === score) {
      if (sorted[end]!.correct) correct++;
      end++;
    }
    blocks.push({ score, before, correctBefore, size: end - start, correct });
    before += end - start;
    correctBefore += correct;
    start = end;
  }
  return blocks;
}

/** Expected number correct among the top `accepted` items (ties in random order). */
function expectedCorrectAt(blocks: readonly TieBlock[], accepted: number): number {
  if (accepted <= 0) return 0;
  let low = 0;
  let high = blocks.length - 1;
  while (low < high) {
    const middle = (low + high) >> 1;
    const block = blocks[middle]!;
    if (block.before + block.size < accepted) low = middle + 1;
    else high = middle;
  }
  const block = blocks[low]!;
  return block.correctBefore + ((accepted - block.before) * block.correct) / block.size;
}

/** Accuracy among the top round(coverage × n) items (at least one). */
export function accuracyAtCoverage(items: readonly ScoredOutcome[], coverage: number): number {
  if (items.length === 0) return 0;
  const accepted = Math.min(items.length, Math.max(1, Math.round(coverage * items.length)));
  return expectedCorrectAt(tieBlocks(items), accepted) / accepted;
}

/** Mean accuracy over accepting the top 1, 2, …, n items. */
export function areaUnderCoverageCurve(items: readonly ScoredOutcome[]): number {
  if (items.length === 0) return 0;
  const blocks = tieBlocks(items);
  let area = 0;
  for (let accepted = 1; accepted <= items.length; accepted++) area += expectedCorrectAt(blocks, accepted) / accepted;
  return area / items.length;
}

/** The curve at the given coverages (default every 1% from 1% to 100%). */
export function coverageAccuracyCurve(items: readonly ScoredOutcome[], coverages: readonly number[] = percentGrid()): CoveragePoint[] {
  if (items.length === 0) return [];
  const blocks = tieBlocks(items);
  const sorted = [...items].sort((a, b) => b.score - a.score);
  return coverages.map((coverage) => {
    const accepted = Math.min(items.length, Math.max(1, Math.round(coverage * items.length)));
    return { coverage, accuracy: expectedCorrectAt(blocks, accepted) / accepted, threshold: sorted[accepted - 1]!.score };
  });
}

export function percentGrid(): number[] {
  return Array.from({ length: 100 }, (_, index) => (index + 1) / 100);
}
