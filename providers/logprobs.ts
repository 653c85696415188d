/**
 * A remote answer's own probability, from the token log-probabilities an OpenAI-compatible endpoint
 * returns when asked (`logprobs: true`): the product of the probabilities of the tokens that spell the
 * answer's value. With a field named (a classifier's label field), only the tokens of that field's value
 * count — the JSON punctuation and key names around it are near-certain and would say nothing; without
 * one, or when the field is not found in the text, every token counts.
 */
export interface TokenLogprob {
  token: string;
  logprob: number;
}

/** `choices[0].logprobs.content` of a chat-completions response body, when it has one. */
export function tokenLogprobsOf(body: unknown): TokenLogprob[] | undefined {
  const parsed = typeof body === 'string' ? safeParse(body) : body;
  const content = (parsed as { choices?: { logprobs?: { content?: unknown } }[] } | undefined)?.choices?.[0]?.logprobs?.content;
  if (!Array.isArray(content)) return undefined;
  const tokens = (content as unknown[]).filter((entry): entry is TokenLogprob => {
    const candidate = entry as Partial<TokenLogprob> | null;
    return typeof candidate?.token === 'string' && typeof candidate.logprob === 'number' && Number.isFinite(candidate.logprob);
  });
  return tokens.length > 0 ? tokens : undefined;
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Where the value of `"field":` starts and ends in a JSON text (a string's quotes excluded), if it is there. */
export function valueSpan(text: string, field: string): { start: number; end: number } | undefined {
  const key = new RegExp(`"${field.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"\\s*:\\s*`).exec(text);
  if (!key) return undefined;
  const start = key.index + key[0].length;
  if (text[start] === '"') {
    for (let index = start + 1; index < text.length; index++) {
      if (text[index] === '\\') index++;
      else if (text[index] === '"') return { start: start + 1, end: index };
    }
    return undefined;
  }
  const literal = /^[^,}\]\s]+/.exec(text.slice(start));
  return literal ? { start, end: start + literal[0].length } : undefined;
}

/**
 * The probability of the answer (or of its `field`'s value) from its tokens' log-probabilities; undefined
 * when there are none. Tokens are laid end to end to find which ones spell the value.
 */
export function answerProbability(tokens: readonly TokenLogprob[] | undefined, field?: string): number | undefined {
  if (!tokens || tokens.length === 0) return undefined;
  const text = tokens.map((entry) => entry.token).join('');
  const span = field !== undefined ? valueSpan(text, field) : undefined;
  let offset = 0;
  let sum = 0;
  for (const { token, logprob } of tokens) {
    const from = offset;
    offset += token.length;
    if (!span || (offset > span.start && from < span.end)) sum += logprob;
  }
  return Math.min(1, Math.max(0, Math.exp(sum)));
}
