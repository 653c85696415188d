/**
 * Live observations of candidate models: what a shadow candidate answered next to the serving model,
 * or what a canary answered for the share of items it served, and — once the job settled the step —
 * the accepted answer and who produced it (the serving model unchecked, a larger tier, a reviewer).
 * Keyed by station, job, step and role, so a retried activity records once. SQLite, by default
 * `$CONVEYOR_DATA_DIR/observations.sqlite`; no input text is kept, only labels.
 */
import type Database from 'better-sqlite3';
import path from 'node:path';
import type { AcceptedBy, Agreement, LiveAgreement } from './types';
import { openSqlite } from '../platform/sqlite';

/** `stable`: the version a canary replaces, on the items the canary did not get — its agreement is the canary's baseline. */
export type ObservationRole = 'shadow' | 'canary' | 'stable';

export function defaultObservationStoreFile(dataDir: string): string {
  return path.join(dataDir, 'observations.sqlite');
}

export interface RecordObservation {
  station: string;
  version: string;
  role: ObservationRole;
  jobId: string;
  stepId: string;
  candidateLabel: string;
}

export interface SettleObservation {
  station: string;
  jobId: string;
  stepId: string;
  acceptedLabel: string;
  acceptedBy: AcceptedBy;
}

const agreementOf = (row: { n: number; agreed: number | null }): Agreement => ({ n: row.n, agreed: row.agreed ?? 0, agreement: row.n === 0 ? 0 : (row.agreed ?? 0) / row.n });

export class ObservationStore {
  private readonly db: Database.Database;

  constructor(readonly file: string) {
    this.db = openSqlite(
      file,
      `CREATE TABLE IF NOT EXISTS observations (
      station TEXT NOT NULL,
      job_id TEXT NOT NULL,
      step_id TEXT NOT NULL,
      role TEXT NOT NULL,
      version TEXT NOT NULL,
      candidate_label TEXT NOT NULL,
      accepted_label TEXT,
      accepted_by TEXT,
      recorded_at TEXT NOT NULL,
      settled_at TEXT,
      PRIMARY KEY (station, job_id, step_id, role)
    );
    CREATE INDEX IF NOT EXISTS observations_by_version ON observations (station, version, role, recorded_at)`,
    );
  }

  /** Records a candidate's answer; recording the same step and role again keeps the first. */
  record(observation: RecordObservation, now = new Date()): boolean {
    const result = this.db
      .prepare(
        `INSERT INTO observations (station, job_id, step_id, role, version, candidate_label, recorded_at)
         VALUES (@station, @jobId, @stepId, @role, @version, @candidateLabel, @recordedAt) ON CONFLICT DO NOTHING`,
      )
      .run({ ...observation, recordedAt: now.toISOString() });
    return result.changes > 0;
  }

  /** Writes the step's accepted answer next to every candidate answer recorded for it; returns the roles and versions settled. */
  settle(settled: SettleObservation, now = new Date()): { role: ObservationRole; version: string }[] {
    const rows = this.db
      .prepare('SELECT role, version FROM observations WHERE station = ? AND job_id = ? AND step_id = ?')
      .all(settled.station, settled.jobId, settled.stepId) as { role: ObservationRole; version: string }[];
    this.db
      .prepare(
        `UPDATE observations SET accepted_label = @acceptedLabel, accepted_by = @acceptedBy, settled_at = @settledAt
         WHERE station = @station AND job_id = @jobId AND step_id = @stepId AND accepted_label IS NULL`,
      )
      .run({ ...settled, settledAt: now.toISOString() });
    return rows;
  }

  /** The candidate's agreement with the accepted answers since a time: over all settled steps and over the checked ones. */
  agreement(station: string, version: string, role: ObservationRole, since: string): LiveAgreement {
    const where = 'station = ? AND version = ? AND role = ? AND recorded_at >= ?';
    const args = [station, version, role, since];
    const recorded = (this.db.prepare(`SELECT COUNT(*) AS n FROM observations WHERE ${where}`).get(...args) as { n: number }).n;
    const count = (extra: string) =>
      agreementOf(
        this.db
          .prepare(`SELECT COUNT(*) AS n, SUM(candidate_label = accepted_label) AS agreed FROM observations WHERE ${where} AND accepted_label IS NOT NULL ${extra}`)
          .get(...args) as { n: number; agreed: number | null },
      );
    return { station, version, role, since, recorded, all: count(''), checked: count("AND accepted_by IN ('escalation', 'reviewer')") };
  }

  close(): void {
    this.db.close();
  }
}
