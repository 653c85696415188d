/**
 * The learning commands behind `conveyor distill` and `conveyor rollback`: distill starts a distill
 * workflow (and with --wait prints its report when it ends), rollback restores the station's previous
 * model version in the registry under the data dir. Both take argv and an io pair and return an exit
 * code, so the CLI only dispatches to them.
 */
import { parseArgs } from 'node:util';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { ConveyorClient } from '../client';
import { defaultLearnableStation, evaluationTarget } from '../evaluation/eval/target';
import type { Factory } from '../factory/define';
import { loadSettings } from '../platform/settings';
import { factoryFromSettings } from '../workers/worker';
import { distillWorkflow } from '../workflows/distill';
import { ModelRegistry, ModelRegistryError, openRegistryStore, type RegistryStore } from '../learning/model-registry';
import { openObservationRepository } from '../learning/observations';
import { InvalidDistillRequestError, parseDistillRequest } from '../learning/activities';
import type { DistillRequest, DistillResult, RegistryState } from '../learning/types';

export interface CommandIo {
  stdout(s: string): void;
  stderr(s: string): void;
}

export const distillUsage =
  'conveyor distill --golden FILE --reviewers A[,B…] [--station NAME] [--base FILE] [--text-column text] [--label-column label] ' +
  '[--target-accuracy 0.97] [--tolerance 0.01] [--approvals 1|2] [--approval-timeout-ms MS] [--size small|medium|large] [--requested-by NAME] ' +
  '[--shadow MIN_OBSERVATIONS [--shadow-gate 0.9] [--shadow-wait-ms MS]] [--canary-share 0.2 [--canary-gate 0.6] [--canary-min 20] [--canary-full 200]] [--id ID] [--wait] [--schedule CRON [--schedule-id ID]] [--json]';
export const rollbackUsage = 'conveyor rollback [--station NAME] [--by NAME] [--reason TEXT] [--data-dir DIR] [--json]';
export const modelsUsage = 'conveyor models [--station NAME] [--data-dir DIR] [--json]';
export const shadowUsage = 'conveyor shadow (--version VERSION | --stop) [--station NAME] [--by NAME] [--data-dir DIR] [--json]';

/**
 * The station a learning command acts on: --station, else the first learnable classifier station of the
 * factory the workers run (CONVEYOR_FACTORY, else the built-in one: classify-intent).
 */
function stationOf(given: string | undefined, env: NodeJS.ProcessEnv): string {
  return given ?? defaultLearnableStation(factoryFromSettings(loadSettings(env)));
}

const numberFlag = (value: string | undefined, flag: string): number | undefined => {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (!Number.isFinite(parsed)) throw new InvalidDistillRequestError(`${flag}: "${value}" is not a number`);
  return parsed;
};

