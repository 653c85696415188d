/**
 * The cache in Redis: the store several workers share (CONVEYOR_CACHE_REDIS_URL), so one worker's paid
 * answer serves every other. Entries expire with Redis TTLs; hit/miss counters live in one hash so the
 * stats are fleet-wide. The client fails fast while Redis is down (no offline queue) and reconnects in
 * the background, because the gateway prefers an uncached call to a call stuck behind a dead cache.
 */
import { createSharedRedis } from '../../platform/redis';
import type { CacheEntry, CacheStore, CacheStoreStats } from './store';

export interface RedisCacheOptions {
  url: string;
  /** Namespace for keys, so several deployments can share one Redis. */
  keyPrefix?: string;
  connectTimeoutMs?: number;
}

export function createRedisCacheStore(options: RedisCacheOptions): CacheStore {
  const prefix = options.keyPrefix ?? 'conveyor:cache:';
  const statsKey = `${prefix}stats`;
  const entryKey = (key: string) => `${prefix}entry:${key}`;
  const shared = createSharedRedis({ url: options.url, connectTimeoutMs: options.connectTimeoutMs, closedMessage: 'the Redis cache store is closed' });
  const ready = () => shared.ready();

  return {
    kind: 'redis',
    async get(key) {
      const redis = await ready();
      const stored = await redis.get(entryKey(key));
      if (stored === null) {
        await redis.hIncrBy(statsKey, 'misses', 1);
        return undefined;
      }
      const entry = JSON.parse(stored) as CacheEntry;
      await redis.multi().hIncrBy(statsKey, 'hits', 1).hIncrByFloat(statsKey, 'costSavedUsd', entry.costUsd).exec();
      return entry;
    },
    async set(key, entry, ttlSeconds) {
      const redis = await ready();
      await redis.set(entryKey(key), JSON.stringify(entry), { expiration: { type: 'EX', value: Math.max(1, Math.round(ttlSeconds)) } });
    },
    async delete(key) {
      const redis = await ready();
      await redis.del(entryKey(key));
    },
    async stats() {
      const redis = await ready();
      const counters = await redis.hGetAll(statsKey);
      let entries = 0;
      for await (const keys of redis.scanIterator({ MATCH: `${prefix}entry:*`, COUNT: 500 })) entries += keys.length;
      const stats: CacheStoreStats = {
        hits: Number(counters.hits ?? 0),
        misses: Number(counters.misses ?? 0),
        costSavedUsd: Number(counters.costSavedUsd ?? 0),
        entries,
      };
      return stats;
    },
    close: () => shared.close(),
  };
}
