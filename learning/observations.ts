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

const agreementOf = (n: number, agreed: number | null): Agreement => ({ n, agreed: agreed ?? 0, agreement: n === 0 ? 0 : (agreed ?? 0) / n });

interface AgreementRow {
  recorded: number;
  settled: number;
  settledAgreed: number | null;
  checked: number | null;
  checkedAgreed: number | null;
}

export class ObservationStore {
  private readonly db: Database.Database;
  private readonly insert: Database.Statement;
  private readonly rolesOfStep: Database.Statement;
  private readonly settleStep: Database.Statement;
  private readonly countAgreement: Database.Statement;

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
    this.insert = this.db.prepare(
      `INSERT INTO observations (station, job_id, step_id, role, version, candidate_label, recorded_at)
       VALUES (@station, @jobId, @stepId, @role, @version, @candidateLabel, @recordedAt) ON CONFLICT DO NOTHING`,
    );
    this.rolesOfStep = this.db.prepare('SELECT role, version FROM observations WHERE station = ? AND job_id = ? AND step_id = ?');
    this.settleStep = this.db.prepare(
      `UPDATE observations SET accepted_label = @acceptedLabel, accepted_by = @acceptedBy, settled_at = @settledAt
       WHERE station = @station AND job_id = @jobId AND step_id = @stepId AND accepted_label IS NULL`,
    );
    // Checked: another answer than the candidate's own exists (a larger tier's or a reviewer's).
    this.countAgreement = this.db.prepare(
      `SELECT COUNT(*) AS recorded,
              COUNT(accepted_label) AS settled,
              SUM(candidate_label = accepted_label) AS settledAgreed,
              SUM(accepted_by IN ('escalation', 'reviewer')) AS checked,
              SUM(accepted_by IN ('escalation', 'reviewer') AND candidate_label = accepted_label) AS checkedAgreed
       FROM observations WHERE station = ? AND version = ? AND role = ? AND recorded_at >= ?`,
    );
  }

  /** Records a candidate's answer; recording the same step and role again keeps the first. */
  record(observation: RecordObservation, now = new Date()): boolean {
    return this.insert.run({ ...observation, recordedAt: now.toISOString() }).changes > 0;
  }

  /** Writes the step's accepted answer next to every candidate answer recorded for it; returns the roles and versions settled. */
  settle(settled: SettleObservation, now = new Date()): { role: ObservationRole; version: string }[] {
    const rows = this.rolesOfStep.all(settled.station, settled.jobId, settled.stepId) as { role: ObservationRole; version: string }[];
    this.settleStep.run({ ...settled, settledAt: now.toISOString() });
    return rows;
  }

  /** The candidate's agreement with the accepted answers since a time: over all settled steps and over the checked ones. */
  agreement(station: string, version: string, role: ObservationRole, since: string): LiveAgreement {
    const row = this.countAgreement.get(station, version, role, since) as AgreementRow;
    return { station, version, role, since, recorded: row.recorded, all: agreementOf(row.settled, row.settledAgreed), checked: agreementOf(row.checked ?? 0, row.checkedAgreed) };
  }

  close(): void {
    this.db.close();
  }
}
