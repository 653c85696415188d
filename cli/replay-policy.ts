/**
 * `conveyor replay-policy --since 24h|7d|ISO --policy <file.json> [--type T] [--json]`: re-decides the
 * routing of the recorded runs under a new policy and estimates the cost and agreement change, saying how
 * many steps would need new model calls because their outcome was never recorded.
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { ConveyorClient } from '../client';
import type { JobResult } from '../domain/job';
import { replayPolicy, replayPolicySchema, type PolicyReplayReport, type ReplayPolicy } from '../learning/replay-policy';
import { table, usd } from './output';
import { parseSince } from './report';

const usage = 'usage: conveyor replay-policy --policy FILE [--since 24h|7d|ISO] [--type T] [--task-queue Q] [--json]';

export async function replayPolicyCommand(argv: string[], io: { stdout(line: string): void; stderr(line: string): void }): Promise<number> {
  let values: { policy?: string; since?: string; type?: string; 'task-queue'?: string; json?: boolean };
  try {
    ({ values } = parseArgs({ args: argv, options: { policy: { type: 'string' }, since: { type: 'string' }, type: { type: 'string' }, 'task-queue': { type: 'string' }, json: { type: 'boolean' } }, strict: true }));
  } catch (error) {
    io.stderr(`conveyor replay-policy: ${(error as Error).message}\n${usage}`);
    return 2;
  }
  if (!values.policy) {
    io.stderr(`conveyor replay-policy: missing --policy FILE\n${usage}`);
    return 2;
  }
  let policy: ReplayPolicy;
  let since: Date;
  try {
    const parsed = replayPolicySchema.safeParse(JSON.parse(fs.readFileSync(values.policy, 'utf8')));
    if (!parsed.success) throw new Error(parsed.error.issues.map((issue) => `${issue.path.join('.') || '(policy)'}: ${issue.message}`).join('; '));
    policy = parsed.data;
    since = parseSince(values.since ?? '24h');
  } catch (error) {
    io.stderr(`conveyor replay-policy: ${values.policy}: ${(error as Error).message}`);
    return 2;
  }
  const client = await ConveyorClient.connect();
  let report: PolicyReplayReport;
  try {
    const filters = ['WorkflowType = "jobWorkflow"', 'ExecutionStatus = "Completed"', `StartTime >= "${since.toISOString()}"`];
    if (values.type) filters.push(`ConveyorJobType = "${values.type.replace(/"/g, '')}"`);
    if (values['task-queue']) filters.push(`TaskQueue = "${values['task-queue'].replace(/"/g, '')}"`);
    const records: JobResult[] = [];
    for await (const execution of client.temporal.workflow.list({ query: filters.join(' AND ') })) records.push(await client.jobHandle(execution.workflowId).result());
    report = replayPolicy(records, policy);
  } finally {
    await client.close();
  }
  if (values.json) {
    io.stdout(JSON.stringify(report));
    return 0;
  }
  const percent = (value: number | null) => (value === null ? 'n/a' : `${(value * 100).toFixed(1)}%`);
  io.stdout(
    table([
      { measure: 'recorded jobs / model steps', value: `${report.jobs} / ${report.steps}` },
      { measure: 'decisions unchanged', value: report.unchanged },
      { measure: 'decisions changed', value: report.decisionsChanged },
      { measure: 'steps needing new model calls (outcome never recorded)', value: report.needNewModelCalls },
      { measure: 'steps that would go to a person', value: report.needReview },
      { measure: 'cost recorded', value: usd(report.costBeforeUsd) },
      { measure: 'cost replayed (steps decidable from records)', value: usd(report.costAfterUsd) },
      { measure: 'agreement with recorded answers where the decision changed', value: percent(report.agreementOnChanged) },
      ...(policy.budgetUsd !== undefined ? [{ measure: `jobs over the $${policy.budgetUsd} budget`, value: report.jobsOverBudget }] : []),
    ]),
  );
  return 0;
}
