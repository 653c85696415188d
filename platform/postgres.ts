/**
 * The one PostgreSQL connection setup Conveyor's shared stores use (`CONVEYOR_DATABASE_URL`): one pool
 * per database URL per process, shared by every store that opens it and closed when the last one closes;
 * and schema migrations, run on start by each store for its own component, idempotently: a version table
 * (`conveyor_schema_migrations`) records what was applied, and an advisory lock makes hosts that start at
 * the same moment apply each step once. Errors name the database without its password.
 */
import pg from 'pg';

export class DatabaseError extends Error {
  override readonly name = 'DatabaseError';
}

/** A migration step of one component's schema; versions start at 1 and have no gaps. */
export interface Migration {
  version: number;
  description: string;
  sql: string;
}

export interface SharedDatabase {
  /** The URL without its password, for messages. */
  readonly label: string;
  readonly pool: pg.Pool;
  query<Row extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<Row>>;
  /** Runs `work` in one transaction on one connection: committed when it resolves, rolled back when it throws. */
  transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T>;
  /** Releases this handle; the pool closes when every handle on it is released. */
  close(): Promise<void>;
}

/** postgres://user:***@host:port/db — a URL safe to print. */
export function redactDatabaseUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'an unparseable database URL';
  }
}

interface PoolEntry {
  pool: pg.Pool;
  handles: number;
}

const pools = new Map<string, PoolEntry>();

export interface OpenDatabaseOptions {
  /** Connections in this process's pool (default 10). */
  max?: number;
  connectTimeoutMs?: number;
}

/** A handle on the process-wide pool for `url`; every store opening the same URL shares it. */
export function openDatabase(url: string, options: OpenDatabaseOptions = {}): SharedDatabase {
  const label = redactDatabaseUrl(url);
  let entry = pools.get(url);
  if (!entry) {
    const pool = new pg.Pool({ connectionString: url, max: options.max ?? 10, connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000, idleTimeoutMillis: 10_000 });
    // An idle connection the server dropped (a restart) is reported here; the next query reconnects.
    pool.on('error', () => {});
    entry = { pool, handles: 0 };
    pools.set(url, entry);
  }
  entry.handles += 1;
  const held = entry;
  let released = false;
  const explain = (error: unknown): never => {
    if (error instanceof DatabaseError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    throw new DatabaseError(`PostgreSQL at ${label}: ${message}`, { cause: error });
  };
  return {
    label,
    pool: held.pool,
    async query<Row extends pg.QueryResultRow>(text: string, values?: unknown[]) {
      return held.pool.query<Row>(text, values).catch(explain);
    },
    async transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
      const client = await held.pool.connect().catch(explain);
      try {
        await client.query('BEGIN');
        const result = await work(client);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      } finally {
        client.release();
      }
    },
    async close() {
      if (released) return;
      released = true;
      held.handles -= 1;
      if (held.handles === 0 && pools.get(url) === held) {
        pools.delete(url);
        await held.pool.end();
      }
    },
  };
}

function checkedMigrations(component: string, migrations: readonly Migration[]): void {
  migrations.forEach((migration, index) => {
    if (migration.version !== index + 1) {
      throw new DatabaseError(`${component}'s migrations must be numbered 1, 2, 3… without gaps; step ${index + 1} says version ${migration.version}`);
    }
  });
}

/**
 * Brings `component`'s schema to the newest of `migrations`, applying each missing step once (in one
 * transaction, under an advisory lock, so concurrent starts wait for each other). Refuses a database
 * whose schema is newer than this code knows: an older Conveyor must not write to it.
 */
export async function migrate(db: SharedDatabase, component: string, migrations: readonly Migration[]): Promise<{ applied: number[]; version: number }> {
  checkedMigrations(component, migrations);
  return db.transaction(async (client) => {
    await client.query("SELECT pg_advisory_xact_lock(hashtext('conveyor_schema_migrations'))");
    await client.query(`CREATE TABLE IF NOT EXISTS conveyor_schema_migrations (
      component TEXT NOT NULL,
      version INTEGER NOT NULL,
      description TEXT NOT NULL,
      applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
      PRIMARY KEY (component, version)
    )`);
    const current = await client.query<{ version: number | null }>('SELECT max(version) AS version FROM conveyor_schema_migrations WHERE component = $1', [component]);
    const at = current.rows[0]?.version ?? 0;
    if (at > migrations.length) {
      throw new DatabaseError(
        `${db.label}: the ${component} schema is at version ${at}, newer than this Conveyor knows (${migrations.length}); upgrade Conveyor on this host before it uses that database`,
      );
    }
    const applied: number[] = [];
    for (const migration of migrations.slice(at)) {
      await client.query(migration.sql);
      await client.query('INSERT INTO conveyor_schema_migrations (component, version, description) VALUES ($1, $2, $3)', [component, migration.version, migration.description]);
      applied.push(migration.version);
    }
    return { applied, version: migrations.length };
  });
}

/** Opens `url` and migrates `component` before the first use: what every PostgreSQL store does on start. */
export function migratedDatabase(url: string, component: string, migrations: readonly Migration[], options?: OpenDatabaseOptions): { db: SharedDatabase; ready: () => Promise<SharedDatabase> } {
  const db = openDatabase(url, options);
  let migrating: Promise<unknown> | undefined;
  return {
    db,
    ready: async () => {
      migrating ??= migrate(db, component, migrations).catch((error: unknown) => {
        migrating = undefined;
        throw error;
      });
      await migrating;
      return db;
    },
  };
}
