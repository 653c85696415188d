/**
 * The action receipts: one contract for the embedded SQLite outbox and the PostgreSQL store (a real
 * PostgreSQL 15) — an action is recorded once however many attempts race for its idempotency key, on one
 * handle or on two hosts' handles; rows per job, oldest first; the action and its receipt sealed at rest
 * with the payload keys; a store opened again (another host, a restart) keeps what was recorded and
 * migrates nothing twice — then how a worker's settings choose the store.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Outbox, type ActionReceiptStore, type OutboxRow } from '../activities/outbox';
import { ACTION_RECEIPTS_COMPONENT, PostgresOutbox } from '../activities/outbox-postgres';
import { createKeyring, EncryptionKeyNotFoundError, generateEncryptionKey, type EncryptionKeyring } from '../platform/codec';
import { openDatabase } from '../platform/postgres';
import { loadSettings } from '../platform/settings';
import { defaultOutbox } from '../workers/worker';
import { startTestPostgres, type TestPostgres } from './support/postgres';
import { tempDir } from './support/temporal';

let server: TestPostgres;
let databases = 0;

beforeAll(async () => {
  server = await startTestPostgres();
});

afterAll(async () => {
  await server?.dispose();
});

/** One place an implementation keeps receipts: handles on it, as one or several hosts open them, and its raw bytes. */
interface ReceiptPlace {
  open(keyring?: EncryptionKeyring): ActionReceiptStore;
  /** A handle of another host (PostgreSQL: its own pool); the same file on one host (SQLite). */
  openElsewhere(keyring?: EncryptionKeyring): ActionReceiptStore;
  /** Everything stored, as text: what someone reading the disk or the table sees. */
  raw(): Promise<string>;
}

const implementations: { name: string; place: () => Promise<ReceiptPlace> }[] = [
  {
    name: 'sqlite',
    place: async () => {
      const file = path.join(tempDir('receipts'), 'outbox.sqlite');
      return {
        open: (keyring) => new Outbox(file, keyring),
        openElsewhere: (keyring) => new Outbox(file, keyring),
        raw: async () =>
          ['', '-wal']
            .filter((suffix) => fs.existsSync(file + suffix))
            .map((suffix) => fs.readFileSync(file + suffix).toString('latin1'))
            .join(''),
      };
    },
  },
  {
    name: 'postgres',
    place: async () => {
      const url = await server.createDatabase(`receipts_${++databases}`);
      return {
        open: (keyring) => new PostgresOutbox(url, keyring),
        openElsewhere: (keyring) => new PostgresOutbox(`${url}?application_name=second-host`, keyring),
        raw: async () => {
          const db = openDatabase(url);
          try {
            return JSON.stringify((await db.query('SELECT * FROM conveyor_action_receipts')).rows);
          } finally {
            await db.close();
          }
        },
      };
    },
  },
];

const refund = (jobId: string, stepId = 'act') => ({
  idempotencyKey: `${jobId}:${stepId}`,
  jobId,
  stepId,
  action: { action: 'refund', orderId: 'A12345', amountUsd: 20 },
  approvedBy: ['alice'],
});

async function using<T>(stores: ActionReceiptStore[], work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } finally {
    for (const store of stores) await store.close();
  }
}

