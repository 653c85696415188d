/**
 * Opens the configured rate limiter: buckets the fleet shares in PostgreSQL when a database is
 * configured (settings.databaseUrl, `CONVEYOR_DATABASE_URL`), else this process's own buckets.
 */
import { createRateLimiter } from './in-process';
import type { RateLimiter } from './limiter';
import { createPostgresRateLimiter } from './postgres';

export * from './limiter';
export { createRateLimiter, type RateLimiterOptions } from './in-process';
export { createPostgresRateLimiter, rateLimitMigrations, SHARED_BURST_MS, type PostgresRateLimiterOptions } from './postgres';

export function openRateLimiter(settings: { databaseUrl?: string }, options: { log?: (message: string) => void } = {}): RateLimiter {
  return settings.databaseUrl ? createPostgresRateLimiter({ url: settings.databaseUrl, ...options }) : createRateLimiter();
}
