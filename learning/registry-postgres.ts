/**
 * The learning registry shared by every host through PostgreSQL (`CONVEYOR_DATABASE_URL`): one row per
 * station holding its state and a revision number. A change re-reads the row, applies its rule and
 * writes with compare-and-set (`… WHERE revision = $expected`); when another host changed the row first,
 * the rule is applied again to the state that won — still valid, it lands on top; no longer valid, it is
 * refused with ModelRegistryError. Every attempt (applied, unchanged or refused) goes to a history table.
 * Model files are kept by the sha256 of their bytes; a host serving a version it lacks fetches the file
 * into its own data dir and checks the hash. The serving path reads a per-process mirror that a
 * LISTEN connection refreshes as soon as any host commits a change (NOTIFY in the same transaction);
 * while the database cannot be reached, it serves the state it last saw rather than failing the call.
 */
import fs from 'node:fs';
import type { Socket } from 'node:net';
import type pg from 'pg';
import { DatabaseError, migratedDatabase, type Migration } from '../platform/postgres';
import { emptyRegistryState, ModelRegistryError, sha256Of, versionFileOf, writeAtomically, type RegistryAttempt, type RegistryChange, type RegistryStore } from './registry-store';
import type { RegistryState, RegistryVersion } from './types';

export const registryMigrations: readonly Migration[] = [
  {
    version: 1,
    description: 'registry state per station with a revision, the history of every attempt, model files by sha256',
    sql: `
      CREATE TABLE conveyor_registry_stations (
        station TEXT PRIMARY KEY,
        revision BIGINT NOT NULL,
        state JSONB NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
      );
      CREATE TABLE conveyor_registry_history (
        id BIGSERIAL PRIMARY KEY,
        station TEXT NOT NULL,
        revision BIGINT NOT NULL,
        event TEXT NOT NULL,
        version TEXT,
        outcome TEXT NOT NULL CHECK (outcome IN ('applied', 'unchanged', 'refused')),
        by TEXT NOT NULL,
        reason TEXT NOT NULL,
        at TIMESTAMPTZ NOT NULL
      );
      CREATE INDEX conveyor_registry_history_station ON conveyor_registry_history (station, id);
      CREATE TABLE conveyor_model_files (
        sha256 TEXT PRIMARY KEY,
        content BYTEA NOT NULL,
        size INTEGER NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now()
      );
    `,
  },
];

const CHANNEL = 'conveyor_registry';
/** Conflicting changes one attempt re-applies before giving up (hosts racing on one station). */
const MAX_CONFLICTS = 50;
/** After the database could not be reached, the mirror serves what it last saw for this long before trying again. */
const RETRY_AFTER_MS = 1_000;

interface Row {
  state: RegistryState;
  revision: number;
}

export interface PostgresRegistryStore extends RegistryStore {
  /** Whether the mirror is kept current by notifications (false: every mirror read goes to the database). */
  readonly listening: boolean;
}

