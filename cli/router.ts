/**
 * `conveyor router train --id ID [--since 7d] [--type T] [--task-queue Q] [--station S] [--target-large-share 0.3] [--data-dir DIR] [--json]`:
 * trains a learned router on the recorded outcomes of completed runs and registers it in the learning
 * registry as `router.<id>` (current), for a job type's `policy.router` to name. Each recorded station step
 * whose first call ran at the station's default tier is one example, its text what the router will read
 * (the station's `learnable` text field, else the input as JSON), rebuilt from the job's request:
 * "the default tier suffices" when that first answer was accepted and no reviewer edited it; "escalate"
 * when it escalated (low confidence, a broken schema, a failed model) or a reviewer changed the answer.
 * The threshold is calibrated on a held-out slice so that `--target-large-share` of steps start higher.
 * `conveyor models --station router.<id>` lists its versions; `conveyor replay-policy` with
 * `{"router": {"id": …}}` evaluates one against recorded runs before it goes live.
 */
import { parseArgs } from 'node:util';
import { routerText } from '../activities/factory';
import type { JobRecord } from '../domain/job';
import type { Factory } from '../factory/define';
import { openRegistryStore } from '../learning/model-registry';
import { requireRule, trainAndRegisterRouter, type RouterExample, type RouterRule } from '../learning/router';
import type { NewCallPort } from '../learning/replay-policy';
import { loadSettings } from '../platform/settings';
import { factoryFromSettings } from '../workers/worker';
import type { CommandIo } from './learning';
import { parseSince } from './report';
import { fromCompletedRuns, stepInputOrProblem } from './replay-policy';

export const routerUsage = 'conveyor router train --id ID [--since 7d] [--type T] [--task-queue Q] [--station S] [--target-large-share 0.3] [--rule probability|tokens-per-miss] [--min-examples 50] [--data-dir DIR] [--json]';

/** One training example per recorded step that started at its station's default tier; steps whose input cannot be rebuilt are counted. */
export async function routerExamplesFromRecords(
  records: readonly JobRecord[],
  factory: Factory,
  stepInput: NewCallPort['stepInput'],
  options: { station?: string } = {},
): Promise<{ examples: RouterExample[]; skipped: number; problems: string[] }> {
  const examples: RouterExample[] = [];
  const problems: string[] = [];
  let skipped = 0;
  for (const record of records) {
    const firstCalls = record.ledger.filter((entry) => entry.call === 1 && (!options.station || entry.station === options.station));
    for (const first of firstCalls) {
      const station = factory.stations.get(first.station);
      if (!station || first.tier !== station.defaultTier) {
        skipped++;
        continue;
      }
      const later = record.ledger.filter((entry) => entry.stepId === first.stepId);
      const edited = later.some((entry) => entry.decision?.edited === true);
      const input = await stepInputOrProblem(stepInput, record, first.stepId, problems);
      if (input === undefined) continue;
      examples.push({ text: routerText(station, input), defaultSuffices: first.outcome === 'accepted' && !edited });
    }
  }
  return { examples, skipped, problems };
}

export async function routerCommand(argv: string[], io: CommandIo, deps: { factory?: Factory; env?: NodeJS.ProcessEnv } = {}): Promise<number> {
  const env = deps.env ?? process.env;
  const [subcommand, ...rest] = argv;
  let values: { id?: string; since?: string; type?: string; 'task-queue'?: string; station?: string; 'target-large-share'?: string; rule?: string; 'min-examples'?: string; 'data-dir'?: string; json?: boolean };
  let targetLargeShare = 0.3;
  let minExamples = 50;
  let rule: RouterRule | undefined;
  try {
    if (subcommand !== 'train') throw new Error(subcommand ? `unknown subcommand "${subcommand}"` : 'missing subcommand');
    ({ values } = parseArgs({
      args: rest,
      options: {
        id: { type: 'string' },
        since: { type: 'string' },
        type: { type: 'string' },
        'task-queue': { type: 'string' },
        station: { type: 'string' },
        'target-large-share': { type: 'string' },
        rule: { type: 'string' },
        'min-examples': { type: 'string' },
        'data-dir': { type: 'string' },
        json: { type: 'boolean' },
      },
      strict: true,
    }));
    if (!values.id || !/^[\w.-]+$/.test(values.id)) throw new Error('--id ID is required (letters, digits, ".", "_" and "-"): the name a job type\'s policy.router will use');
    if (values['target-large-share'] !== undefined) {
      targetLargeShare = Number(values['target-large-share']);
      if (!(targetLargeShare > 0 && targetLargeShare < 1)) throw new Error(`--target-large-share: "${values['target-large-share']}" is not a share between 0 and 1`);
    }
    if (values.rule !== undefined) rule = requireRule(values.rule, '--rule');
    if (values['min-examples'] !== undefined) {
      minExamples = Number(values['min-examples']);
      if (!Number.isInteger(minExamples) || minExamples < 2) throw new Error(`--min-examples: "${values['min-examples']}" is not a whole number of at least 2`);
    }
  } catch (error) {
    io.stderr(`conveyor router: ${(error as Error).message}\nusage: ${routerUsage}\n`);
    return 2;
  }
  const settings = loadSettings(env);
  const factory = deps.factory ?? factoryFromSettings(settings);
  const since = parseSince(values.since ?? '7d');
  const gathered = await fromCompletedRuns(settings, factory, { since, type: values.type, taskQueue: values['task-queue'] }, (records, stepInput) =>
    routerExamplesFromRecords(records, factory, stepInput, values.station ? { station: values.station } : {}),
  );
  const { examples } = gathered;
  const escalate = examples.filter((example) => !example.defaultSuffices).length;
  if (examples.length < minExamples || escalate === 0 || escalate === examples.length) {
    io.stderr(
      `conveyor router: ${examples.length} recorded step(s) since ${since.toISOString()} (${escalate} escalated): a router needs at least ${minExamples} ` +
        `with both outcomes. Run more jobs, widen --since, or lower --min-examples.\n`,
    );
    return 2;
  }
  let router;
  const store = openRegistryStore({ dataDir: values['data-dir'] ?? settings.dataDir, databaseUrl: settings.databaseUrl });
  try {
    router = await trainAndRegisterRouter({
    id: values.id,
    examples,
    targetLargeShare,
    ...(rule ? { rule } : {}),
    by: settings.reviewer ?? env.USER ?? 'conveyor router train',
    dataDir: store,
    notes: { origin: `recorded runs of factory ${factory.name} ${factory.version} since ${since.toISOString()}${values.type ? `, job type ${values.type}` : ''}${values.station ? `, station ${values.station}` : ''}`, examples: examples.length, escalated: escalate, skipped: gathered.skipped },
    });
  } catch (error) {
    // Too few distinct texts, one outcome left after holding some out, a version registered under another target.
    io.stderr(`conveyor router: ${(error as Error).message}\n`);
    return 2;
  } finally {
    await store.close();
  }
  if (values.json) io.stdout(`${JSON.stringify({ ...router, examples: examples.length, escalated: escalate, skipped: gathered.skipped, problems: gathered.problems })}\n`);
  else {
    io.stdout(
      `router ${router.id}@${router.version} registered and current: ${examples.length} examples (${escalate} escalated), threshold ${router.threshold.toFixed(3)} ` +
        `for ${(router.targetLargeShare * 100).toFixed(0)}% of steps starting higher; name it in a job type's policy.router: { id: "${router.id}" }\n`,
    );
    for (const problem of gathered.problems.slice(0, 5)) io.stderr(`conveyor router: step left out: ${problem}\n`);
  }
  return 0;
}
