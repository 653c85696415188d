/**
 * The cache section: the SQLite cache store (providers/cache/sqlite.ts) on a workload where 30% of the
 * lookups repeat an earlier call exactly and 70% are new calls (a miss, then the outcome is stored, as the
 * gateway does). It times each exact lookup (hits and misses apart), the store's writes and the key
 * computation, counts the hit rate, and checks every hit: a hit for a call never stored, or a hit whose
 * value is not the one stored under that call's key, is a false hit.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { cacheKey, createSqliteCacheStore, type CacheKeyParts } from '../../providers/cache';
import { classifyIntentOutputSchema, supportIntents } from '../../factories/support/schemas';
import { modelStation } from '../../factories/support/legacy-stations';
import { figure, type BenchContext, type SectionOutcome } from './figures';
import { elapsedMs, summarize } from './measure';

const repeatShare = 0.3;

/** A small deterministic generator, so every run replays the same workload. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function runCacheSection(context: BenchContext): Promise<Omit<SectionOutcome, 'loadAverage' | 'durationSeconds'>> {
  const lookups = context.options.cacheLookups;
  const file = path.join(context.dataDir, 'cache-bench.sqlite');
  fs.rmSync(file, { force: true });
  const store = createSqliteCacheStore({ file });
  const station = modelStation('classify-intent');
  const jsonSchema = z.toJSONSchema(classifyIntentOutputSchema, { io: 'output', unrepresentable: 'any' });
  const random = seededRandom(77);

  const callFor = (requestIndex: number): CacheKeyParts => {
    const input = { text: `Ticket ${requestIndex}: where is my order #A${requestIndex * 7919}? It was due last week.` };
    const prompt = station.prompt(input);
    return { modelId: 'local-small', providerModel: 'local-small', system: prompt.system, prompt: prompt.user, input, parameters: { temperature: 0 }, jsonSchema };
  };
  const outcomeFor = (requestIndex: number) => ({
    output: { intent: supportIntents[requestIndex % supportIntents.length], confidence: 0.9, alternatives: [] },
    requestIndex,
  });

  const keyTimes: number[] = [];
  const hitTimes: number[] = [];
  const missTimes: number[] = [];
  const setTimes: number[] = [];
  const stored: number[] = [];
  let nextNew = 0;
  let hits = 0;
  let falseHits = 0;
  let repeatsMissed = 0;
  let repeats = 0;
  try {
    for (let lookup = 0; lookup < lookups; lookup++) {
      const repeat = stored.length > 0 && random() < repeatShare;
      const requestIndex = repeat ? (stored[Math.floor(random() * stored.length)] ?? 0) : nextNew++;
      if (repeat) repeats++;
      const keyStart = process.hrtime.bigint();
      const key = cacheKey(callFor(requestIndex));
      keyTimes.push(elapsedMs(keyStart));

      const getStart = process.hrtime.bigint();
      const entry = await store.get(key);
      const getMs = elapsedMs(getStart);
      if (entry) {
        hitTimes.push(getMs);
        hits++;
        const value = entry.value as ReturnType<typeof outcomeFor>;
        const expected = outcomeFor(requestIndex);
        if (!repeat || value.requestIndex !== requestIndex || JSON.stringify(value.output) !== JSON.stringify(expected.output)) falseHits++;
        continue;
      }
      missTimes.push(getMs);
      if (repeat) repeatsMissed++;
      const setStart = process.hrtime.bigint();
      await store.set(key, { value: outcomeFor(requestIndex), costUsd: 0.000002 }, 3600);
      setTimes.push(elapsedMs(setStart));
      stored.push(requestIndex);
    }
  } finally {
    await store.close();
  }

  const hit = summarize(hitTimes);
  const miss = summarize(missTimes);
  const set = summarize(setTimes);
  const key = summarize(keyTimes);
  const hitRate = hits / lookups;
  const section = 'cache';
  return {
    section,
    figures: [
      figure({
        key: 'cache.hitLookupP50Ms',
        section,
        label: 'cache exact lookup (hit) p50',
        value: hit.p50Ms,
        unit: 'ms',
        measures: `Time of one SQLiteCacheStore.get that hits, over ${hit.count} hits (the entries are in a file-backed WAL database; the get also updates the store's hit counters).`,
        goal: { comparator: '<', target: 0.05, text: 'p50 < 0.05 ms' },
      }),
      figure({ key: 'cache.hitLookupP99Ms', section, label: 'cache exact lookup (hit) p99', value: hit.p99Ms, unit: 'ms', measures: 'The 99th percentile of the same hit lookups.' }),
      figure({ key: 'cache.missLookupP50Ms', section, label: 'cache lookup (miss) p50', value: miss.p50Ms, unit: 'ms', measures: `Time of one get that misses, over ${miss.count} misses.` }),
      figure({ key: 'cache.setP50Ms', section, label: 'cache store (set) p50', value: set.p50Ms, unit: 'ms', measures: 'Time of one set after a miss (an INSERT OR REPLACE committed to the WAL).' }),
      figure({ key: 'cache.keyP50Ms', section, label: 'cache key (sha256) p50', value: key.p50Ms, unit: 'ms', measures: 'Time to compute one cache key (canonical JSON of model, prompts, input, parameters and JSON schema, then sha256).' }),
      figure({
        key: 'cache.hitRate',
        section,
        label: 'cache hit rate (30% exact repeats)',
        value: hitRate,
        unit: 'share',
        measures: `Hits / lookups over ${lookups} lookups of which ${repeats} repeat an earlier call exactly; the best possible rate is the repeat share.`,
        goal: { comparator: '>=', target: repeats / lookups, text: `= repeat share (${(repeats / lookups).toFixed(3)})` },
      }),
      figure({
        key: 'cache.falseHits',
        section,
        label: 'cache false hits',
        value: falseHits,
        unit: 'hits',
        measures: 'Hits for a call never stored, or whose value differs from the one stored under that key.',
        goal: { comparator: '<=', target: 0, text: '0' },
      }),
    ],
    details: { lookups, repeats, hits, repeatsMissed, falseHits, hitLookup: hit, missLookup: miss, set, key, entries: stored.length },
  };
}
