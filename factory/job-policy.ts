/**
 * A job's policy: its type's resolved policy with the request's overrides. Pure, so the factory job's
 * workflow and the activities that answer its first steps ahead (activities/factory.ts, openingCalls) compute it
 * the same way.
 */
import type { PolicyOverrides } from '../domain/job';
import type { ResolvedJobPolicy } from './snapshot';

/** The fields of a policy a job request may override (a factory's resolved policy, or a built-in legacy job type's). */
type OverridablePolicy = Pick<ResolvedJobPolicy, 'planner' | 'budgetUsd' | 'overBudget' | 'confidenceThresholds'> & { approval: { timeoutMs: number } };

/** The job type's policy with the request's overrides (budget, planner, thresholds, approval timeout). */
export function effectiveJobPolicy<P extends OverridablePolicy>(policy: P, request: { policy?: PolicyOverrides | undefined }): P {
  const overrides = request.policy ?? {};
  return {
    ...policy,
    planner: overrides.planner ?? policy.planner,
    budgetUsd: overrides.budgetUsd ?? policy.budgetUsd,
    overBudget: overrides.overBudget ?? policy.overBudget,
    confidenceThresholds: { ...policy.confidenceThresholds, ...overrides.confidenceThresholds },
    approval: { ...policy.approval, timeoutMs: overrides.approvalTimeoutMs ?? policy.approval.timeoutMs },
  };
}

/** The job's learned router when it picks this station's starting tier (`policy.router`, for its stations or all). */
export function stationRouter(policy: ResolvedJobPolicy, stationName: string): ResolvedJobPolicy['router'] {
  const router = policy.router;
  return router && (!router.stations || router.stations.includes(stationName)) ? router : undefined;
}
