/**
 * Text → sparse feature vector by feature hashing: word n-grams (unigrams and bigrams) and, optionally,
 * character n-grams inside word boundaries (`<word>` padded), hashed into 2^hashBits signed buckets.
 * Counts are damped (1 + ln tf) and each block (words, characters) is L2-normalised on its own, so long
 * texts and short texts land on the same scale and neither block drowns the other.
 * Digit runs become "0": an order number should not look like a new word to the model.
 */
import { z } from 'zod';

export const featureSettingsSchema = z.object({
  hashBits: z.number().int().min(8).max(24),
  /** Largest word n-gram (1 = unigrams only, 2 = unigrams and bigrams). */
  maxWordNgram: z.number().int().min(1).max(3),
  /** Character n-gram lengths within word boundaries, or null for words only. */
  charNgrams: z.object({ min: z.number().int().min(1), max: z.number().int().min(1) }).nullable(),
  /** Share of the vector's squared norm given to the character block when both blocks are present. */
  charBlockWeight: z.number().min(0).max(1),
});
export type FeatureSettings = z.infer<typeof featureSettingsSchema>;

export interface SparseVector {
  buckets: Int32Array;
  values: Float32Array;
}

const wordPattern = /[\p{L}\p{N}]+(?:'\p{L}+)?/gu;
const WORD_SEED = 0x811c9dc5;
const BIGRAM_SALT = 0x27d4eb2f;
const TRIGRAM_SALT = 0x165667b1;
const CHAR_SEED = 0x9e3779b1;

function mixHash(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function hashString(text: string, seed: number): number {
  let h = seed;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return mixHash(h);
}

export function wordsOf(text: string): string[] {
  return text.normalize('NFKC').toLowerCase().replace(/\d+/g, '0').match(wordPattern) ?? [];
}

function addHashed(counts: Map<number, number>, hash: number, mask: number): void {
  const bucket = hash & mask;
  const signed = hash >>> 31 ? -1 : 1;
  counts.set(bucket, (counts.get(bucket) ?? 0) + signed);
}

/** Damps counts, L2-normalises the block and scales it so its squared norm is `share`. */
function finishBlock(counts: Map<number, number>, share: number, into: Map<number, number>): void {
  let squaredNorm = 0;
  const damped: [number, number][] = [];
  for (const [bucket, count] of counts) {
    if (count === 0) continue;
    const value = Math.sign(count) * (1 + Math.log(Math.abs(count)));
    damped.push([bucket, value]);
    squaredNorm += value * value;
  }
  if (squaredNorm === 0) return;
  const scale = Math.sqrt(share / squaredNorm);
  for (const [bucket, value] of damped) into.set(bucket, (into.get(bucket) ?? 0) + value * scale);
}

export function featurize(text: string, settings: FeatureSettings): SparseVector {
  const mask = (1 << settings.hashBits) - 1;
  const words = wordsOf(text);
  const wordHashes = words.map((word) => hashString(word, WORD_SEED));

  const wordCounts = new Map<number, number>();
  for (let i = 0; i < wordHashes.length; i++) {
    const unigram = wordHashes[i] as number;
    addHashed(wordCounts, unigram, mask);
    if (settings.maxWordNgram >= 2 && i + 1 < wordHashes.length) {
      const bigram = mixHash(unigram ^ Math.imul(wordHashes[i + 1] as number, 31) ^ BIGRAM_SALT);
      addHashed(wordCounts, bigram, mask);
      if (settings.maxWordNgram >= 3 && i + 2 < wordHashes.length) {
        addHashed(wordCounts, mixHash(bigram ^ Math.imul(wordHashes[i + 2] as number, 37) ^ TRIGRAM_SALT), mask);
      }
    }
  }

  const combined = new Map<number, number>();
  const charNgrams = settings.charNgrams;
  if (charNgrams) {
    const charCounts = new Map<number, number>();
    for (const word of words) {
      const padded = `<${word}>`;
      for (let start = 0; start < padded.length; start++) {
        let h = CHAR_SEED;
        for (let length = 1; length <= charNgrams.max && start + length <= padded.length; length++) {
          h = Math.imul(h ^ padded.charCodeAt(start + length - 1), 0x01000193);
          if (length >= charNgrams.min) addHashed(charCounts, mixHash(h ^ length), mask);
        }
      }
    }
    finishBlock(wordCounts, 1 - settings.charBlockWeight, combined);
    finishBlock(charCounts, settings.charBlockWeight, combined);
  } else {
    finishBlock(wordCounts, 1, combined);
  }

  const buckets = new Int32Array(combined.size);
  const values = new Float32Array(combined.size);
  let index = 0;
  for (const [bucket, value] of combined) {
    buckets[index] = bucket;
    values[index] = value;
    index++;
  }
  return { buckets, values };
}
