/**
 * The learning commands behind `conveyor distill` and `conveyor rollback`: distill starts a distill
 * workflow (and with --wait prints its report when it ends), rollback restores the station's previous
 * model version in the registry under the data dir. Both take argv and an io pair and return an exit
 * code, so the CLI only dispatches to them.
 */
import { parseArgs } from 'node:util';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { ConveyorClient } from '../client';
import { loadSettings } from '../platform/settings';
import { distillWorkflow } from '../workflows/distill';
import { ModelRegistry, ModelRegistryError } from './model-registry';
import { InvalidDistillRequestError, parseDistillRequest } from './activities';
import type { DistillRequest, DistillResult } from './types';

export interface CommandIo {
  stdout(s: string): void;
  stderr(s: string): void;
}

export const distillUsage =
  'conveyor distill --golden FILE --reviewers A[,B…] [--station classify-intent] [--base FILE] [--text-column text] [--label-column label] ' +
  '[--target-accuracy 0.97] [--tolerance 0.01] [--approvals 1|2] [--approval-timeout-ms MS] [--size small|medium|large] [--requested-by NAME] [--id ID] [--wait] [--json]';
export const rollbackUsage = 'conveyor rollback [--station classify-intent] [--by NAME] [--reason TEXT] [--data-dir DIR] [--json]';

const numberFlag = (value: string | undefined, flag: string): number | undefined => {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (!Number.isFinite(parsed)) throw new InvalidDistillRequestError(`${flag}: "${value}" is not a number`);
  return parsed;
};

export async function distillCommand(argv: string[], io: CommandIo, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let request: DistillRequest;
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        station: { type: 'string', default: 'classify-intent' },
        base: { type: 'string' },
        golden: { type: 'string' },
        'text-column': { type: 'string' },
        'label-column': { type: 'string' },
        'target-accuracy': { type: 'string' },
        tolerance: { type: 'string' },
        approvals: { type: 'string' },
        'approval-timeout-ms': { type: 'string' },
        reviewers: { type: 'string' },
        size: { type: 'string' },
        'requested-by': { type: 'string' },
        id: { type: 'string' },
        wait: { type: 'boolean' },
        json: { type: 'boolean' },
      },
    }));
    const approvals = numberFlag(values.approvals as string | undefined, '--approvals');
    request = {
      station: values.station as string,
      baseDataFile: values.base as string | undefined,
      goldenDataFile: values.golden as string,
      textColumn: values['text-column'] as string | undefined,
      labelColumn: values['label-column'] as string | undefined,
      targetAccuracy: numberFlag(values['target-accuracy'] as string | undefined, '--target-accuracy'),
      tolerance: numberFlag(values.tolerance as string | undefined, '--tolerance'),
      requiredApprovals: approvals as 1 | 2 | undefined,
      approvalTimeoutMs: numberFlag(values['approval-timeout-ms'] as string | undefined, '--approval-timeout-ms'),
      reviewers: ((values.reviewers as string | undefined) ?? '').split(',').map((name) => name.trim()).filter(Boolean),
      size: values.size as DistillRequest['size'],
      requestedBy: (values['requested-by'] as string | undefined) ?? (env.CONVEYOR_REVIEWER || undefined),
    };
    // Validate here too, so a bad flag is an error at the prompt rather than a failed workflow.
    parseDistillRequest(request);
  } catch (error) {
    io.stderr(`${(error as Error).message}\nusage: ${distillUsage}\n`);
    return 2;
  }

  const settings = loadSettings(env);
  const workflowId = (values.id as string | undefined) ?? `distill-${request.station}-${new Date().toISOString().replace(/[-:.TZ]/g, '').slice(0, 14)}`;
  let client: ConveyorClient;
  try {
    client = await ConveyorClient.connect({ settings });
  } catch (error) {
    io.stderr(`cannot reach Temporal (${(error as Error).message}); start it with \`conveyor server\` or set TEMPORAL_ADDRESS\n`);
    return 1;
  }
  try {
    const handle = await client.temporal.workflow.start(distillWorkflow, { taskQueue: client.taskQueue, workflowId, args: [request] });
    io.stdout(`started distill run ${workflowId} for ${request.station}${client.uiLink(workflowId) ? ` — ${client.uiLink(workflowId)}` : ''}\n`);
    if (!values.wait) {
      io.stdout(`when it waits for approval: conveyor approve ${workflowId} --by <reviewer>   (or conveyor reject …)\n`);
      return 0;
    }
    const result: DistillResult = await handle.result();
    if (values.json) io.stdout(`${JSON.stringify(result, null, 2)}\n`);
    else io.stdout(`${summaryOf(result)}\n`);
    return result.status === 'promoted' ? 0 : 3;
  } catch (error) {
    if (error instanceof WorkflowExecutionAlreadyStartedError) {
      io.stderr(`a distill run with id ${workflowId} already exists; pick another --id\n`);
      return 1;
    }
    throw error;
  } finally {
    await client.close();
  }
}

export function summaryOf(result: DistillResult): string {
  const percent = (value: number) => `${(value * 100).toFixed(1)}%`;
  const { candidate, current } = result.report;
  return [
    `${result.runId}: ${result.status} — candidate ${candidate.version}, current ${result.currentVersion ?? 'none'}`,
    `  golden accuracy ${percent(candidate.accuracy)}${current ? ` (now ${percent(current.accuracy)})` : ''}, coverage at target ${percent(candidate.coverageAtTarget)}${current ? ` (now ${percent(current.coverageAtTarget)})` : ''}`,
    ...(result.report.gate.refusal ? [`  gate: ${result.report.gate.refusal}`] : []),
    `  report: ${result.report.files.markdown}`,
  ].join('\n');
}

export async function rollbackCommand(argv: string[], io: CommandIo, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let values: { station: string; by?: string; reason?: string; 'data-dir'?: string; json?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        station: { type: 'string', default: 'classify-intent' },
        by: { type: 'string' },
        reason: { type: 'string' },
        'data-dir': { type: 'string' },
        json: { type: 'boolean' },
      },
    }));
  } catch (error) {
    io.stderr(`${(error as Error).message}\nusage: ${rollbackUsage}\n`);
    return 2;
  }
  const dataDir = values['data-dir'] ?? loadSettings(env).dataDir;
  const registry = new ModelRegistry(dataDir, values.station);
  const before = registry.state().current;
  try {
    const state = registry.rollback(values.by ?? (env.CONVEYOR_REVIEWER || env.USER || 'operator'), values.reason ?? 'manual rollback');
    if (values.json) io.stdout(`${JSON.stringify(state, null, 2)}\n`);
    else io.stdout(`${values.station}: rolled back from ${before} to ${state.current} (${registry.currentFile})\n`);
    return 0;
  } catch (error) {
    if (error instanceof ModelRegistryError) {
      io.stderr(`${error.message}\n`);
      return 1;
    }
    throw error;
  }
}
