/**
 * The action sink: an outbox table in SQLite. Each action is written under its idempotency key
 * (job id + step id), so a retried activity or a replayed workflow records it exactly once. With payload
 * encryption on (a keyring), the action (the customer's message, order, amount: PII restored from the
 * model's redaction placeholders) is sealed at rest with the same keys; ids and reviewers stay readable.
 */
import type Database from 'better-sqlite3';
import { openText, sealText, type EncryptionKeyring } from '../platform/codec';
import { openSqlite } from '../platform/sqlite';

export interface OutboxRow {
  idempotencyKey: string;
  jobId: string;
  stepId: string;
  /** The proposal that was executed. */
  action: Record<string, unknown>;
  approvedBy: string[];
  executedAt: string;
  /** The factory's action name (factory jobs), and what its `execute` returned. */
  actionName?: string;
  receipt?: Record<string, unknown>;
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
    // Files from before factory actions lack the action name and receipt columns.
    const columns = new Set((this.db.prepare('PRAGMA table_info(outbox)').all() as { name: string }[]).map((column) => column.name));
    if (!columns.has('action_name')) this.db.exec('ALTER TABLE outbox ADD COLUMN action_name TEXT');
    if (!columns.has('receipt')) this.db.exec('ALTER TABLE outbox ADD COLUMN receipt TEXT');
  }

  /** The row an action was recorded under, if it was. */
  find(idempotencyKey: string): OutboxRow | undefined {
    return this.rowsWhere('idempotency_key = ?', idempotencyKey)[0];
  }

  /** Records the action once; returns whether this call was the first execution. */
  execute(row: Omit<OutboxRow, 'executedAt'>, now = new Date()): { firstExecution: boolean; executedAt: string } {
    const seal = (value: unknown) => (this.keyring ? sealText(this.keyring, JSON.stringify(value)) : JSON.stringify(value));
    const inserted = this.db
      .prepare('INSERT OR IGNORE INTO outbox (idempotency_key, job_id, step_id, action, approved_by, executed_at, action_name, receipt) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(row.idempotencyKey, row.jobId, row.stepId, seal(row.action), JSON.stringify(row.approvedBy), now.toISOString(), row.actionName ?? null, row.receipt === undefined ? null : seal(row.receipt));
    const stored = this.db.prepare('SELECT executed_at FROM outbox WHERE idempotency_key = ?').get(row.idempotencyKey) as { executed_at: string };
    return { firstExecution: inserted.changes === 1, executedAt: stored.executed_at };
  }

  rows(jobId?: string): OutboxRow[] {
    return jobId ? this.rowsWhere('job_id = ?', jobId) : this.rowsWhere('1 = 1');
  }

  private rowsWhere(where: string, ...values: string[]): OutboxRow[] {
    const raw = this.db.prepare(`SELECT * FROM outbox WHERE ${where} ORDER BY executed_at`).all(...values) as {
      idempotency_key: string;
      job_id: string;
      step_id: string;
      action: string;
      approved_by: string;
      executed_at: string;
      action_name: string | null;
      receipt: string | null;
    }[];
    return raw.map((row) => ({
      idempotencyKey: row.idempotency_key,
      jobId: row.job_id,
      stepId: row.step_id,
      action: JSON.parse(openText(this.keyring, row.action)) as Record<string, unknown>,
      approvedBy: JSON.parse(row.approved_by) as string[],
      executedAt: row.executed_at,
      ...(row.action_name ? { actionName: row.action_name } : {}),
      ...(row.receipt ? { receipt: JSON.parse(openText(this.keyring, row.receipt)) as Record<string, unknown> } : {}),
    }));
  }

  close(): void {
    this.db.close();
  }
}
