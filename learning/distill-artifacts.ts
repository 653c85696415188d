/**
 * What one distill activity writes for the next — the curated training and held-out files, the trained
 * candidate, the report — kept where the next activity can read it, whichever host runs it. By default
 * the run folder under the data dir (one host: the file is already where the next activity looks); with
 * a database URL, PostgreSQL keeps each file's bytes under the run id and the file's name, and an
 * activity on another host fetches it into its own run folder and checks the hash.
 */
import fs from 'node:fs';
import path from 'node:path';
import { migratedDatabase, type Migration } from '../platform/postgres';
import { sha256Of, writeAtomically } from './registry-store';

/** A file the run's earlier activity should have kept is not there; the run cannot go on without it. */
export class DistillArtifactMissingError extends Error {
  override readonly name = 'DistillArtifactMissingError';
}

export interface DistillArtifactStore {
  readonly kind: 'file' | 'postgres';
  /** Keeps the file an activity wrote for the run's next activities (named by its file name). */
  put(runId: string, file: string): Promise<void>;
  /**
   * A path on this host with the content of the run's file `written` (a path where some host wrote it),
   * fetched into `runDir` when this host does not have that content.
   */
  get(runId: string, written: string, runDir: string): Promise<string>;
  close(): Promise<void>;
}

/** The embedded default: the files stay where the activity wrote them, on the one host. */
export const fileDistillArtifacts: DistillArtifactStore = {
  kind: 'file',
  async put() {},
  async get(_runId, written) {
    return written;
  },
  async close() {},
};

export const distillArtifactMigrations: readonly Migration[] = [
  {
    version: 1,
    description: "distill runs' files by run id and name, with their sha256",
    sql: `
      CREATE TABLE conveyor_distill_artifacts (
        run_id TEXT NOT NULL,
        name TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        content BYTEA NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        PRIMARY KEY (run_id, name)
      );
    `,
  },
];

export function postgresDistillArtifacts(url: string): DistillArtifactStore {
  const { db, ready } = migratedDatabase(url, 'distill-artifacts', distillArtifactMigrations);
  return {
    kind: 'postgres',
    async put(runId, file) {
      const content = fs.readFileSync(file);
      await ready();
      // A retried activity or a rewritten report replaces the file's earlier content.
      await db.query(
        `INSERT INTO conveyor_distill_artifacts (run_id, name, sha256, content) VALUES ($1, $2, $3, $4)
         ON CONFLICT (run_id, name) DO UPDATE SET sha256 = EXCLUDED.sha256, content = EXCLUDED.content, created_at = now()`,
        [runId, path.basename(file), sha256Of(content), content],
      );
    },
    async get(runId, written, runDir) {
      const name = path.basename(written);
      await ready();
      const result = await db.query<{ sha256: string }>('SELECT sha256 FROM conveyor_distill_artifacts WHERE run_id = $1 AND name = $2', [runId, name]);
      const kept = result.rows[0];
      if (!kept) throw new DistillArtifactMissingError(`distill run ${runId}: no ${name} in ${db.label}; the activity that writes it has to run again`);
      const local = path.join(runDir, name);
      if (fs.existsSync(local) && sha256Of(fs.readFileSync(local)) === kept.sha256) return local;
      const fetched = await db.query<{ sha256: string; content: Buffer }>('SELECT sha256, content FROM conveyor_distill_artifacts WHERE run_id = $1 AND name = $2', [runId, name]);
      const row = fetched.rows[0]!;
      if (sha256Of(row.content) !== row.sha256) throw new DistillArtifactMissingError(`distill run ${runId}: ${name} in ${db.label} does not match its sha256; the activity that writes it has to run again`);
      writeAtomically(local, row.content);
      return local;
    },
    close: () => db.close(),
  };
}

/** PostgreSQL when the settings name a database (settings.databaseUrl), else the run folders on this host. */
export function openDistillArtifacts(databaseUrl: string | undefined): DistillArtifactStore {
  return databaseUrl ? postgresDistillArtifacts(databaseUrl) : fileDistillArtifacts;
}
