/**
 * The chaos suite on the cluster, at its small size, as a specification: on platform/cluster.ts's
 * cluster (the Temporal Server on PostgreSQL), with two worker processes that each have a data dir of
 * their own and share only CONVEYOR_DATABASE_URL, a worker SIGKILLed mid-batch, the Temporal Server
 * process SIGKILLed and started again on the same PostgreSQL, PostgreSQL itself shut down and started
 * again mid-batch, and PostgreSQL SIGKILLed (with fsync and synchronous commit on) lose no job, run no action twice and pay no model step twice — counted as the
 * embedded suite counts, with the action receipts read from PostgreSQL. The scenarios are
 * chaos/scenarios.ts's cluster suite, the one `npm run chaos -- --cluster` runs; the server binaries
 * come from the per-user cache, which `npm test` fills before vitest starts.
 */
import { describe, expect, it } from 'vitest';
import { runChaosSuite, sizes, type ScenarioRow } from '../chaos/scenarios';
import { findTemporalServer, TEMPORAL_SERVER_VERSION } from '../platform/cluster';
import { expectNothingLostOrTwice } from './support/chaos';

describe('chaos on the cluster (small)', () => {
  it('loses nothing, acts once and pays once through a worker kill, a Temporal Server kill, a PostgreSQL restart and a PostgreSQL kill', async () => {
    if (!findTemporalServer()) throw new Error(`no Temporal Server ${TEMPORAL_SERVER_VERSION} in the per-user cache: run npm test (or npx tsx scripts/ensure-temporal-server.ts) to build it first`);
    const rows = await runChaosSuite({ size: 'small', suite: 'cluster' });
    const byName = new Map(rows.map((row) => [row.scenario, row]));
    const row = (name: string): ScenarioRow => {
      const found = byName.get(name);
      if (!found) throw new Error(`scenario ${name} did not run`);
      return found;
    };
    expect(rows.map((r) => r.scenario)).toEqual(['cluster-worker-sigkill', 'cluster-temporal-sigkill', 'cluster-postgres-restart', 'cluster-postgres-sigkill']);

    for (const scenario of rows) {
      console.log(`${scenario.scenario}: ${scenario.completed}/${scenario.submitted} completed, lost ${scenario.lost}, actions twice ${scenario.duplicateActions}, repeated paid calls ${scenario.repeatedPaidCalls}, ${(scenario.durationMs / 1000).toFixed(0)} s`);
      expectNothingLostOrTwice(scenario);
      expect(scenario.submitted).toBe(30);
      // The shared state is in PostgreSQL: the receipts were read there, one per completed job, and no
      // worker kept a store of its own in its data dir.
      expect(scenario.receiptStore).toBe('postgres');
      expect(scenario.receiptRows).toBe(scenario.completed);
      expect(scenario.cluster).toMatchObject({ serverVersion: TEMPORAL_SERVER_VERSION, workerSqliteFiles: [] });
    }

    // The disruptions really happened.
    expect(row('cluster-worker-sigkill').events.filter((event) => event.startsWith('SIGKILL w'))).toHaveLength(2);
    expect(row('cluster-temporal-sigkill').events.filter((event) => event.startsWith('SIGKILL temporal'))).toHaveLength(1);
    const restart = row('cluster-postgres-restart');
    expect(restart.events.filter((event) => event.startsWith('PostgreSQL stopped'))).toHaveLength(1);
    expect(restart.notes.some((note) => note.startsWith('PostgreSQL started again'))).toBe(true);
    // The workers met the outage (their shared cache was unreachable) and went on.
    expect(restart.cache.cacheErrors).toBeGreaterThan(0);
    // PostgreSQL killed outright (on durable settings: fsync and synchronous commit) recovers from its WAL.
    const killed = row('cluster-postgres-sigkill');
    expect(killed.events.filter((event) => event.startsWith('SIGKILL PostgreSQL'))).toHaveLength(1);
    expect(killed.notes.some((note) => note.startsWith('PostgreSQL recovered'))).toBe(true);
    // An answer a worker held as the one database behind the cache and the history went down is counted
    // apart, and there are never more of them than jobs running at once.
    for (const scenario of [restart, killed]) expect(scenario.answersLostWithDatabase).toBeLessThanOrEqual(sizes.small.concurrency);
    expect(row('cluster-worker-sigkill').answersLostWithDatabase).toBeUndefined();
  }, 300_000);
});