/** `factory`: the factory the workers run (default: the module CONVEYOR_FACTORY names, else the built-in one). */
export async function distillCommand(argv: string[], io: CommandIo, env: NodeJS.ProcessEnv = process.env, factory?: Factory): Promise<number> {
  let request: DistillRequest;
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        station: { type: 'string' },
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
        shadow: { type: 'string' },
        'shadow-gate': { type: 'string' },
        'shadow-wait-ms': { type: 'string' },
        'canary-share': { type: 'string' },
        'canary-gate': { type: 'string' },
        'canary-min': { type: 'string' },
        'canary-full': { type: 'string' },
        id: { type: 'string' },
        schedule: { type: 'string' },
        'schedule-id': { type: 'string' },
        wait: { type: 'boolean' },
        json: { type: 'boolean' },
      },
    }));
    const approvals = numberFlag(values.approvals as string | undefined, '--approvals');
    // The workers' factory must be able to train and judge the station (a learnable classifier).
    const station = evaluationTarget(factory ?? factoryFromSettings(loadSettings(env)), { station: values.station as string | undefined }).station.name;
    request = {
      station,
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
      requestedBy: values['requested-by'] as string | undefined,
    };
    const flag = (name: string) => numberFlag(values[name] as string | undefined, `--${name}`);
    if (values.shadow !== undefined) {
      request.shadow = { minObservations: flag('shadow'), agreementGate: flag('shadow-gate'), maxWaitMs: flag('shadow-wait-ms') };
    } else if (values['shadow-gate'] !== undefined || values['shadow-wait-ms'] !== undefined) {
      throw new InvalidDistillRequestError('--shadow-gate and --shadow-wait-ms need --shadow MIN_OBSERVATIONS');
    }
    if (values['canary-share'] !== undefined) {
      request.canary = { share: flag('canary-share'), agreementGate: flag('canary-gate'), minObservations: flag('canary-min'), fullObservations: flag('canary-full') };
    } else if (['canary-gate', 'canary-min', 'canary-full'].some((name) => values[name] !== undefined)) {
      throw new InvalidDistillRequestError('--canary-gate, --canary-min and --canary-full need --canary-share');
    }
    // Validate here too, so a bad flag is an error at the prompt rather than a failed workflow.
    parseDistillRequest(request);
  } catch (error) {
    io.stderr(`${(error as Error).message}\nusage: ${distillUsage}\n`);
    return 2;
  }

  if (values['schedule-id'] !== undefined && values.schedule === undefined) {
    io.stderr(`--schedule-id needs --schedule CRON\nusage: ${distillUsage}\n`);
    return 2;
  }
  const settings = loadSettings(env);
  request.requestedBy ??= settings.reviewer;
  const workflowId = (values.id as string | undefined) ?? `distill-${request.station}-${new Date().toISOString().replace(/[-:.TZ]/g, '').slice(0, 14)}`;
  let client: ConveyorClient;
  try {
    client = await ConveyorClient.connect({ settings });
  } catch (error) {
    io.stderr(`cannot reach Temporal (${(error as Error).message}); start it with \`conveyor server\` or set TEMPORAL_ADDRESS\n`);
    return 1;
  }
  try {
    if (values.schedule !== undefined) {
      const scheduleId = (values['schedule-id'] as string | undefined) ?? `distill-${request.station}`;
      await client.scheduleDistill(scheduleId, values.schedule as string, request);
      if (values.json) io.stdout(`${JSON.stringify({ scheduleId, cron: values.schedule, station: request.station })}\n`);
      else io.stdout(`schedule ${scheduleId} runs distill for ${request.station} on "${values.schedule}" (a run still waiting for reviewers makes the next one skip)\n`);
      return 0;
    }
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
    ...(result.report.shadow ? [`  shadow: ${result.report.shadow.detail}`] : []),
    ...(result.canary ? [`  canary: serves ${percent(result.canary.share)} of items; rolled back automatically below ${percent(result.canary.agreementGate)} agreement with escalations and reviews (after ${result.canary.minObservations} checked items), kept for all traffic after ${result.canary.fullObservations}`] : []),
    `  report: ${result.report.files.markdown}`,
  ].join('\n');
}

export async function rollbackCommand(argv: string[], io: CommandIo, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let values: { station: string; by?: string; reason?: string; 'data-dir'?: string; json?: boolean };
  try {
    const parsed = parseArgs({
      args: argv,
      options: {
        station: { type: 'string' },
        by: { type: 'string' },
        reason: { type: 'string' },
        'data-dir': { type: 'string' },
        json: { type: 'boolean' },
      },
    }).values;
    values = { ...parsed, station: stationOf(parsed.station, env) };
  } catch (error) {
    io.stderr(`${(error as Error).message}\nusage: ${rollbackUsage}\n`);
    return 2;
  }
  const settings = loadSettings(env);
  const store = openRegistryStore({ dataDir: values['data-dir'] ?? settings.dataDir, databaseUrl: settings.databaseUrl });
  const registry = new ModelRegistry(store, values.station);
  return changeRegistry(io, values.json, store, async () => {
    const before = (await registry.state()).current;
    const state = await registry.rollback(operatorOf(values.by, env), values.reason ?? 'manual rollback');
    return { state, summary: `${values.station}: rolled back from ${before} to ${state.current ?? 'the default model'} (${registry.currentFile})` };
  });
}

const operatorOf = (by: string | undefined, env: NodeJS.ProcessEnv) => by ?? loadSettings(env).reviewer ?? (env.USER || 'operator');

/** Runs one registry change and prints its state (--json) or summary; a refused change exits 1 with the registry's reason. */
async function changeRegistry(io: CommandIo, json: boolean | undefined, store: RegistryStore, change: () => Promise<{ state: RegistryState; summary: string }>): Promise<number> {
  try {
    const { state, summary } = await change();
    io.stdout(json ? `${JSON.stringify(state, null, 2)}\n` : `${summary}\n`);
    return 0;
  } catch (error) {
    if (error instanceof ModelRegistryError) {
      io.stderr(`${error.message}\n`);
      return 1;
    }
    throw error;
  } finally {
    await store.close();
  }
}

