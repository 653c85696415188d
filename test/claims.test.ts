/**
 * Claim checks: one contract for the claims directory and the PostgreSQL store (a real PostgreSQL 15) —
 * content stored under its sha256, once, read back only when its hash still matches, a typed error naming
 * the claim and where it was looked for when it is missing or changed; the reference a batch request
 * carries; claims recorded as files still read by every store. Then a big batch on the real Temporal server
 * whose client and worker share no data dir, only the database.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import {
  batchReference,
  ClaimCheckError,
  CLAIMS_COMPONENT,
  claimOfBatch,
  fileClaimStore,
  INLINE_PAYLOAD_LIMIT_BYTES,
  openClaimStore,
  postgresClaimStore,
  sha256Of,
  storeClaim,
  type Claim,
  type ClaimStore,
} from '../platform/claims';
import { createKeyring, generateEncryptionKey } from '../platform/codec';
import { openDatabase } from '../platform/postgres';
import { loadSettings } from '../platform/settings';
import { bundleConveyorWorkflows } from '../workers/worker';
import { startTestPostgres, type TestPostgres } from './support/postgres';
import { startWorker, tempDir, testClient, testSettings, uniqueId } from './support/temporal';

let server: TestPostgres;
let databases = 0;

beforeAll(async () => {
  server = await startTestPostgres();
});

afterAll(async () => {
  await server?.dispose();
});

/** One place an implementation keeps claims: handles on it (this host's, another host's), and how to break what it holds. */
interface ClaimPlace {
  open(): ClaimStore;
  openElsewhere(): ClaimStore;
  /** Where a missing claim's error says it looked. */
  where: string;
  missing(sha256: string): Claim;
  tamper(claim: Claim): Promise<void>;
}

const implementations: { name: string; place: () => Promise<ClaimPlace> }[] = [
  {
    name: 'file',
    place: async () => {
      const dir = path.join(tempDir('claims'), 'claims');
      return {
        open: () => fileClaimStore(dir),
        openElsewhere: () => fileClaimStore(dir),
        where: dir,
        missing: (sha256) => ({ file: path.join(dir, `${sha256}.jsonl`), sha256 }),
        tamper: async (claim) => fs.appendFileSync((claim as { file: string }).file, '\n'),
      };
    },
  },
  {
    name: 'postgres',
    place: async () => {
      const url = await server.createDatabase(`claims_${++databases}`);
      const db = openDatabase(url);
      await db.close();
      return {
        open: () => postgresClaimStore(url),
        openElsewhere: () => postgresClaimStore(`${url}?application_name=second-host`),
        where: `conveyor_claims in ${db.label}`,
        missing: (sha256) => ({ store: 'postgres', sha256 }),
        tamper: async (claim) => {
          const tampering = openDatabase(url);
          try {
            await tampering.query("UPDATE conveyor_claims SET content = content || '\\x0a'::bytea WHERE sha256 = $1", [claim.sha256]);
          } finally {
            await tampering.close();
          }
        },
      };
    },
  },
];

const jsonl = (count: number, tag: string) => Array.from({ length: count }, (_, index) => JSON.stringify({ id: `${tag}-${index}`, type: 'triage', input: { text: `ticket ${index}` } })).join('\n');

async function using<T>(stores: ClaimStore[], work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } finally {
    for (const store of stores) await store.close();
  }
}

describe.each(implementations)('claim store contract: $name', ({ name, place }) => {
  it('stores content under its sha256 once, and another host reads it back by the reference', async () => {
    const at = await place();
    const [here, there] = [at.open(), at.openElsewhere()];
    await using([here, there], async () => {
      expect(here.kind).toBe(name);
      const content = jsonl(3, 'a');
      const claims = await Promise.all([here.put(content), there.put(content), here.put(content)]);
      expect(claims[0].sha256).toBe(sha256Of(content));
      expect(claims[1]).toEqual(claims[0]);
      expect(claims[2]).toEqual(claims[0]);
      const other = await here.put(jsonl(3, 'b'));
      expect(other.sha256).not.toBe(claims[0].sha256);
      expect(await there.get(claims[0])).toBe(content);
      // The batch request carries the claim as jobsFile + jobsSha256, and the worker reads it back from them.
      const reference = batchReference(claims[0]);
      expect(reference.jobsSha256).toBe(claims[0].sha256);
      expect(reference.jobsFile).toContain(claims[0].sha256);
      expect(await there.get(claimOfBatch(reference.jobsFile, reference.jobsSha256)!)).toBe(content);
    });
  });

  it('refuses a missing claim and one whose content changed, naming the claim and where it looked', async () => {
    const at = await place();
    const store = at.open();
    await using([store], async () => {
      const absent = sha256Of('never stored');
      const missing = store.get(at.missing(absent));
      await expect(missing).rejects.toBeInstanceOf(ClaimCheckError);
      await expect(missing).rejects.toThrow(`claim ${absent} is missing from ${at.where}`);
      const claim = await store.put(jsonl(2, 'tampered'));
      await at.tamper(claim);
      const changed = store.get(claim);
      await expect(changed).rejects.toBeInstanceOf(ClaimCheckError);
      await expect(changed).rejects.toThrow(new RegExp(`claim ${claim.sha256} at .* has sha256 [0-9a-f]{64}: the content changed after it was stored`));
    });
  });

  it('reads a claim recorded as a file (histories from before PostgreSQL), and names a worker without the database a claim needs', async () => {
    const store = (await place()).open();
    await using([store], async () => {
      const content = jsonl(2, 'recorded');
      const recorded = storeClaim(path.join(tempDir('recorded-claims'), 'claims'), content);
      expect(await store.get(recorded)).toBe(content);
      expect(await store.get(claimOfBatch(recorded.file, recorded.sha256)!)).toBe(content);
    });
    if (name === 'file') {
      const elsewhere = (await place()).open();
      await expect(elsewhere.get({ store: 'postgres', sha256: sha256Of('x') })).rejects.toThrow(/is in PostgreSQL .*set CONVEYOR_DATABASE_URL/);
    }
  });
});

