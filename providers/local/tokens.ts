/**
 * Token counting for usage reports. Local models have no tokenizer of their own, so usage is an
 * estimate: every run of letters/digits is one token and every other non-space character is one token,
 * which is close to what BPE tokenizers give for short English text.
 */

const tokenPattern = /[\p{L}\p{N}]+|[^\s\p{L}\p{N}]/gu;

export function countTokens(text: string): number {
  let count = 0;
  for (const _ of text.matchAll(tokenPattern)) count++;
  return count;
}

/** Counts the tokens of every string inside a structured value (keys and JSON punctuation excluded). */
export function countValueTokens(value: unknown): number {
  if (typeof value === 'string') return countTokens(value);
  if (typeof value === 'number' || typeof value === 'boolean') return 1;
  if (Array.isArray(value)) return value.reduce((sum: number, item) => sum + countValueTokens(item), 0);
  if (value !== null && typeof value === 'object') {
    return Object.values(value).reduce((sum: number, item) => sum + countValueTokens(item), 0);
  }
  return 0;
}
