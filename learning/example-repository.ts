/**
 * Where the learning loop keeps collected examples, as the activities see it: the embedded SQLite
 * store under the data dir by default, or Redis — the store the model cache already shares between
 * workers — when `CONVEYOR_EXAMPLES_REDIS_URL` is set, so workers on several hosts collect into one
 * set and any worker's distill run curates all of it. Both redact texts before writing, keep one
 * example per job step, and let a reviewer's edit replace an escalation's answer (never the reverse).
 */
import { createSharedRedis } from '../platform/redis';
import { defaultExampleStoreFile, exampleOf, ExampleStore } from './example-store';
import type { CollectExampleRequest, CollectedExample } from './types';

export interface ExampleRepository {
  readonly kind: 'sqlite' | 'redis';
  collect(request: CollectExampleRequest): Promise<{ example: CollectedExample; stored: boolean }>;
  /** Every example of a station, oldest first. */
  examples(station: string): Promise<CollectedExample[]>;
  close(): Promise<void>;
}

export function sqliteExampleRepository(store: ExampleStore, owned = false): ExampleRepository {
  return {
    kind: 'sqlite',
    // async, so a refused example is a rejected promise in both stores rather than a throw here.
    collect: async (request) => store.collect(request),
    examples: async (station) => store.examples(station),
    close: async () => {
      if (owned) store.close();
    },
  };
}

// Insert, or replace label/source/weight when the new example weighs more; keeps the first text and time.
const upsertScript = `
local existing = redis.call('GET', KEYS[1])
if existing then
  local old = cjson.decode(existing)
  local new = cjson.decode(ARGV[1])
  if tonumber(new.weight) > tonumber(old.weight) then
    old.label = new.label
    old.source = new.source
    old.weight = new.weight
    old.answeredBy = new.answeredBy
    local encoded = cjson.encode(old)
    redis.call('SET', KEYS[1], encoded)
    return {1, encoded}
  end
  return {0, existing}
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
return {1, ARGV[1]}`;

export interface RedisExampleOptions {
  url: string;
  /** Namespace for keys, so several deployments can share one Redis. */
  keyPrefix?: string;
  connectTimeoutMs?: number;
}

export function createRedisExampleRepository(options: RedisExampleOptions): ExampleRepository {
  const prefix = options.keyPrefix ?? 'conveyor:examples:';
  // A failed operation is reported to the activity, which retries.
  const shared = createSharedRedis({ url: options.url, connectTimeoutMs: options.connectTimeoutMs, closedMessage: 'the Redis example store is closed' });
  const ready = () => shared.ready();
  const exampleKey = (id: string) => `${prefix}example:${id}`;
  const stationKey = (station: string) => `${prefix}station:${station}`;

  return {
    kind: 'redis',
    async collect(raw) {
      const createdAt = new Date();
      const example = exampleOf(raw, createdAt);
      const redis = await ready();
      const [stored, json] = (await redis.eval(upsertScript, {
        keys: [exampleKey(example.id), stationKey(example.station)],
        arguments: [JSON.stringify(example), String(createdAt.getTime()), example.id],
      })) as [number, string];
      return { example: JSON.parse(json) as CollectedExample, stored: stored === 1 };
    },
    async examples(station) {
      const redis = await ready();
      const ids = await redis.zRange(stationKey(station), 0, -1);
      const examples: CollectedExample[] = [];
      for (let start = 0; start < ids.length; start += 500) {
        const values = await redis.mGet(ids.slice(start, start + 500).map(exampleKey));
        for (const value of values) if (value !== null) examples.push(JSON.parse(value) as CollectedExample);
      }
      return examples.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
    },
    close: () => shared.close(),
  };
}

/** Redis when CONVEYOR_EXAMPLES_REDIS_URL is set (shared by all workers), otherwise SQLite under the data dir. */
export function openExampleRepository(dataDir: string, env: NodeJS.ProcessEnv = process.env): ExampleRepository {
  if (env.CONVEYOR_EXAMPLES_REDIS_URL) return createRedisExampleRepository({ url: env.CONVEYOR_EXAMPLES_REDIS_URL });
  return sqliteExampleRepository(new ExampleStore(defaultExampleStoreFile(dataDir)), true);
}
