/**
 * A small seeded pseudo-random generator (mulberry32) so that data splits, shuffles and weight
 * initialisation are reproducible: the same seed and data always give the same model.
 */

export interface SeededRandom {
  /** Uniform float in [0, 1). */
  next(): number;
  /** Uniform integer in [0, bound). */
  nextInt(bound: number): number;
}

export function createSeededRandom(seed: number): SeededRandom {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, nextInt: (bound) => Math.floor(next() * bound) };
}

/** Fisher–Yates shuffle in place. */
export function shuffleInPlace<T>(items: T[], random: SeededRandom): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = random.nextInt(i + 1);
    const item = items[i] as T;
    items[i] = items[j] as T;
    items[j] = item;
  }
  return items;
}

/** Splits items into a held-out slice (the given fraction, at least one item) and the rest, reproducibly. */
export function splitHeldOut<T>(items: readonly T[], heldOutFraction: number, seed: number): { train: T[]; heldOut: T[] } {
  const shuffled = shuffleInPlace([...items], createSeededRandom(seed));
  const heldOutSize = Math.max(1, Math.round(shuffled.length * heldOutFraction));
  return { heldOut: shuffled.slice(0, heldOutSize), train: shuffled.slice(heldOutSize) };
}
