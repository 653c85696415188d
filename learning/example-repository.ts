/**
 * Where the learning loop keeps collected examples, as the activities see it: the embedded SQLite
 * store under the data dir by default, or a store every host shares — the PostgreSQL database of
 * `CONVEYOR_DATABASE_URL`, or Redis (the store the model cache can share) when `CONVEYOR_EXAMPLES_REDIS_URL`
 * is set — so workers on several hosts collect into one set and any worker's distill run curates all
 * of it. All redact texts before writing, keep one example per job step, and let a reviewer's edit
 * replace an escalation's answer (never the reverse).
 */
import { migratedDatabase, type Migration } from '../platform/postgres';
import { createSharedRedis } from '../platform/redis';
import { defaultExampleStoreFile, exampleOf, ExampleStore, toExample, type ExampleRow } from './example-store';
import type { CollectExampleRequest, CollectedExample } from './types';

export interface ExampleRepository {
  readonly kind: 'sqlite' | 'redis' | 'postgres';
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

const postgresMigrations: readonly Migration[] = [
  {
    version: 1,
    description: 'collected examples, one per job step',
    sql: `CREATE TABLE conveyor_examples (
      id TEXT PRIMARY KEY,
      station TEXT NOT NULL,
      job_type TEXT NOT NULL,
      job_id TEXT NOT NULL,
      step_id TEXT NOT NULL,
      text TEXT NOT NULL,
      label TEXT NOT NULL,
      source TEXT NOT NULL,
      weight DOUBLE PRECISION NOT NULL,
      model_version TEXT,
      answered_by TEXT,
      created_at TIMESTAMPTZ NOT NULL
    );
    CREATE INDEX conveyor_examples_by_station ON conveyor_examples (station, created_at, id)`,
  },
];


/** Examples in the PostgreSQL database the hosts share (component `examples`, table `conveyor_examples`). */
export function createPostgresExampleRepository(options: { url: string }): ExampleRepository {
  const { db, ready } = migratedDatabase(options.url, 'examples', postgresMigrations);
  return {
    kind: 'postgres',
    async collect(raw) {
      const example = exampleOf(raw, new Date());
      await ready();
      // One statement, so concurrent collections of a step settle on the heaviest: the row comes back
      // when this one was stored (inserted or replaced); otherwise the kept row is read.
      const stored = await db.query<ExampleRow>(
        `INSERT INTO conveyor_examples (id, station, job_type, job_id, step_id, text, label, source, weight, model_version, answered_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (id) DO UPDATE SET label = excluded.label, source = excluded.source, weight = excluded.weight, answered_by = excluded.answered_by
         WHERE excluded.weight > conveyor_examples.weight
         RETURNING *`,
        [example.id, example.station, example.jobType, example.jobId, example.stepId, example.text, example.label, example.source, example.weight, example.modelVersion, example.answeredBy, example.createdAt],
      );
      if (stored.rows[0]) return { example: toExample(stored.rows[0]), stored: true };
      const kept = await db.query<ExampleRow>('SELECT * FROM conveyor_examples WHERE id = $1', [example.id]);
      return { example: toExample(kept.rows[0]!), stored: false };
    },
    async examples(station) {
      await ready();
      const rows = await db.query<ExampleRow>('SELECT * FROM conveyor_examples WHERE station = $1 ORDER BY created_at, id', [station]);
      return rows.rows.map(toExample);
    },
    close: () => db.close(),
  };
}

/**
 * The shared PostgreSQL when a database URL is given (settings.databaseUrl), else Redis when
 * CONVEYOR_EXAMPLES_REDIS_URL is set (shared by all workers), otherwise SQLite under the data dir.
 */
export function openExampleRepository(dataDir: string, env: NodeJS.ProcessEnv = process.env, databaseUrl?: string): ExampleRepository {
  if (databaseUrl) return createPostgresExampleRepository({ url: databaseUrl });
  if (env.CONVEYOR_EXAMPLES_REDIS_URL) return createRedisExampleRepository({ url: env.CONVEYOR_EXAMPLES_REDIS_URL });
  return sqliteExampleRepository(new ExampleStore(defaultExampleStoreFile(dataDir)), true);
}
