/**
 * What every chaos scenario must show, whatever it broke: no job lost, no action twice, no paid call
 * repeated, no action missing, every submitted job accounted for (completed, failed with a typed error,
 * or rejected). Shared by the embedded and the cluster chaos tests.
 */
import { expect } from 'vitest';
import type { ScenarioRow } from '../../chaos/scenarios';

export function expectNothingLostOrTwice(scenario: ScenarioRow): void {
  const summary = {
    scenario: scenario.scenario,
    lost: scenario.lost,
    duplicateActions: scenario.duplicateActions,
    repeatedPaidCalls: scenario.repeatedPaidCalls,
    missingActions: scenario.missingActions,
    accounted: scenario.completed + scenario.failedTyped + scenario.rejected,
  };
  expect(summary, JSON.stringify({ events: scenario.events, notes: scenario.notes, lostJobs: scenario.lostJobs.slice(0, 5) })).toEqual({
    scenario: scenario.scenario,
    lost: 0,
    duplicateActions: 0,
    repeatedPaidCalls: 0,
    missingActions: 0,
    accounted: scenario.submitted,
  });
}
