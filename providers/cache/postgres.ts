/**
 * The cache in the PostgreSQL database every host shares (CONVEYOR_DATABASE_URL), so one worker's paid
 * answer serves every other without a Redis. An entry expires at its `expires_at`; an expired one reads
 * as a miss and is removed by that read. Hits, misses and the cost saved are counted in the same
 * statement that reads the entry, so the totals are fleet-wide and exact; they are spread over
 * `CACHE_STATS_STRIPES` rows, each read counting in one chosen at random, so reads from many workers do
 * not queue for one row's lock, and `stats()` sums them. Time is the
 * database server's clock, which every host agrees on (tests inject their own). Each write also removes a
 * few entries that expired unread, so a long-lived shared database does not fill up with them.
 */
import { migratedDatabase, type Migration } from '../../platform/postgres';
import type { CacheEntry, CacheStore, CacheStoreStats } from './store';

export interface PostgresCacheOptions {
  url: string;
  /** A clock in epoch milliseconds; default the database server's. */
  now?: () => number;
}

export const cacheMigrations: readonly Migration[] = [
  {
    version: 1,
    description: 'cache entries with their expiry, and one row of hit/miss/cost-saved totals',
    sql: `CREATE TABLE conveyor_cache_entries (
      key TEXT PRIMARY KEY,
      value TEXT NOT NULL,
      cost_usd DOUBLE PRECISION NOT NULL,
      expires_at TIMESTAMPTZ NOT NULL
    );
    CREATE INDEX conveyor_cache_entries_by_expiry ON conveyor_cache_entries (expires_at);
    CREATE TABLE conveyor_cache_stats (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      hits BIGINT NOT NULL,
      misses BIGINT NOT NULL,
      cost_saved_usd DOUBLE PRECISION NOT NULL
    );
    INSERT INTO conveyor_cache_stats (id, hits, misses, cost_saved_usd) VALUES (1, 0, 0, 0)`,
  },
  {
    version: 2,
    description: 'the hit/miss/cost-saved totals spread over 16 rows, so concurrent reads do not queue for one row lock',
    sql: `ALTER TABLE conveyor_cache_stats DROP CONSTRAINT conveyor_cache_stats_id_check;
    ALTER TABLE conveyor_cache_stats ADD CONSTRAINT conveyor_cache_stats_id_check CHECK (id BETWEEN 1 AND 16);
    INSERT INTO conveyor_cache_stats (id, hits, misses, cost_saved_usd) SELECT stripe, 0, 0, 0 FROM generate_series(2, 16) AS stripe`,
  },
];

/** How many rows the totals are spread over (migration 2 creates them). */
export const CACHE_STATS_STRIPES = 16;

export function createPostgresCacheStore(options: PostgresCacheOptions): CacheStore {
  const { db, ready } = migratedDatabase(options.url, 'cache', cacheMigrations);
  // $1 of every statement: the injected time, or null for the server's now().
  const clock = () => (options.now ? new Date(options.now()) : null);
  const at = 'coalesce($1::timestamptz, now())';

  return {
    kind: 'postgres',
    async get(key) {
      await ready();
      const result = await db.query<{ value: string; cost_usd: number }>(
        `WITH entry AS (SELECT value, cost_usd FROM conveyor_cache_entries WHERE key = $2 AND expires_at > ${at}),
         expired AS (DELETE FROM conveyor_cache_entries WHERE key = $2 AND expires_at <= ${at}),
         counted AS (
           UPDATE conveyor_cache_stats SET
             hits = hits + (SELECT count(*) FROM entry),
             misses = misses + 1 - (SELECT count(*) FROM entry),
             cost_saved_usd = cost_saved_usd + coalesce((SELECT cost_usd FROM entry), 0)
           WHERE id = $3
         )
         SELECT value, cost_usd FROM entry`,
        [clock(), key, 1 + Math.floor(Math.random() * CACHE_STATS_STRIPES)],
      );
      const row = result.rows[0];
      if (!row) return undefined;
      const entry: CacheEntry = { value: JSON.parse(row.value) as unknown, costUsd: row.cost_usd };
      return entry;
    },
    async set(key, entry, ttlSeconds) {
      await ready();
      await db.query(
        `WITH purged AS (
           DELETE FROM conveyor_cache_entries WHERE key IN (
             SELECT key FROM conveyor_cache_entries WHERE expires_at <= ${at} AND key <> $2 LIMIT 100 FOR UPDATE SKIP LOCKED
           )
         )
         INSERT INTO conveyor_cache_entries (key, value, cost_usd, expires_at) VALUES ($2, $3, $4, ${at} + make_interval(secs => $5))
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, cost_usd = excluded.cost_usd, expires_at = excluded.expires_at`,
        [clock(), key, JSON.stringify(entry.value), entry.costUsd, ttlSeconds],
      );
    },
    async delete(key) {
      await ready();
      await db.query('DELETE FROM conveyor_cache_entries WHERE key = $1', [key]);
    },
    async stats() {
      await ready();
      const result = await db.query<{ hits: string; misses: string; cost_saved_usd: number; entries: string }>(
        `SELECT sum(hits) AS hits, sum(misses) AS misses, sum(cost_saved_usd) AS cost_saved_usd,
           (SELECT count(*) FROM conveyor_cache_entries WHERE expires_at > ${at}) AS entries
         FROM conveyor_cache_stats`,
        [clock()],
      );
      const row = result.rows[0]!;
      const stats: CacheStoreStats = { hits: Number(row.hits), misses: Number(row.misses), costSavedUsd: row.cost_saved_usd, entries: Number(row.entries) };
      return stats;
    },
    close: () => db.close(),
  };
}
