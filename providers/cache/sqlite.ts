/**
 * The cache in one SQLite file (WAL mode, so readers never wait for the writer): the default store of a
 * single machine, at $CONVEYOR_DATA_DIR/cache.sqlite. Several worker processes on one machine may share
 * the file; workers on several machines share a Redis store instead.
 */
import type { CacheEntry, CacheStore, CacheStoreStats } from './store';
import { openSqlite } from '../../platform/sqlite';

export interface SqliteCacheOptions {
  file: string;
  now?: () => number;
}

export function createSqliteCacheStore(options: SqliteCacheOptions): CacheStore {
  const now = options.now ?? Date.now;
  const db = openSqlite(
    options.file,
    `
    CREATE TABLE IF NOT EXISTS cache_entries (
      key TEXT PRIMARY KEY,
      value TEXT NOT NULL,
      cost_usd REAL NOT NULL,
      expires_at INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS cache_counters (name TEXT PRIMARY KEY, value REAL NOT NULL);
    INSERT OR IGNORE INTO cache_counters (name, value) VALUES ('hits', 0), ('misses', 0), ('costSavedUsd', 0);
  `,
  );
  const selectEntry = db.prepare<[string], { value: string; cost_usd: number; expires_at: number }>(
    'SELECT value, cost_usd, expires_at FROM cache_entries WHERE key = ?',
  );
  const upsertEntry = db.prepare(
    'INSERT OR REPLACE INTO cache_entries (key, value, cost_usd, expires_at) VALUES (?, ?, ?, ?)',
  );
  const deleteEntry = db.prepare('DELETE FROM cache_entries WHERE key = ?');
  const addToCounter = db.prepare('UPDATE cache_counters SET value = value + ? WHERE name = ?');
  const selectCounters = db.prepare<[], { name: string; value: number }>('SELECT name, value FROM cache_counters');
  const countLiveEntries = db.prepare<[number], { entries: number }>('SELECT count(*) AS entries FROM cache_entries WHERE expires_at > ?');

  return {
    kind: 'sqlite',
    get(key) {
      const row = selectEntry.get(key);
      if (!row || row.expires_at <= now()) {
        if (row) deleteEntry.run(key);
        addToCounter.run(1, 'misses');
        return Promise.resolve(undefined);
      }
      addToCounter.run(1, 'hits');
      addToCounter.run(row.cost_usd, 'costSavedUsd');
      const entry: CacheEntry = { value: JSON.parse(row.value) as unknown, costUsd: row.cost_usd };
      return Promise.resolve(entry);
    },
    set(key, entry, ttlSeconds) {
      upsertEntry.run(key, JSON.stringify(entry.value), entry.costUsd, now() + ttlSeconds * 1000);
      return Promise.resolve();
    },
    delete(key) {
      deleteEntry.run(key);
      return Promise.resolve();
    },
    stats() {
      const counters = Object.fromEntries(selectCounters.all().map((row) => [row.name, row.value]));
      const stats: CacheStoreStats = {
        hits: counters.hits ?? 0,
        misses: counters.misses ?? 0,
        costSavedUsd: counters.costSavedUsd ?? 0,
        entries: countLiveEntries.get(now())?.entries ?? 0,
      };
      return Promise.resolve(stats);
    },
    close() {
      if (db.open) db.close();
      return Promise.resolve();
    },
  };
}
