/**
 * The action sink: an outbox table in SQLite. Each action is written under its idempotency key
 * (job id + step id), so a retried activity or a replayed workflow records it exactly once. With payload
 * encryption on (a keyring), the action (the customer's message, order, amount: PII restored from the
 * model's redaction placeholders) is sealed at rest with the same keys; ids and reviewers stay readable.
 */
import type Database from 'better-sqlite3';
import type { ProposedAction } from '../factories/support/schemas';
import { openText, sealText, type EncryptionKeyring } from '../platform/codec';
import { openSqlite } from '../platform/sqlite';

export interface OutboxRow {
  idempotencyKey: string;
  jobId: string;
  stepId: string;
  action: ProposedAction;
  approvedBy: string[];
  executedAt: string;
}

export class Outbox {
  private readonly db: Database.Database;

  constructor(
    readonly file: string,
    private readonly keyring?: EncryptionKeyring,
  ) {
    this.db = openSqlite(
      file,
      `CREATE TABLE IF NOT EXISTS outbox (
      idempotency_key TEXT PRIMARY KEY,
      job_id TEXT NOT NULL,
      step_id TEXT NOT NULL,
      action TEXT NOT NULL,
      approved_by TEXT NOT NULL,
      executed_at TEXT NOT NULL
    )`,
    );
  }

  /** Records the action once; returns whether this call was the first execution. */
  execute(row: Omit<OutboxRow, 'executedAt'>, now = new Date()): { firstExecution: boolean; executedAt: string } {
    const inserted = this.db
      .prepare('INSERT OR IGNORE INTO outbox (idempotency_key, job_id, step_id, action, approved_by, executed_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(row.idempotencyKey, row.jobId, row.stepId, this.keyring ? sealText(this.keyring, JSON.stringify(row.action)) : JSON.stringify(row.action), JSON.stringify(row.approvedBy), now.toISOString());
    const stored = this.db.prepare('SELECT executed_at FROM outbox WHERE idempotency_key = ?').get(row.idempotencyKey) as { executed_at: string };
    return { firstExecution: inserted.changes === 1, executedAt: stored.executed_at };
  }

  rows(jobId?: string): OutboxRow[] {
    const raw = (jobId
      ? this.db.prepare('SELECT * FROM outbox WHERE job_id = ? ORDER BY executed_at').all(jobId)
      : this.db.prepare('SELECT * FROM outbox ORDER BY executed_at').all()) as {
      idempotency_key: string;
      job_id: string;
      step_id: string;
      action: string;
      approved_by: string;
      executed_at: string;
    }[];
    return raw.map((row) => ({
      idempotencyKey: row.idempotency_key,
      jobId: row.job_id,
      stepId: row.step_id,
      action: JSON.parse(openText(this.keyring, row.action)) as ProposedAction,
      approvedBy: JSON.parse(row.approved_by) as string[],
      executedAt: row.executed_at,
    }));
  }

  close(): void {
    this.db.close();
  }
}
