/**
 * The action sink: action receipts written under their idempotency key (job id + step id), so a retried
 * activity or a replayed workflow records each action exactly once. Two stores keep them: the embedded
 * SQLite outbox (`Outbox`, a file on the worker's host) and PostgreSQL (`PostgresOutbox` in
 * outbox-postgres.ts) for workers on several hosts; the worker opens one from its settings
 * (`defaultOutbox`). With payload encryption on (a keyring), the action (the customer's message, order,
 * amount: PII restored from the model's redaction placeholders) and its receipt are sealed at rest with the
 * same keys in both; ids and reviewers stay readable.
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

export interface ActionExecution {
  /** false: the key was recorded before (a retry, a replay, another worker); nothing was written. */
  firstExecution: boolean;
  /** When the key was first recorded. */
  executedAt: string;
}

/** Where a worker records executed actions: the contract both stores keep (test/action-receipts.test.ts). */
export interface ActionReceiptStore {
  readonly kind: 'sqlite' | 'postgres';
  /** The row an action was recorded under, if it was. */
  find(idempotencyKey: string): Promise<OutboxRow | undefined>;
  /** Records the action once under its idempotency key, however many callers race; says whether this call was the first. */
  execute(row: Omit<OutboxRow, 'executedAt'>, now?: Date): Promise<ActionExecution>;
  /** Every row (of one job), oldest first. */
  rows(jobId?: string): Promise<OutboxRow[]>;
  close(): Promise<void>;
}

/** A row's columns as both stores keep them: JSON texts, the action and the receipt sealed when there is a keyring. */
export interface StoredReceiptColumns {
  idempotency_key: string;
  job_id: string;
  step_id: string;
  action: string;
  approved_by: string;
  action_name: string | null;
  receipt: string | null;
}

export function receiptColumns(row: Omit<OutboxRow, 'executedAt'>, keyring: EncryptionKeyring | undefined): StoredReceiptColumns {
  const seal = (value: unknown) => (keyring ? sealText(keyring, JSON.stringify(value)) : JSON.stringify(value));
  return {
    idempotency_key: row.idempotencyKey,
    job_id: row.jobId,
    step_id: row.stepId,
    action: seal(row.action),
    approved_by: JSON.stringify(row.approvedBy),
    action_name: row.actionName ?? null,
    receipt: row.receipt === undefined ? null : seal(row.receipt),
  };
}

export function receiptRow(columns: StoredReceiptColumns, executedAt: string, keyring: EncryptionKeyring | undefined): OutboxRow {
  return {
    idempotencyKey: columns.idempotency_key,
    jobId: columns.job_id,
    stepId: columns.step_id,
    action: JSON.parse(openText(keyring, columns.action)) as Record<string, unknown>,
    approvedBy: JSON.parse(columns.approved_by) as string[],
    executedAt,
    ...(columns.action_name ? { actionName: columns.action_name } : {}),
    ...(columns.receipt ? { receipt: JSON.parse(openText(keyring, columns.receipt)) as Record<string, unknown> } : {}),
  };
}

/** The embedded store: an outbox table in a SQLite file on the worker's host. */
export class Outbox implements ActionReceiptStore {
  readonly kind = 'sqlite';
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

  async find(idempotencyKey: string): Promise<OutboxRow | undefined> {
    return this.rowsWhere('idempotency_key = ?', idempotencyKey)[0];
  }

  async execute(row: Omit<OutboxRow, 'executedAt'>, now = new Date()): Promise<ActionExecution> {
    const columns = receiptColumns(row, this.keyring);
    const inserted = this.db
      .prepare('INSERT OR IGNORE INTO outbox (idempotency_key, job_id, step_id, action, approved_by, executed_at, action_name, receipt) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(columns.idempotency_key, columns.job_id, columns.step_id, columns.action, columns.approved_by, now.toISOString(), columns.action_name, columns.receipt);
    const stored = this.db.prepare('SELECT executed_at FROM outbox WHERE idempotency_key = ?').get(row.idempotencyKey) as { executed_at: string };
    return { firstExecution: inserted.changes === 1, executedAt: stored.executed_at };
  }

  async rows(jobId?: string): Promise<OutboxRow[]> {
    return jobId ? this.rowsWhere('job_id = ?', jobId) : this.rowsWhere('1 = 1');
  }

  private rowsWhere(where: string, ...values: string[]): OutboxRow[] {
    const raw = this.db.prepare(`SELECT * FROM outbox WHERE ${where} ORDER BY executed_at`).all(...values) as (StoredReceiptColumns & { executed_at: string })[];
    return raw.map((row) => receiptRow(row, row.executed_at, this.keyring));
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
