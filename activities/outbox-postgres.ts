/**
 * The action receipts in PostgreSQL (`CONVEYOR_DATABASE_URL`): the outbox every worker host shares, so an
 * action retried on another host, or replayed after a worker moved, is still recorded once. The same rows
 * and sealing as the SQLite outbox; `INSERT … ON CONFLICT DO NOTHING` on the idempotency key decides which
 * caller was first.
 */
import type { EncryptionKeyring } from '../platform/codec';
import { migratedDatabase, type Migration, type SharedDatabase } from '../platform/postgres';
import { receiptColumns, receiptRow, type ActionExecution, type ActionReceiptStore, type OutboxRow, type StoredReceiptColumns } from './outbox';

export const ACTION_RECEIPTS_COMPONENT = 'action-receipts';

export const actionReceiptMigrations: readonly Migration[] = [
  {
    version: 1,
    description: 'action receipts under their idempotency key',
    sql: `CREATE TABLE conveyor_action_receipts (
      idempotency_key TEXT PRIMARY KEY,
      job_id TEXT NOT NULL,
      step_id TEXT NOT NULL,
      action TEXT NOT NULL,
      approved_by TEXT NOT NULL,
      executed_at TIMESTAMPTZ NOT NULL,
      action_name TEXT,
      receipt TEXT
    );
    CREATE INDEX conveyor_action_receipts_by_job ON conveyor_action_receipts (job_id, executed_at)`,
  },
];

type StoredRow = StoredReceiptColumns & { executed_at: Date };

export class PostgresOutbox implements ActionReceiptStore {
  readonly kind = 'postgres';
  private readonly database: { db: SharedDatabase; ready: () => Promise<SharedDatabase> };

  constructor(
    url: string,
    private readonly keyring?: EncryptionKeyring,
  ) {
    this.database = migratedDatabase(url, ACTION_RECEIPTS_COMPONENT, actionReceiptMigrations);
  }

  /** The database without its password, for messages. */
  get label(): string {
    return this.database.db.label;
  }

  async find(idempotencyKey: string): Promise<OutboxRow | undefined> {
    return (await this.rowsWhere('idempotency_key = $1', [idempotencyKey]))[0];
  }

  async execute(row: Omit<OutboxRow, 'executedAt'>, now = new Date()): Promise<ActionExecution> {
    const db = await this.database.ready();
    const columns = receiptColumns(row, this.keyring);
    const inserted = await db.query(
      `INSERT INTO conveyor_action_receipts (idempotency_key, job_id, step_id, action, approved_by, executed_at, action_name, receipt)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (idempotency_key) DO NOTHING`,
      [columns.idempotency_key, columns.job_id, columns.step_id, columns.action, columns.approved_by, now, columns.action_name, columns.receipt],
    );
    // The row is there either way: this call's, or the first caller's (committed before the conflict was reported).
    const stored = await db.query<{ executed_at: Date }>('SELECT executed_at FROM conveyor_action_receipts WHERE idempotency_key = $1', [row.idempotencyKey]);
    return { firstExecution: inserted.rowCount === 1, executedAt: stored.rows[0]!.executed_at.toISOString() };
  }

  async rows(jobId?: string): Promise<OutboxRow[]> {
    return jobId ? this.rowsWhere('job_id = $1', [jobId]) : this.rowsWhere('TRUE', []);
  }

  private async rowsWhere(where: string, values: string[]): Promise<OutboxRow[]> {
    const db = await this.database.ready();
    const result = await db.query<StoredRow>(`SELECT * FROM conveyor_action_receipts WHERE ${where} ORDER BY executed_at, idempotency_key`, values);
    return result.rows.map((row) => receiptRow(row, row.executed_at.toISOString(), this.keyring));
  }

  async close(): Promise<void> {
    await this.database.db.close();
  }
}
