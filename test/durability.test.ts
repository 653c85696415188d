/**
 * Durability: worker processes are SIGKILLed five times in the middle of a 200-job batch and started
 * again. Every job completes, none is lost or acts twice, and no model call whose answer a worker
 * already held is paid again (first prompts and schema repairs, steps answered from the cache and
 * escalated ones included; answers lost with a killed worker bounded) — counted at the model provider, a fake OpenAI-protocol server at the
 * outer boundary. This is the chaos suite's worker scenario at full size (chaos/scenarios.ts).
 */
import { describe, expect, it } from 'vitest';
import { runChaosSuite, sizes } from '../chaos/scenarios';

describe('durability', () => {
  it('survives repeated SIGKILL of its workers during a 200-job batch: nothing lost, nothing twice, nothing paid twice', async () => {
    const [row] = await runChaosSuite({ size: 'full', only: ['worker-sigkill'] });
    expect(row).toBeDefined();
    const diagnostics = JSON.stringify({ events: row!.events, notes: row!.notes, lostJobs: row!.lostJobs.slice(0, 5) });
    expect(
      { submitted: row!.submitted, completed: row!.completed, lost: row!.lost, duplicateActions: row!.duplicateActions, repeatedPaidCalls: row!.repeatedPaidCalls, missingActions: row!.missingActions },
      diagnostics,
    ).toEqual({ submitted: 200, completed: 200, lost: 0, duplicateActions: 0, repeatedPaidCalls: 0, missingActions: 0 });
    const kills = row!.events.filter((event) => event.startsWith('SIGKILL w')).length;
    expect(kills).toBeGreaterThanOrEqual(4);
    // every step was paid at least once; repeats exist only for answers that died with a killed worker —
    // at most one model call in flight per running job, so a kill loses at most the batch's concurrency
    expect(row!.paidCalls).toBeGreaterThanOrEqual(1000);
    expect(row!.answersLostWithWorker).toBeLessThanOrEqual(kills * sizes.full.concurrency);
  }, 1_500_000);
});
