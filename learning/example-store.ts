/**
 * The store of labelled examples the factory collects from its own work: when a step's small-model
 * answer was not good enough and a larger tier or a reviewer produced the accepted answer, that text
 * and label become a training example for the next distill run. Texts are PII-redacted before they
 * are written; rows are keyed by job and step, so a retried activity stores an example once. SQLite,
 * by default `$CONVEYOR_DATA_DIR/examples.sqlite`.
 */
import type Database from 'better-sqlite3';
import path from 'node:path';
import { redactPii } from '../providers/redaction';
import { collectExampleRequestSchema, sourceWeights, type CollectExampleRequest, type CollectedExample, type ExampleSource } from './types';
import { openSqlite } from '../platform/sqlite';

export function defaultExampleStoreFile(dataDir: string): string {
  return path.join(dataDir, 'examples.sqlite');
}

/** The id of a step's example: one per job step, whichever way it was answered. */
export function exampleIdOf(request: Pick<CollectExampleRequest, 'station' | 'jobId' | 'stepId'>): string {
  return `${request.station}:${request.jobId}:${request.stepId}`;
}

/** The example a request becomes in either store: validated, its text redacted, weighted by its source. */
export function exampleOf(raw: CollectExampleRequest, now: Date): CollectedExample {
  const request = collectExampleRequestSchema.parse(raw);
  return {
    id: exampleIdOf(request),
    station: request.station,
    jobType: request.jobType,
    jobId: request.jobId,
    stepId: request.stepId,
    text: redactPii(request.text).text,
    label: request.label,
    source: request.source,
    weight: sourceWeights[request.source],
    modelVersion: request.modelVersion ?? null,
    answeredBy: request.answeredBy ?? null,
    createdAt: now.toISOString(),
  };
}

/** A stored example's columns, as both stores name them (PostgreSQL returns the time as a Date). */
export interface ExampleRow {
  id: string;
  station: string;
  job_type: string;
  job_id: string;
  step_id: string;
  text: string;
  label: string;
  source: ExampleSource;
  weight: number;
  model_version: string | null;
  answered_by: string | null;
  created_at: string | Date;
}

export class ExampleStore {
  private readonly db: Database.Database;
  private readonly upsert: Database.Statement;
  private readonly byId: Database.Statement;

  constructor(readonly file: string) {
    this.db = openSqlite(
      file,
      `CREATE TABLE IF NOT EXISTS examples (
      id TEXT PRIMARY KEY,
      station TEXT NOT NULL,
      job_type TEXT NOT NULL,
      job_id TEXT NOT NULL,
      step_id TEXT NOT NULL,
      text TEXT NOT NULL,
      label TEXT NOT NULL,
      source TEXT NOT NULL,
      weight REAL NOT NULL,
      model_version TEXT,
      created_at TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS examples_by_station ON examples (station, created_at)`,
    );
    // Stores written before examples named who answered them gain the column.
    const columns = this.db.prepare('PRAGMA table_info(examples)').all() as { name: string }[];
    if (!columns.some((column) => column.name === 'answered_by')) this.db.exec('ALTER TABLE examples ADD COLUMN answered_by TEXT');
    this.upsert = this.db.prepare(
      `INSERT INTO examples (id, station, job_type, job_id, step_id, text, label, source, weight, model_version, answered_by, created_at)
       VALUES (@id, @station, @jobType, @jobId, @stepId, @text, @label, @source, @weight, @modelVersion, @answeredBy, @createdAt)
       ON CONFLICT (id) DO UPDATE SET label = excluded.label, source = excluded.source, weight = excluded.weight, answered_by = excluded.answered_by
       WHERE excluded.weight > examples.weight`,
    );
    this.byId = this.db.prepare('SELECT * FROM examples WHERE id = ?');
  }

  /**
   * Stores one example (text redacted). A second collection of the same step keeps the first row,
   * unless it is a reviewer's edit replacing an escalation's answer: the person's label wins.
   */
  collect(raw: CollectExampleRequest, now = new Date()): { example: CollectedExample; stored: boolean } {
    const example = exampleOf(raw, now);
    const changes = this.upsert.run(example).changes;
    const row = this.byId.get(example.id) as ExampleRow;
    return { example: toExample(row), stored: changes > 0 };
  }

  /** Stores many examples in one transaction (the simulation's rounds). */
  collectMany(requests: readonly CollectExampleRequest[], now = new Date()): number {
    let stored = 0;
    this.db.transaction(() => {
      for (const request of requests) if (this.collect(request, now).stored) stored++;
    })();
    return stored;
  }

  /** Every example of a station, oldest first. */
  examples(station: string): CollectedExample[] {
    const rows = this.db.prepare('SELECT * FROM examples WHERE station = ? ORDER BY created_at, id').all(station) as ExampleRow[];
    return rows.map(toExample);
  }

  count(station?: string): number {
    const row = (station
      ? this.db.prepare('SELECT COUNT(*) AS n FROM examples WHERE station = ?').get(station)
      : this.db.prepare('SELECT COUNT(*) AS n FROM examples').get()) as { n: number };
    return row.n;
  }

  close(): void {
    this.db.close();
  }
}

/** The example a stored row holds: the one decoding of a row, for the SQLite and the PostgreSQL store. */
export function toExample(row: ExampleRow): CollectedExample {
  return {
    id: row.id,
    station: row.station,
    jobType: row.job_type,
    jobId: row.job_id,
    stepId: row.step_id,
    text: row.text,
    label: row.label,
    source: row.source,
    weight: row.weight,
    modelVersion: row.model_version,
    answeredBy: row.answered_by,
    createdAt: row.created_at instanceof Date ? row.created_at.toISOString() : row.created_at,
  };
}
