/**
 * The observation stores: one contract for the embedded SQLite file and the shared PostgreSQL (a step's
 * answer per role recorded once, settled once, agreement counted over all settled and over the checked
 * steps since a time), then what PostgreSQL is for — one host records while a model answers, another
 * settles the step and reads the agreement — and how the store is chosen.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LiveModels } from '../learning/live';
import { createPostgresObservationRepository, ObservationStore, openObservationRepository, type ObservationRepository } from '../learning/observations';
import { startTestPostgres, type TestPostgres } from './support/postgres';

let postgres: TestPostgres;
let databases = 0;

beforeAll(async () => {
  postgres = await startTestPostgres();
});
afterAll(async () => {
  await postgres?.dispose();
});

const tempDir = (prefix: string) => fs.mkdtempSync(path.join(os.tmpdir(), `conveyor-${prefix}-`));

const stores: { name: string; open: () => Promise<ObservationRepository> }[] = [
  { name: 'sqlite', open: async () => new ObservationStore(path.join(tempDir('observations'), 'observations.sqlite')) },
  { name: 'postgres', open: async () => createPostgresObservationRepository({ url: await postgres.createDatabase(`observations_${++databases}`) }) },
];

const station = 'classify-intent';
const at = (minute: number) => new Date(Date.UTC(2026, 0, 1, 12, minute));

describe.each(stores)('observation store contract: $name', ({ open }) => {
  let store: ObservationRepository;
  beforeAll(async () => {
    store = await open();
  });
  afterAll(async () => {
    await store.close();
  });

  it('records a step and role once, settles it once, and returns the roles recorded for the step', async () => {
    const step = { station, jobId: 'job-1', stepId: 'intent' };
    expect(await store.record({ ...step, version: 'v2', role: 'canary', candidateLabel: 'refund' }, at(1))).toBe(true);
    expect(await store.record({ ...step, version: 'v2', role: 'canary', candidateLabel: 'other' }, at(2))).toBe(false);
    expect(await store.record({ ...step, version: 'v3', role: 'shadow', candidateLabel: 'cancel' }, at(1))).toBe(true);

    const roles = await store.settle({ ...step, acceptedLabel: 'refund', acceptedBy: 'escalation' }, at(3));
    expect(roles.map((row) => `${row.role}:${row.version}`).sort()).toEqual(['canary:v2', 'shadow:v3']);
    // A second settlement (a retried activity) changes nothing.
    await store.settle({ ...step, acceptedLabel: 'cancel', acceptedBy: 'reviewer' }, at(4));
    expect(await store.agreement(station, 'v2', 'canary', at(0).toISOString())).toEqual({
      station,
      version: 'v2',
      role: 'canary',
      since: at(0).toISOString(),
      recorded: 1,
      all: { n: 1, agreed: 1, agreement: 1 },
      checked: { n: 1, agreed: 1, agreement: 1 },
    });
    expect((await store.agreement(station, 'v3', 'shadow', at(0).toISOString())).checked).toEqual({ n: 1, agreed: 0, agreement: 0 });
    expect(await store.settle({ station, jobId: 'job-unknown', stepId: 'intent', acceptedLabel: 'x', acceptedBy: 'serving' })).toEqual([]);
  });

  it('counts agreement over settled and checked steps of one version and role since a time', async () => {
    const record = (jobId: string, candidateLabel: string, minute: number) => store.record({ station, jobId, stepId: 'intent', version: 'v5', role: 'stable', candidateLabel }, at(minute));
    const settle = (jobId: string, acceptedLabel: string, acceptedBy: 'serving' | 'escalation' | 'reviewer') => store.settle({ station, jobId, stepId: 'intent', acceptedLabel, acceptedBy });
    await record('early', 'a', 5);
    await settle('early', 'b', 'reviewer');
    await record('served', 'a', 10);
    await settle('served', 'a', 'serving');
    await record('escalated', 'a', 11);
    await settle('escalated', 'a', 'escalation');
    await record('reviewed', 'a', 12);
    await settle('reviewed', 'b', 'reviewer');
    await record('open', 'a', 13);
    await store.record({ station, jobId: 'other-role', stepId: 'intent', version: 'v5', role: 'canary', candidateLabel: 'a' }, at(14));
    await store.record({ station: 'check-relevance', jobId: 'other-station', stepId: 'intent', version: 'v5', role: 'stable', candidateLabel: 'a' }, at(14));

    const agreement = await store.agreement(station, 'v5', 'stable', at(10).toISOString());
    expect(agreement).toMatchObject({ recorded: 4, all: { n: 3, agreed: 2 }, checked: { n: 2, agreed: 1, agreement: 0.5 } });
    expect((await store.agreement(station, 'v5', 'stable', at(0).toISOString())).checked).toEqual({ n: 3, agreed: 1, agreement: 1 / 3 });
    expect(await store.agreement(station, 'v-none', 'stable', at(0).toISOString())).toMatchObject({ recorded: 0, all: { n: 0, agreed: 0, agreement: 0 }, checked: { n: 0, agreed: 0, agreement: 0 } });
  });
});

describe('observations shared through PostgreSQL', () => {
  it('one host records while its model answers, another settles the step and counts it', async () => {
    const databaseUrl = await postgres.createDatabase('observations_hosts');
    const answering = new LiveModels(tempDir('host-a'), { databaseUrl });
    const settling = new LiveModels(tempDir('host-b'), { databaseUrl });
    try {
      await answering.record('shadow', { station, version: 'v7', jobId: 'job-9', stepId: 'intent', candidateLabel: 'refund' });
      // No canary in host B's registry: settling writes the answer and decides nothing.
      expect(await settling.settle({ station, jobId: 'job-9', stepId: 'intent', acceptedLabel: 'refund', acceptedBy: 'reviewer' })).toBeUndefined();
      expect(await answering.agreement(station, 'v7', 'shadow', at(0).toISOString())).toMatchObject({ recorded: 1, checked: { n: 1, agreed: 1, agreement: 1 } });
    } finally {
      await answering.close();
      await settling.close();
    }
  });

  it('is SQLite under the data dir by default and PostgreSQL when a database URL is given', async () => {
    const embedded = openObservationRepository({ dataDir: tempDir('default-observations') });
    const shared = openObservationRepository({ dataDir: tempDir('unused'), databaseUrl: postgres.url });
    expect([embedded.kind, shared.kind]).toEqual(['sqlite', 'postgres']);
    expect(embedded).toBeInstanceOf(ObservationStore);
    await embedded.close();
    await shared.close();
  });

  it('names the database without its password when it cannot reach it', async () => {
    const unreachable = createPostgresObservationRepository({ url: 'postgres://conveyor:s3cret@127.0.0.1:1/conveyor' });
    try {
      const failure = await failureOf(unreachable.agreement(station, 'v1', 'shadow', at(0).toISOString()));
      expect(failure.name).toBe('DatabaseError');
      expect(failure.message).toContain('127.0.0.1:1');
      expect(failure.message).not.toContain('s3cret');
    } finally {
      await unreachable.close();
    }
  });
});

async function failureOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the store to fail');
}