describe.each(implementations)('action receipt store contract: $name', ({ name, place }) => {
  it('records an action once when many attempts on two hosts race for its key, and tells each whether it was first', async () => {
    const at = await place();
    const here = at.open();
    const there = at.openElsewhere();
    await using([here, there], async () => {
      expect(here.kind).toBe(name);
      const attempts = Array.from({ length: 24 }, (_, index) => ({ ...refund('job-race'), approvedBy: [`reviewer-${index}`] }));
      const receipts = await Promise.all(attempts.map((row, index) => (index % 2 === 0 ? here : there).execute(row, new Date(Date.UTC(2026, 0, 1, 0, 0, index)))));
      const first = receipts.flatMap((receipt, index) => (receipt.firstExecution ? [index] : []));
      expect(first).toHaveLength(1);
      // Every attempt reports the first one's time, and the row is the first one's.
      expect(new Set(receipts.map((receipt) => receipt.executedAt))).toEqual(new Set([receipts[first[0]!]!.executedAt]));
      const rows = await there.rows('job-race');
      expect(rows).toEqual([{ ...attempts[first[0]!]!, executedAt: receipts[first[0]!]!.executedAt }]);
      expect(await here.execute(refund('job-race'))).toEqual({ firstExecution: false, executedAt: receipts[0]!.executedAt });
    });
  });

  it('lists rows per job oldest first, finds a row by its key, and keeps the action name and receipt', async () => {
    const store = (await place()).open();
    await using([store], async () => {
      const filed = { ...refund('job-1', 'file'), actionName: 'file-ticket', receipt: { ticketId: 'T-1', queue: 'water' } };
      await store.execute(filed, new Date('2026-01-01T10:00:03.000Z'));
      await store.execute(refund('job-2'), new Date('2026-01-01T10:00:02.000Z'));
      await store.execute(refund('job-1'), new Date('2026-01-01T10:00:01.000Z'));
      const expected: OutboxRow[] = [
        { ...refund('job-1'), executedAt: '2026-01-01T10:00:01.000Z' },
        { ...filed, executedAt: '2026-01-01T10:00:03.000Z' },
      ];
      expect(await store.rows('job-1')).toEqual(expected);
      expect((await store.rows()).map((row) => row.idempotencyKey)).toEqual(['job-1:act', 'job-2:act', 'job-1:file']);
      expect(await store.rows('job-none')).toEqual([]);
      expect(await store.find('job-1:file')).toEqual(expected[1]);
      expect(await store.find('job-none:act')).toBeUndefined();
    });
  });

  it('seals the action and its receipt at rest with the keyring: no personal data in what is stored, read back whole with the key', async () => {
    const keyring = createKeyring('key-a', { 'key-a': generateEncryptionKey() });
    const email = 'jane.doe.4471@example.org';
    const card = '4111 1111 1111 1111';
    const at = await place();
    const sealed = at.open(keyring);
    const row = { ...refund('job-pii'), action: { action: 'refund', message: `Refunded to card ${card}; receipt sent to ${email}.` }, actionName: 'refund', receipt: { sentTo: email } };
    await using([sealed], async () => {
      await sealed.execute(row);
      expect(await sealed.rows('job-pii')).toEqual([expect.objectContaining({ action: row.action, receipt: row.receipt, approvedBy: ['alice'] })]);
    });
    const stored = await at.raw();
    expect(stored).toContain('job-pii:act');
    expect(stored).toContain('alice');
    for (const secret of [email, card]) expect(stored).not.toContain(secret);
    const withoutKey = at.openElsewhere();
    await using([withoutKey], async () => {
      await expect(withoutKey.rows('job-pii')).rejects.toThrow(EncryptionKeyNotFoundError);
    });
  });

  it('opened again, by another host or after a restart, keeps what was recorded and records nothing twice', async () => {
    const at = await place();
    const first = at.open();
    await using([first], async () => {
      expect((await first.execute(refund('job-again'))).firstExecution).toBe(true);
    });
    const [restarted, elsewhere] = [at.open(), at.openElsewhere()];
    await using([restarted, elsewhere], async () => {
      const [again, there] = await Promise.all([restarted.execute(refund('job-again')), elsewhere.execute(refund('job-again'))]);
      expect([again.firstExecution, there.firstExecution]).toEqual([false, false]);
      expect(await elsewhere.rows('job-again')).toHaveLength(1);
      expect((await restarted.execute(refund('job-other'))).firstExecution).toBe(true);
    });
  });
});

describe('the PostgreSQL receipts schema', () => {
  it('is migrated once, on first use, by hosts that start together', async () => {
    const url = await server.createDatabase(`receipts_${++databases}`);
    const hosts = [new PostgresOutbox(url), new PostgresOutbox(`${url}?application_name=b`), new PostgresOutbox(`${url}?application_name=c`)];
    await using(hosts, async () => {
      await Promise.all(hosts.map((host, index) => host.execute(refund(`job-${index}`))));
      const db = openDatabase(url);
      try {
        const versions = await db.query('SELECT version FROM conveyor_schema_migrations WHERE component = $1', [ACTION_RECEIPTS_COMPONENT]);
        expect(versions.rows).toEqual([{ version: 1 }]);
      } finally {
        await db.close();
      }
      expect(await hosts[0]!.rows()).toHaveLength(3);
    });
  });
});

describe('the worker’s receipt store, from its settings', () => {
  it('is PostgreSQL with CONVEYOR_DATABASE_URL, else the SQLite outbox at CONVEYOR_OUTBOX_FILE or in the data dir', async () => {
    const dataDir = tempDir('receipts-settings');
    const url = await server.createDatabase(`receipts_${++databases}`);
    const shared = defaultOutbox(loadSettings({ CONVEYOR_DATA_DIR: dataDir, CONVEYOR_DATABASE_URL: url }));
    const local = defaultOutbox(loadSettings({ CONVEYOR_DATA_DIR: dataDir }));
    const named = defaultOutbox(loadSettings({ CONVEYOR_DATA_DIR: dataDir, CONVEYOR_OUTBOX_FILE: path.join(dataDir, 'elsewhere.sqlite') }));
    await using([shared, local, named], async () => {
      expect([shared.kind, local.kind, named.kind]).toEqual(['postgres', 'sqlite', 'sqlite']);
      expect((local as Outbox).file).toBe(path.join(dataDir, 'outbox.sqlite'));
      expect((named as Outbox).file).toBe(path.join(dataDir, 'elsewhere.sqlite'));
      await shared.execute(refund('job-shared'));
      expect(await local.rows()).toEqual([]);
    });
  });
});
