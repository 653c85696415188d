/**
 * Opens the configured cache store: Redis when CONVEYOR_CACHE_REDIS_URL is set, else the shared
 * PostgreSQL when CONVEYOR_DATABASE_URL is (both shared by all workers), else SQLite at
 * $CONVEYOR_DATA_DIR/cache.sqlite; CONVEYOR_CACHE=off disables caching.
 */
import path from 'node:path';
import { loadSettings } from '../../platform/settings';
import { createPostgresCacheStore } from './postgres';
import { createRedisCacheStore } from './redis';
import { createSqliteCacheStore } from './sqlite';
import type { CacheStore } from './store';

export * from './store';
export { createPostgresCacheStore, type PostgresCacheOptions } from './postgres';
export { createRedisCacheStore, type RedisCacheOptions } from './redis';
export { createSqliteCacheStore, type SqliteCacheOptions } from './sqlite';

export function openCacheStore(env: NodeJS.ProcessEnv = process.env): CacheStore | null {
  if (env.CONVEYOR_CACHE === 'off') return null;
  // A cache Redis named on purpose wins over the database every other shared store uses.
  if (env.CONVEYOR_CACHE_REDIS_URL) return createRedisCacheStore({ url: env.CONVEYOR_CACHE_REDIS_URL });
  const settings = loadSettings(env);
  if (settings.databaseUrl) return createPostgresCacheStore({ url: settings.databaseUrl });
  return createSqliteCacheStore({ file: path.join(settings.dataDir, 'cache.sqlite') });
}
