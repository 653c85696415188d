/**
 * Live observations of candidate models: what a shadow candidate answered next to the serving model,
 * or what a canary answered for the share of items it served, and — once the job settled the step —
 * the accepted answer and who produced it (the serving model unchecked, a larger tier, a reviewer).
 * Keyed by station, job, step and role, so a retried activity records once. SQLite by default
 * (`$CONVEYOR_DATA_DIR/observations.sqlite`), or the PostgreSQL database every host shares
 * (`CONVEYOR_DATABASE_URL`), where one worker records an answer and whichever worker settles the step
 * counts it; no input text is kept, only labels.
 */
import type Database from 'better-sqlite3';
import path from 'node:path';
import type { AcceptedBy, Agreement, LiveAgreement } from './types';
import { migratedDatabase, type Migration } from '../platform/postgres';
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

/** Where observations are kept, as the live learning loop sees it: the embedded SQLite file or the shared PostgreSQL. */
export interface ObservationRepository {
  readonly kind: 'sqlite' | 'postgres';
  /** Records a candidate's answer; recording the same step and role again keeps the first (false). */
  record(observation: RecordObservation, now?: Date): Promise<boolean>;
  /** Writes the step's accepted answer next to every candidate answer recorded for it (once); returns the roles and versions recorded for the step. */
  settle(settled: SettleObservation, now?: Date): Promise<{ role: ObservationRole; version: string }[]>;
  /** The candidate's agreement with the accepted answers since a time: over all settled steps and over the checked ones. */
  agreement(station: string, version: string, role: ObservationRole, since: string): Promise<LiveAgreement>;
  close(): Promise<void>;
}

interface AgreementRow {
  recorded: number;
  settled: number;
  settledAgreed: number | null;
  checked: number | null;
  checkedAgreed: number | null;
}

export class ObservationStore implements ObservationRepository {
  readonly kind = 'sqlite';
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

  // async, so a failed write is a rejected promise in both stores rather than a throw here.
  async record(observation: RecordObservation, now = new Date()): Promise<boolean> {
    return this.insert.run({ ...observation, recordedAt: now.toISOString() }).changes > 0;
  }

  async settle(settled: SettleObservation, now = new Date()): Promise<{ role: ObservationRole; version: string }[]> {
    const rows = this.rolesOfStep.all(settled.station, settled.jobId, settled.stepId) as { role: ObservationRole; version: string }[];
    this.settleStep.run({ ...settled, settledAt: now.toISOString() });
    return rows;
  }

  async agreement(station: string, version: string, role: ObservationRole, since: string): Promise<LiveAgreement> {
    return liveAgreementOf(station, version, role, since, this.countAgreement.get(station, version, role, since) as AgreementRow);
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

function liveAgreementOf(station: string, version: string, role: ObservationRole, since: string, row: AgreementRow): LiveAgreement {
  return { station, version, role, since, recorded: row.recorded, all: agreementOf(row.settled, row.settledAgreed), checked: agreementOf(row.checked ?? 0, row.checkedAgreed) };
}

const postgresMigrations: readonly Migration[] = [
  {
    version: 1,
    description: 'observations of shadow, canary and stable answers, keyed by station, job, step and role',
    sql: `CREATE TABLE conveyor_observations (
      station TEXT NOT NULL,
      job_id TEXT NOT NULL,
      step_id TEXT NOT NULL,
      role TEXT NOT NULL,
      version TEXT NOT NULL,
      candidate_label TEXT NOT NULL,
      accepted_label TEXT,
      accepted_by TEXT,
      recorded_at TIMESTAMPTZ NOT NULL,
      settled_at TIMESTAMPTZ,
      PRIMARY KEY (station, job_id, step_id, role)
    );
    CREATE INDEX conveyor_observations_by_version ON conveyor_observations (station, version, role, recorded_at)`,
  },
];

/** Observations in the PostgreSQL database the hosts share (component `observations`, table `conveyor_observations`). */
export function createPostgresObservationRepository(options: { url: string }): ObservationRepository {
  const { db, ready } = migratedDatabase(options.url, 'observations', postgresMigrations);
  return {
    kind: 'postgres',
    async record(observation, now = new Date()) {
      await ready();
      const inserted = await db.query(
        `INSERT INTO conveyor_observations (station, job_id, step_id, role, version, candidate_label, recorded_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
        [observation.station, observation.jobId, observation.stepId, observation.role, observation.version, observation.candidateLabel, now.toISOString()],
      );
      return (inserted.rowCount ?? 0) > 0;
    },
    async settle(settled, now = new Date()) {
      await ready();
      // One statement: the step's rows as they were, and the accepted answer written where none is yet.
      const rows = await db.query<{ role: ObservationRole; version: string }>(
        `WITH settled AS (
           UPDATE conveyor_observations SET accepted_label = $4, accepted_by = $5, settled_at = $6
           WHERE station = $1 AND job_id = $2 AND step_id = $3 AND accepted_label IS NULL
         )
         SELECT role, version FROM conveyor_observations WHERE station = $1 AND job_id = $2 AND step_id = $3`,
        [settled.station, settled.jobId, settled.stepId, settled.acceptedLabel, settled.acceptedBy, now.toISOString()],
      );
      return rows.rows;
    },
    async agreement(station, version, role, since) {
      await ready();
      const result = await db.query<AgreementRow>(
        `SELECT COUNT(*)::int AS recorded,
                COUNT(accepted_label)::int AS settled,
                COUNT(*) FILTER (WHERE candidate_label = accepted_label)::int AS "settledAgreed",
                COUNT(*) FILTER (WHERE accepted_by IN ('escalation', 'reviewer'))::int AS checked,
                COUNT(*) FILTER (WHERE accepted_by IN ('escalation', 'reviewer') AND candidate_label = accepted_label)::int AS "checkedAgreed"
         FROM conveyor_observations WHERE station = $1 AND version = $2 AND role = $3 AND recorded_at >= $4`,
        [station, version, role, since],
      );
      return liveAgreementOf(station, version, role, since, result.rows[0]!);
    },
    close: () => db.close(),
  };
}

/** The shared PostgreSQL when a database URL is set (settings.databaseUrl), else the SQLite file under the data dir. */
export function openObservationRepository(options: { dataDir: string; databaseUrl?: string }): ObservationRepository {
  if (options.databaseUrl) return createPostgresObservationRepository({ url: options.databaseUrl });
  return new ObservationStore(defaultObservationStoreFile(options.dataDir));
}
