/**
 * The support factory's one action, `act`: executes the proposed refund, cancellation, account closure or
 * message once, after approval when it is sensitive. This demo factory has no remote system to call, so its
 * effect is a row in the worker's local action log (a `localLogAction`); a worker with
 * CONVEYOR_ACTIONS_WEBHOOK_URL set delivers it as a signed webhook instead (see `withWebhookActions`).
 */
import { z } from 'zod';
import { localLogAction, type JobView } from '../../factory/define';
import { actionKinds, assessRiskOutputSchema, proposedActionSchema, type ProposedAction } from './schemas';

export const actSettingsSchema = z.object({
  /** Refunds above this amount need a reviewer. */
  refundThresholdUsd: z.number().nonnegative(),
  /** Outbound messages to customers need a reviewer. */
  outboundMessagesNeedApproval: z.boolean().default(false),
  /** Any action waits for a reviewer when an earlier step (a risk assessment) rated the job high risk. */
  highRiskNeedsApproval: z.boolean().default(true),
  /** Kinds of action that need two different reviewers. */
  twoPersonKinds: z.array(z.enum(actionKinds)).default([]),
});
export type ActSettings = z.infer<typeof actSettingsSchema>;

/** Why the action itself needs a person, from what it is. */
export function actionSensitivity(action: ProposedAction, settings: Pick<ActSettings, 'refundThresholdUsd' | 'outboundMessagesNeedApproval'>): string | undefined {
  if (action.action === 'close-account') return 'closing an account is irreversible';
  if (action.action === 'refund' && (action.amountUsd ?? Infinity) > settings.refundThresholdUsd) {
    return action.amountUsd === undefined ? 'refund without a known amount' : `refund of $${action.amountUsd} is above the $${settings.refundThresholdUsd} threshold`;
  }
  if (action.action === 'send-message' && settings.outboundMessagesNeedApproval) return 'outbound messages need a reviewer';
  return undefined;
}

/**
 * Stakes seen in earlier steps' outputs: a risk assessment that says `high` makes any action kind
 * sensitive, so what the action is cannot hide what the job is about.
 */
export function highRiskStakes(outputs: Readonly<Record<string, unknown>>, settings: Pick<ActSettings, 'highRiskNeedsApproval'>): string | undefined {
  if (!settings.highRiskNeedsApproval) return undefined;
  for (const [stepId, output] of Object.entries(outputs)) {
    const risk = assessRiskOutputSchema.safeParse(output);
    if (risk.success && risk.data.level === 'high') return `step "${stepId}" rated the job high risk${risk.data.reasons.length ? ` (${risk.data.reasons.slice(0, 3).join('; ')})` : ''}`;
  }
  return undefined;
}

export const act = localLogAction({
  name: 'act',
  description: 'Executes the proposed action once, after approval when it is sensitive.',
  proposal: proposedActionSchema,
  settings: actSettingsSchema,
  skip: (proposal) => (proposal.action === 'none' ? 'no action proposed' : undefined),
  sensitivity: (proposal, settings, job: JobView) => {
    const reason = actionSensitivity(proposal, settings) ?? highRiskStakes(job.outputs, settings);
    if (!reason) return undefined;
    return settings.twoPersonKinds.includes(proposal.action) ? { reason, approvals: 2 } : reason;
  },
  receipt: (proposal) => ({ kind: proposal.action, ...(proposal.orderId ? { orderId: proposal.orderId } : {}) }),
});