describe('claims sealed at rest with the payload keys', () => {
  const keyA = generateEncryptionKey();
  const keyring = createKeyring('key-a', { 'key-a': keyA });
  const rotated = createKeyring('key-b', { 'key-a': keyA, 'key-b': generateEncryptionKey() });
  const card = '4111 1111 1111 1111';
  const content = JSON.stringify({ id: 'sealed-1', type: 'triage', input: { text: `refund to card ${card}, jane.doe@example.org` } });

  const stored: { name: string; open: (keys?: typeof keyring) => Promise<{ store: (keys?: typeof keyring) => ClaimStore; raw: (claim: Claim) => Promise<string> }> }[] = [
    {
      name: 'file',
      open: async () => {
        const dir = path.join(tempDir('sealed-claims'), 'claims');
        return { store: (keys) => fileClaimStore(dir, keys), raw: async (claim) => fs.readFileSync((claim as { file: string }).file, 'latin1') };
      },
    },
    {
      name: 'postgres',
      open: async () => {
        const url = await server.createDatabase(`claims_${++databases}`);
        return {
          store: (keys) => postgresClaimStore(url, keys),
          raw: async (claim) => {
            const db = openDatabase(url);
            try {
              return (await db.query<{ content: Buffer }>('SELECT content FROM conveyor_claims WHERE sha256 = $1', [claim.sha256])).rows[0]!.content.toString('latin1');
            } finally {
              await db.close();
            }
          },
        };
      },
    },
  ];

  it.each(stored)('$name: no personal data in clear, read back whole, old claims still read, a host without the key told which', async ({ open }) => {
    const place = await open();
    const [sealing, afterRotation, keyless] = [place.store(keyring), place.store(rotated), place.store()];
    await using([sealing, afterRotation, keyless], async () => {
      const claim = await sealing.put(content);
      expect(claim.sha256).toBe(sha256Of(content));
      const raw = await place.raw(claim);
      expect(raw.startsWith('sealed:v1:key-a:')).toBe(true);
      for (const secret of [card, 'jane.doe@example.org', 'refund']) expect(raw).not.toContain(secret);
      expect(await sealing.get(claim)).toBe(content);
      // After the current key rotates, claims sealed with the old one still open.
      expect(await afterRotation.get(claim)).toBe(content);
      await expect(keyless.get(claim)).rejects.toThrow(ClaimCheckError);
      await expect(keyless.get(claim)).rejects.toThrow(/is sealed with encryption key "key-a", which this process does not have/);
      // A claim stored before encryption was on is read as it is.
      const plain = await keyless.put(jsonl(2, 'before-encryption'));
      expect(await sealing.get(plain)).toBe(jsonl(2, 'before-encryption'));
    });
  });

  it('is what openClaimStore gives for settings with an encryption key', async () => {
    const dataDir = tempDir('sealed-settings');
    const store = openClaimStore(loadSettings({ CONVEYOR_DATA_DIR: dataDir, CONVEYOR_ENCRYPTION_KEY: keyA, CONVEYOR_ENCRYPTION_KEY_ID: 'key-a' }));
    await using([store], async () => {
      const claim = (await store.put(content)) as { file: string; sha256: string };
      expect(fs.readFileSync(claim.file, 'utf8').startsWith('sealed:v1:key-a:')).toBe(true);
      expect(await store.get(claim)).toBe(content);
    });
  });
});

describe('the claim a batch request carries (jobsFile, jobsSha256)', () => {
  it('is a file with a hash, a PostgreSQL reference that names its own hash, or a plain JSONL file read as it is', () => {
    const sha256 = sha256Of('jobs');
    expect(claimOfBatch('/data/claims/x.jsonl', sha256)).toEqual({ file: '/data/claims/x.jsonl', sha256 });
    expect(claimOfBatch(`postgres:conveyor_claims/${sha256}`)).toEqual({ store: 'postgres', sha256 });
    expect(batchReference({ store: 'postgres', sha256 })).toEqual({ jobsFile: `postgres:conveyor_claims/${sha256}`, jobsSha256: sha256 });
    expect(claimOfBatch('jobs.jsonl')).toBeUndefined();
    expect(() => claimOfBatch(`postgres:conveyor_claims/${sha256}`, sha256Of('other'))).toThrow(ClaimCheckError);
  });
});