export function postgresRegistryStore(options: { url: string; dataDir: string; log?: (message: string) => void }): PostgresRegistryStore {
  const log = options.log ?? ((message: string) => console.warn(message));
  const { db, ready } = migratedDatabase(options.url, 'learning-registry', registryMigrations);
  const { dataDir } = options;
  const mirrors = new Map<string, Row>();
  /** The highest revision a notification announced per station: a read older than it is not mirrored. */
  const announced = new Map<string, number>();
  const verified = new Set<string>();
  /** The state last read per station, served while the database cannot be reached. */
  const lastKnown = new Map<string, Row>();
  let retryAt = 0;
  let listener: pg.PoolClient | undefined;
  let listening = false;
  let connecting: Promise<void> | undefined;
  let closed = false;

  // Version files are this host's paths; the row keeps none of them.
  const localised = (station: string, state: RegistryState): RegistryState => ({
    ...state,
    shadow: state.shadow ?? null,
    canary: state.canary ?? null,
    versions: state.versions.map((entry) => ({ ...entry, file: versionFileOf(dataDir, station, entry.version) })),
  });
  const stored = (state: RegistryState): RegistryState => ({ ...state, versions: state.versions.map(({ file: _file, ...entry }) => ({ ...entry, file: '' })) });

  async function fetch(station: string): Promise<Row> {
    await ready();
    const result = await db.query<{ state: RegistryState; revision: string }>('SELECT state, revision FROM conveyor_registry_stations WHERE station = $1', [station]);
    const row = result.rows[0];
    return row ? { state: localised(station, row.state), revision: Number(row.revision) } : { state: emptyRegistryState(station), revision: 0 };
  }

  function remember(station: string, row: Row): void {
    if (row.revision >= (lastKnown.get(station)?.revision ?? 0)) lastKnown.set(station, row);
    if (!listening || row.revision < (announced.get(station) ?? 0)) return;
    const mirrored = mirrors.get(station);
    if (!mirrored || mirrored.revision <= row.revision) mirrors.set(station, row);
  }

  /** Notes that the database cannot be reached (named once per outage); the mirror serves what it last saw for a while. */
  function unreachable(error: unknown): false {
    if (retryAt === 0) log(`conveyor: the learning registry at ${db.label} cannot be reached (${error instanceof Error ? error.message : String(error)}); serving the versions last seen until it answers`);
    retryAt = Date.now() + RETRY_AFTER_MS;
    return false;
  }

  function dropListener(client: pg.PoolClient, error?: Error): void {
    if (listener !== client) return;
    listener = undefined;
    listening = false;
    mirrors.clear();
    client.release(error ?? true);
  }

  async function listen(): Promise<void> {
    await ready();
    const client = await db.pool.connect();
    client.on('notification', (message) => {
      if (message.channel !== CHANNEL || !message.payload) return;
      const { station, revision } = JSON.parse(message.payload) as { station: string; revision: number };
      announced.set(station, Math.max(announced.get(station) ?? 0, revision));
      const mirrored = mirrors.get(station);
      if (mirrored && mirrored.revision < revision) mirrors.delete(station);
    });
    // A dropped connection (a database restart) stops the mirror; the next read connects again.
    client.on('error', (error) => dropListener(client, error));
    client.on('end', () => dropListener(client));
    try {
      await client.query(`LISTEN ${CHANNEL}`);
    } catch (error) {
      client.release(true);
      throw error;
    }
    if (closed) {
      client.release(true);
      return;
    }
    // Listening only keeps the mirror fresh: it must not keep a process alive whose work is done.
    ((client as unknown as pg.Client).connection.stream as Partial<Socket>).unref?.();
    listener = client;
    listening = true;
  }

  async function attempt(station: string, change: RegistryChange, revision: number, outcome: RegistryAttempt['outcome'], reason = change.reason, client?: pg.PoolClient): Promise<void> {
    const sql = 'INSERT INTO conveyor_registry_history (station, revision, event, version, outcome, by, reason, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)';
    const values = [station, revision, change.event, change.version, outcome, change.by, reason, change.at.toISOString()];
    await (client ? client.query(sql, values) : db.query(sql, values));
  }

  return {
    kind: 'postgres',
    dataDir,
    get listening() {
      return listening;
    },
    where: (station) => `the registry of ${station} in PostgreSQL at ${db.label}`,
    async read(station) {
      const row = await fetch(station);
      remember(station, row);
      return row.state;
    },
    async mirror(station) {
      const known = lastKnown.get(station)?.state;
      if (known && Date.now() < retryAt) return known;
      if (!listening && !closed) {
        // Without a listener the mirror cannot be trusted: read the row (below) until it is back.
        connecting ??= listen().finally(() => (connecting = undefined));
        const connected = await connecting.then(
          () => true,
          (error: unknown) => (known ? unreachable(error) : false),
        );
        if (!connected && known) return known;
      }
      const mirrored = listening ? mirrors.get(station) : undefined;
      if (mirrored) return mirrored.state;
      try {
        const row = await fetch(station);
        if (retryAt !== 0) log(`conveyor: the learning registry at ${db.label} answers again`);
        retryAt = 0;
        remember(station, row);
        return row.state;
      } catch (error) {
        if (!(error instanceof DatabaseError) || !known) throw error;
        unreachable(error);
        return known;
      }
    },
    async change(station, change) {
      for (let conflicts = 0; conflicts <= MAX_CONFLICTS; conflicts += 1) {
        const { state, revision } = await fetch(station);
        let next: RegistryState | undefined;
        try {
          next = change.apply(structuredClone(state));
        } catch (error) {
          if (error instanceof ModelRegistryError) await attempt(station, change, revision, 'refused', `${change.reason} — refused: ${error.message}`);
          throw error;
        }
        if (!next) {
          await attempt(station, change, revision, 'unchanged');
          return state;
        }
        const written = await db.transaction(async (client) => {
          const content = JSON.stringify(stored(next));
          const result =
            revision === 0
              ? await client.query('INSERT INTO conveyor_registry_stations (station, revision, state) VALUES ($1, 1, $2) ON CONFLICT (station) DO NOTHING', [station, content])
              : await client.query('UPDATE conveyor_registry_stations SET state = $2, revision = revision + 1, updated_at = now() WHERE station = $1 AND revision = $3', [station, content, revision]);
          if (result.rowCount !== 1) return false;
          await attempt(station, change, revision + 1, 'applied', change.reason, client);
          await client.query('SELECT pg_notify($1, $2)', [CHANNEL, JSON.stringify({ station, revision: revision + 1 })]);
          return true;
        });
        if (written) {
          const row = { state: localised(station, next), revision: revision + 1 };
          remember(station, row);
          return row.state;
        }
      }
      throw new DatabaseError(`${db.label}: the registry of ${station} changed under ${change.event} ${MAX_CONFLICTS} times in a row; try again`);
    },
    async saveModel(station, version, sourceFile) {
      const content = fs.readFileSync(sourceFile);
      const sha256 = sha256Of(content);
      await ready();
      await db.query('INSERT INTO conveyor_model_files (sha256, content, size) VALUES ($1, $2, $3) ON CONFLICT (sha256) DO NOTHING', [sha256, content, content.length]);
      const file = versionFileOf(dataDir, station, version);
      writeAtomically(file, content);
      verified.add(file);
      return { file, sha256 };
    },
    async materialise(station, entry: RegistryVersion) {
      const file = versionFileOf(dataDir, station, entry.version);
      if (verified.has(file)) return file;
      const sha256 = entry.sha256;
      if (!sha256) throw new ModelRegistryError(`station ${station}: version ${entry.version} records no sha256 of its model file; register it again`);
      if (fs.existsSync(file) && sha256Of(fs.readFileSync(file)) === sha256) {
        verified.add(file);
        return file;
      }
      await ready();
      const result = await db.query<{ content: Buffer }>('SELECT content FROM conveyor_model_files WHERE sha256 = $1', [sha256]);
      const content = result.rows[0]?.content;
      if (!content) throw new ModelRegistryError(`station ${station}: the model file of ${entry.version} (sha256 ${sha256}) is not in ${db.label}; register it again`);
      const actual = sha256Of(content);
      if (actual !== sha256) throw new ModelRegistryError(`station ${station}: the model file of ${entry.version} in ${db.label} has sha256 ${actual}, not the registered ${sha256}; register it again`);
      writeAtomically(file, content);
      verified.add(file);
      return file;
    },
    async history(station) {
      await ready();
      const result = await db.query<{ revision: string; event: RegistryAttempt['event']; version: string | null; outcome: RegistryAttempt['outcome']; by: string; reason: string; at: Date }>(
        'SELECT revision, event, version, outcome, by, reason, at FROM conveyor_registry_history WHERE station = $1 ORDER BY id',
        [station],
      );
      return result.rows.map((row) => ({ station, revision: Number(row.revision), event: row.event, version: row.version, outcome: row.outcome, by: row.by, reason: row.reason, at: row.at.toISOString() }));
    },
    async close() {
      if (closed) return;
      closed = true;
      await connecting?.catch(() => {});
      if (listener) {
        const client = listener;
        listener = undefined;
        listening = false;
        await client.query(`UNLISTEN ${CHANNEL}`).catch(() => {});
        client.release();
      }
      await db.close();
    },
  };
}
