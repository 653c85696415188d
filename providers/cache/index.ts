/**
 * Opens the configured cache store: Redis when CONVEYOR_CACHE_REDIS_URL is set (shared by all workers),
 * else SQLite at $CONVEYOR_DATA_DIR/cache.sqlite; CONVEYOR_CACHE=off disables caching.
 */
import path from 'node:path';
import { createRedisCacheStore } from './redis';
import { createSqliteCacheStore } from './sqlite';
import type { CacheStore } from './store';

export * from './store';
export { createRedisCacheStore, type RedisCacheOptions } from './redis';
export { createSqliteCacheStore, type SqliteCacheOptions } from './sqlite';

export function openCacheStore(env: NodeJS.ProcessEnv = process.env): CacheStore | null {
  if (env.CONVEYOR_CACHE === 'off') return null;
  if (env.CONVEYOR_CACHE_REDIS_URL) return createRedisCacheStore({ url: env.CONVEYOR_CACHE_REDIS_URL });
  const dataDir = path.resolve(env.CONVEYOR_DATA_DIR || '.conveyor');
  return createSqliteCacheStore({ file: path.join(dataDir, 'cache.sqlite') });
}
