/**
 * The cache in Redis: the store several workers share (CONVEYOR_CACHE_REDIS_URL), so one worker's paid
 * answer serves every other. Entries expire with Redis TTLs; hit/miss counters live in one hash so the
 * stats are fleet-wide. The client fails fast while Redis is down (no offline queue) and reconnects in
 * the background, because the gateway prefers an uncached call to a call stuck behind a dead cache.
 */
import { createClient } from 'redis';
import { connectOnDemand } from '../../platform/redis';
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
  let everConnected = false;
  const client = createClient({
    url: options.url,
    disableOfflineQueue: true,
    socket: {
      connectTimeout: options.connectTimeoutMs ?? 2_000,
      // A first connection that fails is reported at once (the next operation tries again); a lost
      // connection is re-established in the background.
      reconnectStrategy: (retries: number, cause: Error) => (everConnected ? Math.min(200 * 2 ** retries, 5_000) : cause),
    },
  });
  // Without a listener an 'error' event would crash the worker; the gateway reports failed operations.
  client.on('error', () => {});
  client.on('ready', () => {
    everConnected = true;
  });
  let closed = false;
  const ready = connectOnDemand(client, () => (closed ? 'the Redis cache store is closed' : undefined));

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
    async close() {
      closed = true;
      if (client.isReady) await client.close();
      else if (client.isOpen) client.destroy();
    },
  };
}
