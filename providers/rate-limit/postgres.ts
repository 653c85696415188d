/**
 * Rate limits the whole fleet holds together (`CONVEYOR_DATABASE_URL`): one row per model and bucket in
 * PostgreSQL (available amount, updated at), refilled and taken in one function call under a row lock,
 * on the database's clock, so every worker on every host draws on the same buckets whatever its own
 * clock says. A full bucket holds a tenth of a minute's limit by default (`SHARED_BURST_MS`), so any
 * minute sees at most 1.1 × the limit across the fleet. Within a process calls still queue in arrival
 * order and only the head of each model's line asks the database. Token corrections (`settle`) are sent
 * in the background; the next call for the model waits for them. When the database cannot be reached a
 * call fails with the retryable RateLimiterUnavailableError (Temporal retries the activity): it never
 * goes ahead unlimited.
 */
import type pg from 'pg';
import { migratedDatabase, type Migration } from '../../platform/postgres';
import type { ModelSpec } from '../../domain/models';
import { RateLimiterUnavailableError } from '../errors';
import { amountOf, bucketSizes, waitingLine, type RateLimiter } from './limiter';

/** A full shared bucket holds 6 s of its limit: bursts stay small, and any 60 s window sees at most 1.1 × the limit. */
export const SHARED_BURST_MS = 6_000;

const component = 'rate-limits';

export const rateLimitMigrations: readonly Migration[] = [
  {
    version: 1,
    description: 'token buckets per model and kind, with take and adjust functions on the database clock',
    sql: `
      CREATE TABLE conveyor_rate_limit_buckets (
        model_id TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('requests', 'tokens')),
        capacity DOUBLE PRECISION NOT NULL,
        per_minute DOUBLE PRECISION NOT NULL,
        available DOUBLE PRECISION NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (model_id, kind)
      );

      -- Refills the model's buckets by the time elapsed and takes the amounts from all of them, or from
      -- none: returns 0 when taken, else the milliseconds until every bucket has room (for an amount larger
      -- than the bucket: until it is full; taking it then leaves debt). Rows are locked in the order given
      -- (requests, then tokens), so concurrent callers never deadlock.
      CREATE FUNCTION conveyor_rate_limit_take(p_model TEXT, p_kinds TEXT[], p_capacity FLOAT8[], p_per_minute FLOAT8[], p_amount FLOAT8[])
      RETURNS BIGINT LANGUAGE plpgsql AS $$
      DECLARE
        v_available FLOAT8[] := '{}';
        v_updated TIMESTAMPTZ[] := '{}';
        v_refilled FLOAT8[] := '{}';
        v_row RECORD;
        v_now TIMESTAMPTZ;
        v_wait FLOAT8 := 0;
      BEGIN
        INSERT INTO conveyor_rate_limit_buckets (model_id, kind, capacity, per_minute, available, updated_at)
          SELECT p_model, k, c, r, c, clock_timestamp() FROM unnest(p_kinds, p_capacity, p_per_minute) AS t(k, c, r)
          ON CONFLICT (model_id, kind) DO NOTHING;
        FOR i IN 1 .. array_length(p_kinds, 1) LOOP
          SELECT available, updated_at INTO v_row FROM conveyor_rate_limit_buckets WHERE model_id = p_model AND kind = p_kinds[i] FOR UPDATE;
          v_available := v_available || v_row.available;
          v_updated := v_updated || v_row.updated_at;
        END LOOP;
        v_now := clock_timestamp();
        FOR i IN 1 .. array_length(p_kinds, 1) LOOP
          v_refilled := v_refilled || LEAST(p_capacity[i], v_available[i] + GREATEST(0, EXTRACT(EPOCH FROM v_now - v_updated[i])) * p_per_minute[i] / 60);
          v_wait := GREATEST(v_wait, CEIL((LEAST(p_amount[i], p_capacity[i]) - v_refilled[i]) * 60000 / p_per_minute[i]));
        END LOOP;
        IF v_wait > 0 THEN
          RETURN v_wait::BIGINT;
        END IF;
        FOR i IN 1 .. array_length(p_kinds, 1) LOOP
          UPDATE conveyor_rate_limit_buckets
            SET available = v_refilled[i] - p_amount[i], updated_at = GREATEST(v_updated[i], v_now), capacity = p_capacity[i], per_minute = p_per_minute[i]
            WHERE model_id = p_model AND kind = p_kinds[i];
        END LOOP;
        RETURN 0;
      END $$;

      -- Refills one bucket and takes p_amount more from it (a negative amount hands room back, up to the capacity).
      CREATE FUNCTION conveyor_rate_limit_adjust(p_model TEXT, p_kind TEXT, p_capacity FLOAT8, p_per_minute FLOAT8, p_amount FLOAT8)
      RETURNS VOID LANGUAGE plpgsql AS $$
      DECLARE
        v_row RECORD;
        v_now TIMESTAMPTZ;
      BEGIN
        SELECT available, updated_at INTO v_row FROM conveyor_rate_limit_buckets WHERE model_id = p_model AND kind = p_kind FOR UPDATE;
        IF NOT FOUND THEN
          RETURN;
        END IF;
        v_now := clock_timestamp();
        UPDATE conveyor_rate_limit_buckets
          SET available = LEAST(p_capacity, LEAST(p_capacity, v_row.available + GREATEST(0, EXTRACT(EPOCH FROM v_now - v_row.updated_at)) * p_per_minute / 60) - p_amount),
              updated_at = GREATEST(v_row.updated_at, v_now)
          WHERE model_id = p_model AND kind = p_kind;
      END $$;
    `,
  },
];

