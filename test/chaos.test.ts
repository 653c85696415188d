/**
 * The chaos suite at its small size, as a specification: with workers SIGKILLed (in the middle of remote
 * model calls, and in the middle of local-activity steps), the Temporal server
 * SIGKILLed and restarted, a model endpoint failing 30% of calls and the shared cache store stopped,
 * no job is lost, no action runs twice and no model step whose answer a worker held is paid again.
 * The scenarios are chaos/scenarios.ts, the same functions `npm run chaos` runs.
 */
import { describe, expect, it } from 'vitest';
import { runChaosSuite, type ScenarioRow } from '../chaos/scenarios';
import { expectNothingLostOrTwice } from './support/chaos';

describe('chaos (small)', () => {
  it('loses nothing, acts once and pays once through worker kills, a server kill, a flaky model and a dead cache', async () => {
    const rows = await runChaosSuite({ size: 'small' });
    const byName = new Map(rows.map((row) => [row.scenario, row]));
    const row = (name: string): ScenarioRow => {
      const found = byName.get(name);
      if (!found) throw new Error(`scenario ${name} did not run`);
      return found;
    };
    expect(rows.map((r) => r.scenario)).toEqual(['worker-sigkill', 'worker-sigkill-local', 'temporal-sigkill', 'flaky-model', 'cache-store-down']);

    for (const scenario of rows) {
      expectNothingLostOrTwice(scenario);
      expect(scenario.submitted).toBe(30);
    }

    // The disruptions really happened.
    expect(row('worker-sigkill').events.filter((event) => event.startsWith('SIGKILL w'))).toHaveLength(3);
    // Workers die while jobs run their in-process model steps as local activities (in the workflow task).
    expect(row('worker-sigkill-local').events.filter((event) => event.startsWith('SIGKILL w'))).toHaveLength(2);
    expect(row('worker-sigkill-local').localModelSteps).toBeGreaterThanOrEqual(30);
    expect(row('temporal-sigkill').events.filter((event) => event.startsWith('SIGKILL temporal'))).toHaveLength(1);
    const faults = row('flaky-model').faultsInjected;
    expect(Object.keys(faults).sort()).toEqual(['malformed', 'rate-limited', 'reset', 'server-error', 'slow']);
    expect(row('flaky-model').providerCalls).toBeGreaterThan(row('flaky-model').paidCalls);
    // The dead cache is noticed and said, and the jobs went on without it.
    const cache = row('cache-store-down');
    expect(cache.events.some((event) => event.startsWith('redis-server stopped'))).toBe(true);
    expect(cache.cache.cacheErrors).toBeGreaterThan(0);
    expect(cache.notes.some((note) => note.includes('model cache is unavailable'))).toBe(true);
    expect(cache.completed).toBe(30);
  }, 420_000);
});