/** The registry of a station with what is live: current version, canary split and shadow, each with its live agreement. */
export async function modelsCommand(argv: string[], io: CommandIo, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let values: { station: string; 'data-dir'?: string; json?: boolean };
  try {
    const parsed = parseArgs({ args: argv, options: { station: { type: 'string' }, 'data-dir': { type: 'string' }, json: { type: 'boolean' } } }).values;
    values = { ...parsed, station: stationOf(parsed.station, env) };
  } catch (error) {
    io.stderr(`${(error as Error).message}\nusage: ${modelsUsage}\n`);
    return 2;
  }
  const settings = loadSettings(env);
  const dataDir = values['data-dir'] ?? settings.dataDir;
  const registryStore = openRegistryStore({ dataDir, databaseUrl: settings.databaseUrl });
  const registry = new ModelRegistry(registryStore, values.station);
  // Every attempt to change it; the shared registry also records the refused ones (e.g. a canary another host decided first).
  const [state, attempts] = await Promise.all([registry.state(), registry.history()]).finally(() => registryStore.close());
  const observations = openObservationRepository({ dataDir, databaseUrl: settings.databaseUrl });
  try {
    const canary = state.canary ? await observations.agreement(values.station, state.canary.version, 'canary', state.canary.since) : null;
    const stable = state.canary?.stable ? await observations.agreement(values.station, state.canary.stable, 'stable', state.canary.since) : null;
    const shadow = state.shadow ? await observations.agreement(values.station, state.shadow.version, 'shadow', state.shadow.since) : null;
    if (values.json) {
      io.stdout(`${JSON.stringify({ ...state, attempts, live: { canary, stable, shadow } }, null, 2)}\n`);
      return 0;
    }
    const percent = (value: number) => `${(value * 100).toFixed(1)}%`;
    const lines = [`${values.station}: current ${state.current ?? 'none (workers serve their default model)'} · ${state.versions.length} version(s) registered`];
    if (state.canary && canary) {
      lines.push(
        `  canary ${state.canary.version} on ${percent(state.canary.share)} of items (stable ${state.canary.stable ?? 'default model'}) since ${state.canary.since}: ` +
          `${percent(canary.checked.agreement)} agreement over ${canary.checked.n} escalated or reviewed items, ${canary.all.n} settled ` +
          `(gate ${percent(state.canary.agreementGate)}, decides after ${state.canary.minObservations} checked, kept after ${state.canary.fullObservations} settled)` +
          (stable ? `; stable ${state.canary.stable}: ${percent(stable.checked.agreement)} over ${stable.checked.n} checked` : ''),
      );
    }
    if (state.shadow && shadow) {
      lines.push(`  shadow ${state.shadow.version} since ${state.shadow.since}: ${shadow.recorded} answers recorded, ${percent(shadow.all.agreement)} agreement over ${shadow.all.n} settled steps (${percent(shadow.checked.agreement)} over ${shadow.checked.n} checked)`);
    }
    for (const event of state.history.slice(-10)) lines.push(`  ${event.at} ${event.action} ${event.version}${event.previous ? ` (was ${event.previous})` : ''} by ${event.by}: ${event.reason}`);
    for (const attempt of attempts.filter((entry) => entry.outcome === 'refused').slice(-5)) lines.push(`  ${attempt.at} refused ${attempt.event}${attempt.version ? ` ${attempt.version}` : ''} by ${attempt.by}: ${attempt.reason}`);
    io.stdout(`${lines.join('\n')}\n`);
    return 0;
  } finally {
    await observations.close();
  }
}

/** Starts or stops a shadow candidate by hand (distill --shadow does both around its wait). */
export async function shadowCommand(argv: string[], io: CommandIo, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let values: { station: string; version?: string; stop?: boolean; by?: string; 'data-dir'?: string; json?: boolean };
  try {
    const parsed = parseArgs({
      args: argv,
      options: { station: { type: 'string' }, version: { type: 'string' }, stop: { type: 'boolean' }, by: { type: 'string' }, 'data-dir': { type: 'string' }, json: { type: 'boolean' } },
    }).values;
    values = { ...parsed, station: stationOf(parsed.station, env) };
    if ((values.version === undefined) === !values.stop) throw new Error('give either --version VERSION (start a shadow) or --stop');
  } catch (error) {
    io.stderr(`${(error as Error).message}\nusage: ${shadowUsage}\n`);
    return 2;
  }
  const settings = loadSettings(env);
  const store = openRegistryStore({ dataDir: values['data-dir'] ?? settings.dataDir, databaseUrl: settings.databaseUrl });
  const registry = new ModelRegistry(store, values.station);
  const by = operatorOf(values.by, env);
  return changeRegistry(io, values.json, store, async () =>
    values.stop
      ? { state: await registry.stopShadow(by, 'stopped by hand'), summary: `${values.station}: no shadow runs now` }
      : { state: await registry.startShadow(values.version!, by, 'started by hand'), summary: `${values.station}: ${values.version} answers live steps in shadow (recorded, never used); see \`conveyor models\`` },
  );
}
