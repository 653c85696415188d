/**
 * The pure parts of routing with remote models, without a server: the answer's probability from token
 * log-probabilities, the four token prices, failover order in the routing policy, a learned router's
 * starting tier, and the scorer named for each confidence rule.
 */
import { describe, expect, it } from 'vitest';
import { addUsage, costUsd, tiers, type ModelSpec, type Tier } from '../domain/models';
import { route } from '../domain/routing';
import { scoreConfidenceWithScorer } from '../factory/confidence';
import { tokenLogprobs } from '../fakes/scripted-server';
import { answerProbability, tokenLogprobsOf, valueSpan } from '../providers/logprobs';

const model = (id: string, tier: Tier, inputPrice: number): ModelSpec => ({
  id,
  provider: 'openai-compatible',
  providerModel: id,
  tier,
  description: '',
  inputPricePerMTokUsd: inputPrice,
  outputPricePerMTokUsd: inputPrice * 2,
  contextWindow: 100_000,
  structuredOutput: true,
  rateLimit: {},
  timeoutMs: 5000,
  options: {},
});

describe('an answer’s probability from token log-probabilities', () => {
  it('multiplies the probabilities of the tokens that spell the field’s value, and only those', () => {
    const tokens = [
      { token: '{"', logprob: -0.01 },
      { token: 'category', logprob: -0.02 },
      { token: '":"', logprob: -0.01 },
      { token: 'bill', logprob: Math.log(0.6) },
      { token: 'ing', logprob: Math.log(0.5) },
      { token: '"}', logprob: -0.01 },
    ];
    expect(answerProbability(tokens, 'category')).toBeCloseTo(0.3, 12);
    // Without a field every token counts.
    expect(answerProbability(tokens)).toBeCloseTo(0.3 * Math.exp(-0.05), 12);
    // A field the answer lacks: every token counts too, never a guess.
    expect(answerProbability(tokens, 'intent')).toBeCloseTo(0.3 * Math.exp(-0.05), 12);
    expect(answerProbability(undefined, 'category')).toBeUndefined();
  });

  it('finds string, number and boolean values, escaped quotes included', () => {
    const text = '{"a": "x\\"y", "b": 12.5, "c": true}';
    expect(text.slice(valueSpan(text, 'a')!.start, valueSpan(text, 'a')!.end)).toBe('x\\"y');
    expect(text.slice(valueSpan(text, 'b')!.start, valueSpan(text, 'b')!.end)).toBe('12.5');
    expect(text.slice(valueSpan(text, 'c')!.start, valueSpan(text, 'c')!.end)).toBe('true');
    expect(valueSpan(text, 'd')).toBeUndefined();
  });

  it('reads OpenAI’s logprobs.content from a response body, and the fake server’s tokens round-trip', () => {
    const content = tokenLogprobs('{"category":"legal"}', '"legal"', 0.42);
    const body = JSON.stringify({ choices: [{ logprobs: { content: content.map((entry) => ({ ...entry, bytes: null, top_logprobs: [] })) } }] });
    expect(answerProbability(tokenLogprobsOf(body), 'category')).toBeCloseTo(0.42, 12);
    expect(tokenLogprobsOf({ choices: [{ message: {} }] })).toBeUndefined();
  });
});

describe('token prices', () => {
  it('bills uncached input, cached input, plain output and reasoning each at its price, defaulting to the plain ones', () => {
    const prices = { inputPricePerMTokUsd: 3, cachedInputPricePerMTokUsd: 0.3, outputPricePerMTokUsd: 15, reasoningPricePerMTokUsd: 20 };
    const usage = { inputTokens: 2000, cachedInputTokens: 1500, outputTokens: 800, reasoningTokens: 600 };
    expect(costUsd(prices, usage)).toBeCloseTo((500 * 3 + 1500 * 0.3 + 200 * 15 + 600 * 20) / 1e6, 15);
    expect(costUsd({ inputPricePerMTokUsd: 3, outputPricePerMTokUsd: 15 }, usage)).toBeCloseTo((2000 * 3 + 800 * 15) / 1e6, 15);
    // A detail larger than its total (a provider's rounding) is capped at the total, never billed negative.
    expect(costUsd(prices, { inputTokens: 10, cachedInputTokens: 50, outputTokens: 0 })).toBeCloseTo((10 * 0.3) / 1e6, 15);
  });

  it('adds a call and its repair, keeping details either reported', () => {
    expect(addUsage({ inputTokens: 10, outputTokens: 5, cachedInputTokens: 4 }, { inputTokens: 7, outputTokens: 3, reasoningTokens: 2 })).toEqual({ inputTokens: 17, outputTokens: 8, cachedInputTokens: 4, reasoningTokens: 2 });
    expect(addUsage({ inputTokens: 1, outputTokens: 1 }, { inputTokens: 1, outputTokens: 1 })).toEqual({ inputTokens: 2, outputTokens: 2 });
  });
});

describe('the routing policy', () => {
  const station = { name: 'classify', defaultTier: 'small' as const, maxOutputTokens: 50 };
  const models = [model('b-small', 'small', 0.3), model('a-small', 'small', 0.1), model('c-small', 'small', 0.2), model('big', 'large', 5)];
  const request = { station, models, inputChars: 400, longInputChars: 4000, budgetRemainingUsd: 1 };

  it('picks the cheapest model of the tier and hands failover the others, cheapest first', () => {
    const decision = route(request);
    expect(decision.kind).toBe('model');
    if (decision.kind !== 'model') return;
    expect(decision.model.id).toBe('a-small');
    expect(decision.fallbacks.map((spec) => spec.id)).toEqual(['c-small', 'b-small']);
    expect(decision.reason).toContain('failover order c-small, b-small');
  });

  it('starts where a learned router says, with its reason, and escalates from there', () => {
    const decision = route({ ...request, startTier: { tier: 'large', reason: 'router r@v1: P(small tier suffices)=0.20 < threshold 0.40 → start at large' } });
    expect(decision).toMatchObject({ kind: 'model', tier: 'large', model: { id: 'big' } });
    expect(decision.reason).toMatch(/^router r@v1: .* → start at large; cheapest fitting large model big/);
    expect(route({ ...request, startTier: { tier: 'large', reason: 'r' }, escalation: { fromTier: 'large', cause: 'low-confidence' } }).kind).toBe('human');
    expect(tiers).toContain('medium');
  });
});

describe('the scorer each confidence rule names', () => {
  it('names where the number came from, or null when the answer is accepted unscored', () => {
    expect(scoreConfidenceWithScorer({ from: 'model' }, {}, 0.8, 'classifier')).toEqual({ confidence: 0.8, scorer: 'model:classifier' });
    expect(scoreConfidenceWithScorer({ from: 'logprobs' }, {}, 0.3, 'logprobs')).toEqual({ confidence: 0.3, scorer: 'model:logprobs' });
    expect(scoreConfidenceWithScorer({ from: 'logprobs', otherwise: 0.5 }, {}, null)).toEqual({ confidence: 0.5, scorer: 'constant' });
    expect(scoreConfidenceWithScorer({ from: 'model' }, {}, null)).toEqual({ confidence: null, scorer: null });
    expect(scoreConfidenceWithScorer({ from: 'field', field: 'p' }, { p: 0.9 }, 0.1)).toEqual({ confidence: 0.9, scorer: 'field:p' });
    expect(scoreConfidenceWithScorer(() => 0.4, {}, 0.1)).toEqual({ confidence: 0.4, scorer: 'rule' });
  });
});