export interface PostgresRateLimiterOptions {
  /** The shared database (settings.databaseUrl). */
  url: string;
  /** How much of a minute's limit a full bucket holds (default SHARED_BURST_MS). */
  burstMs?: number;
  /** A database call slower than this fails the model call as RateLimiterUnavailableError (default 5 s). */
  queryTimeoutMs?: number;
  /** The longest the head of a line sleeps before asking again, so room handed back by other workers is seen (default 2 s). */
  maxSleepMs?: number;
  log?: (message: string) => void;
}

const reasonOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

export function createPostgresRateLimiter(options: PostgresRateLimiterOptions): RateLimiter {
  const burstMs = options.burstMs ?? SHARED_BURST_MS;
  const queryTimeoutMs = options.queryTimeoutMs ?? 5_000;
  const log = options.log ?? ((message: string) => console.warn(message));
  const { db, ready } = migratedDatabase(options.url, component, rateLimitMigrations);
  /** Per model, the corrections sent and not yet applied: the model's next take waits for them. */
  const settling = new Map<string, Promise<void>>();
  let settleFailureLogged = false;

  const unavailable = (model: ModelSpec, error: unknown) =>
    new RateLimiterUnavailableError(
      `${model.id}: the fleet's shared rate limit in PostgreSQL at ${db.label} could not be checked (${reasonOf(error)}); the model was not called, and the activity is retried`,
      model.id,
    );

  /** One function call on the shared database; pg's own read timeout bounds it (the pool bounds connecting). */
  async function call<Row extends pg.QueryResultRow>(text: string, values: unknown[]): Promise<Row[]> {
    await ready();
    const query: pg.QueryConfig & { query_timeout: number } = { text, values, query_timeout: queryTimeoutMs };
    return (await db.pool.query<Row>(query)).rows;
  }

  const acquire = waitingLine(
    async (model, sizes, estimatedTokens) => {
      await settling.get(model.id);
      try {
        const [row] = await call<{ wait_ms: string | number }>('SELECT conveyor_rate_limit_take($1, $2, $3, $4, $5) AS wait_ms', [
          model.id,
          sizes.map((size) => size.kind),
          sizes.map((size) => size.capacity),
          sizes.map((size) => size.perMinute),
          sizes.map((size) => amountOf(size, estimatedTokens)),
        ]);
        return Number(row?.wait_ms ?? 0);
      } catch (error) {
        throw unavailable(model, error);
      }
    },
    burstMs,
    options.maxSleepMs ?? 2_000,
  );

  function settle(model: ModelSpec, tokenDifference: number): void {
    const size = bucketSizes(model, burstMs).find((bucket) => bucket.kind === 'tokens');
    if (!size || tokenDifference === 0) return;
    const correction = (settling.get(model.id) ?? Promise.resolve())
      .then(() => call('SELECT conveyor_rate_limit_adjust($1, $2, $3, $4, $5)', [model.id, size.kind, size.capacity, size.perMinute, tokenDifference]))
      .then(
        () => {
          settleFailureLogged = false;
        },
        (error: unknown) => {
          // The request itself was counted when it was taken; only the estimate's correction is lost.
          if (!settleFailureLogged) log(`conveyor: could not correct ${model.id}'s shared token bucket at ${db.label} (${reasonOf(error)}); its estimate stands`);
          settleFailureLogged = true;
        },
      );
    settling.set(model.id, correction);
    void correction.then(() => {
      if (settling.get(model.id) === correction) settling.delete(model.id);
    });
  }

  return {
    acquire,
    settle,
    async close() {
      await Promise.all(settling.values());
      await db.close();
    },
  };
}
