/**
 * The one percentile every report, evaluation and benchmark uses: nearest rank, `p` in [0, 100], over
 * an unsorted list (sorted here, on a copy); 0 for an empty list.
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