describe('the PostgreSQL claims schema', () => {
  it('is migrated once, on first use, by hosts that start together, and never holds a password in its messages', async () => {
    const url = await server.createDatabase(`claims_${++databases}`);
    const hosts = [postgresClaimStore(url), postgresClaimStore(`${url}?application_name=b`), postgresClaimStore(`${url}?application_name=c`)];
    await using(hosts, async () => {
      await Promise.all(hosts.map((host, index) => host.put(jsonl(1, `host-${index}`))));
      const db = openDatabase(url);
      try {
        expect((await db.query('SELECT version FROM conveyor_schema_migrations WHERE component = $1', [CLAIMS_COMPONENT])).rows).toEqual([{ version: 1 }]);
        expect((await db.query('SELECT count(*)::int AS claims FROM conveyor_claims')).rows).toEqual([{ claims: 3 }]);
      } finally {
        await db.close();
      }
      const password = decodeURIComponent(new URL(url).password);
      expect(password).not.toBe('');
      const failure = await hosts[0]!.get({ store: 'postgres', sha256: sha256Of('absent') }).then(
        () => undefined,
        (error: unknown) => error as ClaimCheckError,
      );
      expect(failure?.message).toMatch(/conveyor:\*\*\*@127\.0\.0\.1/);
      expect(failure?.message).not.toContain(password);
    });
  });

  it('is the store with CONVEYOR_DATABASE_URL; without it, the claims directory of the data dir', async () => {
    const dataDir = tempDir('claims-settings');
    const url = await server.createDatabase(`claims_${++databases}`);
    const [shared, local] = [openClaimStore(loadSettings({ CONVEYOR_DATA_DIR: dataDir, CONVEYOR_DATABASE_URL: url })), openClaimStore(loadSettings({ CONVEYOR_DATA_DIR: dataDir }))];
    await using([shared, local], async () => {
      expect([shared.kind, local.kind]).toEqual(['postgres', 'file']);
      expect(local.label).toBe(path.join(dataDir, 'claims'));
      expect(await local.put('x')).toEqual({ file: path.join(dataDir, 'claims', `${sha256Of('x')}.jsonl`), sha256: sha256Of('x') });
    });
  });
});

describe('a claim-checked batch across hosts that share only the database', () => {
  let bundle: WorkflowBundleWithSourceMap;
  beforeAll(async () => {
    bundle = await bundleConveyorWorkflows();
  });

  it('completes: the client stores the jobs in PostgreSQL, the worker with another data dir reads them from there', async () => {
    const url = await server.createDatabase(`claims_${++databases}`);
    const base = testSettings(uniqueId('claims-hosts'));
    const workerSettings = { ...base, databaseUrl: url };
    const clientSettings = { ...base, dataDir: tempDir('client-host'), databaseUrl: url };
    expect(clientSettings.dataDir).not.toBe(workerSettings.dataDir);
    const worker = await startWorker({ settings: workerSettings, bundle });
    const client = await testClient(clientSettings);
    try {
      expect(worker.outbox.kind).toBe('postgres');
      const batchId = uniqueId('claims-hosts');
      const padding = 'I have been waiting for a long time and would like an update on my parcel. '.repeat(240);
      const jobs = Array.from({ length: 16 }, (_, index) => ({ id: `${batchId}-${index}`, type: 'triage', policy: { budgetUsd: 1, confidenceThresholds: { 'classify-intent': 0 } }, input: { text: `Where is my order #A${index}? ${padding}` } }));
      expect(Buffer.byteLength(jobs.map((job) => JSON.stringify(job)).join('\n'))).toBeGreaterThan(INLINE_PAYLOAD_LIMIT_BYTES);
      await client.startBatch({ batchId, jobs, concurrency: 8 });
      const [started] = await client.temporal.workflow.getHandle(batchId).fetchHistory().then((history) => history.events ?? []);
      const request = JSON.parse(Buffer.from(started!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!.data!).toString()) as { jobs?: unknown[]; jobsFile?: string; jobsSha256?: string };
      expect(request.jobs).toBeUndefined();
      expect(request.jobsFile).toBe(`postgres:conveyor_claims/${request.jobsSha256}`);
      expect(await client.getBatchResult(batchId)).toMatchObject({ batchId, total: 16, completed: 16, failed: 0 });
      // Nothing went through either host's files.
      for (const dir of [clientSettings.dataDir, workerSettings.dataDir]) expect(fs.existsSync(path.join(dir, 'claims'))).toBe(false);
    } finally {
      await client.close();
      await worker.stop();
    }
  });
});
