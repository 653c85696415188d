/**
 * The PostgreSQL foundation every shared store stands on, against a real PostgreSQL 15 started by
 * Conveyor's own code: migrations apply once however many hosts start at the same moment, a database
 * newer than the code is refused, errors name the database without its password, a pool is shared by
 * the stores of one process, and a restarted server is reconnected to.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatabaseError, migrate, migratedDatabase, openDatabase, redactDatabaseUrl, type Migration } from '../platform/postgres';
import { startTestPostgres, type TestPostgres } from './support/postgres';

let server: TestPostgres;

beforeAll(async () => {
  server = await startTestPostgres();
});

afterAll(async () => {
  await server?.dispose();
});

const steps: Migration[] = [
  { version: 1, description: 'widgets', sql: 'CREATE TABLE conveyor_test_widgets (id TEXT PRIMARY KEY)' },
  { version: 2, description: 'widget sizes', sql: 'ALTER TABLE conveyor_test_widgets ADD COLUMN size INTEGER' },
];

describe('migrations', () => {
  it('apply each step once when several hosts start together, and record it in the version table', async () => {
    const url = await server.createDatabase('migrations_once');
    // Separate pools, as on separate hosts: the same URL would share one pool in this process.
    const hosts = [openDatabase(url), openDatabase(`${url}?application_name=second`), openDatabase(`${url}?application_name=third`)];
    try {
      const results = await Promise.all(hosts.map((db) => migrate(db, 'test-widgets', steps)));
      expect(results.map((result) => result.applied).flat().sort()).toEqual([1, 2]);
      expect(results.every((result) => result.version === 2)).toBe(true);
      const recorded = await hosts[0]!.query<{ version: number; description: string }>(
        "SELECT version, description FROM conveyor_schema_migrations WHERE component = 'test-widgets' ORDER BY version",
      );
      expect(recorded.rows).toEqual([
        { version: 1, description: 'widgets' },
        { version: 2, description: 'widget sizes' },
      ]);
      expect((await migrate(hosts[1]!, 'test-widgets', steps)).applied).toEqual([]);
      await hosts[0]!.query("INSERT INTO conveyor_test_widgets (id, size) VALUES ('a', 3)");
    } finally {
      await Promise.all(hosts.map((db) => db.close()));
    }
  });

  it('add a later step to a database at an earlier version, and refuse one newer than the code', async () => {
    const url = await server.createDatabase('migrations_upgrade');
    const db = openDatabase(url);
    try {
      expect((await migrate(db, 'test-widgets', steps.slice(0, 1))).applied).toEqual([1]);
      expect((await migrate(db, 'test-widgets', steps)).applied).toEqual([2]);
      await expect(migrate(db, 'test-widgets', steps.slice(0, 1))).rejects.toThrow(/test-widgets schema is at version 2, newer than this Conveyor knows \(1\); upgrade Conveyor/);
    } finally {
      await db.close();
    }
  });

  it('refuse a step list with a gap, naming the step', async () => {
    const db = openDatabase(server.url);
    try {
      await expect(migrate(db, 'gappy', [steps[0]!, { ...steps[1]!, version: 3 }])).rejects.toThrow(/numbered 1, 2, 3… without gaps; step 2 says version 3/);
    } finally {
      await db.close();
    }
  });

  it('roll a failed step back whole, so the next start tries it again', async () => {
    const url = await server.createDatabase('migrations_rollback');
    const db = openDatabase(url);
    const broken: Migration[] = [steps[0]!, { version: 2, description: 'broken', sql: 'ALTER TABLE no_such_table ADD COLUMN x INTEGER' }];
    try {
      await expect(migrate(db, 'test-widgets', broken)).rejects.toThrow(/no_such_table/);
      const versions = await db.query("SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'conveyor_schema_migrations'");
      expect(versions.rows[0]).toEqual({ n: 0 });
      expect((await migrate(db, 'test-widgets', steps)).applied).toEqual([1, 2]);
    } finally {
      await db.close();
    }
  });
});

describe('connections', () => {
  it('share one pool per URL in a process and close it with the last handle', async () => {
    const first = openDatabase(server.url);
    const second = openDatabase(server.url);
    expect(second.pool).toBe(first.pool);
    await first.close();
    expect((await second.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await second.close();
    const third = openDatabase(server.url);
    expect(third.pool).not.toBe(first.pool);
    await third.close();
  });

  it('name the database without its password when it cannot be reached', async () => {
    const url = server.urlFor('conveyor').replace(`:${server.port}/`, ':1/');
    const db = openDatabase(url, { connectTimeoutMs: 1_000 });
    try {
      const failure = await db.query('SELECT 1').catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(DatabaseError);
      expect(String((failure as Error).message)).toContain(redactDatabaseUrl(url));
      expect(String((failure as Error).message)).not.toContain(new URL(url).password);
      expect(redactDatabaseUrl(url)).toContain('conveyor:***@127.0.0.1:1/');
    } finally {
      await db.close();
    }
  });

  it('reconnect after the server restarts, and migrate a store on its first use only', async () => {
    const url = await server.createDatabase('restarts');
    const store = migratedDatabase(url, 'test-widgets', steps);
    try {
      await (await store.ready()).query("INSERT INTO conveyor_test_widgets (id) VALUES ('before')");
      await server.stop();
      await expect(store.db.query('SELECT 1')).rejects.toBeInstanceOf(DatabaseError);
      await server.start();
      const rows = await (await store.ready()).query<{ id: string }>('SELECT id FROM conveyor_test_widgets');
      expect(rows.rows).toEqual([{ id: 'before' }]);
    } finally {
      await store.db.close();
    }
  });
});
