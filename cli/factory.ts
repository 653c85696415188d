/**
 * `conveyor factory check [<module>]` and `conveyor factory show [<module>] [--json]`: checks a team's
 * factory module as a worker would before it starts, and lists its job types, stations and actions from
 * the plain-data snapshots the workflows read. Without a module, the built-in support factory.
 */
import { parseArgs } from 'node:util';
import { supportFactory } from '../factories/support';
import { formatProblem, snapshotJobType, type Factory, type FactoryProblem, type JobDefinition } from '../factory';
import { FactoryModuleError, loadFactoryModule, trainingFileProblems } from '../platform/factory-module';
import type { CommandOutput } from './eval';
import { table, usd } from './output';

export const factoryUsage = 'conveyor factory check [<module>] | conveyor factory show [<module>] [--json]';

const usage =
  `usage: ${factoryUsage}\n` +
  '  <module>: a .ts or .js file whose default export (or export named "factory") is a defineFactory(...);\n' +
  '  without it, the built-in support factory.';

const plural = (count: number, noun: string) => `${count} ${noun}${count === 1 ? '' : 's'}`;

/** The factory, or the problems that kept it from being defined. */
function load(modulePath: string | undefined): { label: string; factory?: Factory; problems: readonly FactoryProblem[] } {
  if (modulePath === undefined) return { label: 'the built-in support factory', factory: supportFactory, problems: trainingFileProblems(supportFactory) };
  const loaded = loadFactoryModule(modulePath);
  if (loaded.problems) return { label: modulePath, problems: loaded.problems };
  return { label: modulePath, factory: loaded.factory, problems: trainingFileProblems(loaded.factory) };
}

/** What `factory show --json` prints: the snapshots' facts, one list per kind. */
export interface FactoryView {
  factory: { name: string; version: string };
  api: number;
  jobTypes: (Pick<JobDefinition, 'version' | 'hash'> & JobDefinition['jobType'])[];
  stations: JobDefinition['stations'][string][];
  actions: (JobDefinition['actions'][string] & { settings: Record<string, unknown> })[];
}

export function factoryView(factory: Factory): FactoryView {
  const snapshots = [...factory.jobTypes.keys()].map((name) => snapshotJobType(factory, name));
  // Every snapshot holds the whole catalogue of stations and actions; the first one speaks for all.
  const catalogue = snapshots[0]!;
  return {
    factory: catalogue.factory,
    api: catalogue.api,
    jobTypes: snapshots.map((snapshot) => ({ ...snapshot.jobType, version: snapshot.version, hash: snapshot.hash })),
    stations: Object.values(catalogue.stations),
    actions: Object.values(catalogue.actions).map((action) => ({
      ...action,
      settings: Object.fromEntries(snapshots.flatMap((snapshot) => (action.name in snapshot.jobType.policy.actions ? [[snapshot.jobType.name, snapshot.jobType.policy.actions[action.name]]] : []))),
    })),
  };
}

function showText(view: FactoryView, out: (line: string) => void): void {
  out(`factory ${view.factory.name} ${view.factory.version} (definition API ${view.api})`);
  out('\nJob types');
  out(
    table(
      view.jobTypes.map((jobType) => ({
        name: jobType.name,
        steps: jobType.recipe.steps.map((step) => step.id).join(' → '),
        planner: jobType.policy.planner,
        budget: usd(jobType.policy.budgetUsd),
        reviewers: jobType.policy.approval.reviewers.join(', '),
        onTimeout: jobType.policy.approval.onTimeout,
        version: jobType.version,
      })),
    ),
  );
  out('\nStations');
  out(
    table(
      view.stations.map((station) => ({
        name: station.name,
        tier: station.defaultTier,
        threshold: station.confidenceThreshold,
        confidence: station.confidence,
        local: station.local,
        learnable: station.learnable?.label ?? '',
      })),
      undefined,
      // The confidence rule's description is the point of this table: never clip it.
      100,
    ),
  );
  out('\nActions');
  out(table(view.actions.map((action) => ({ name: action.name, 'sensitivity rule': action.sensitivityRule ? 'yes' : 'no', description: action.description })), undefined, 100));
  // In full, one line each: a table would clip them.
  out('\nAction settings per job type');
  const settingLines = view.actions.flatMap((action) => Object.entries(action.settings).map(([jobType, settings]) => `${action.name} in ${jobType}: ${JSON.stringify(settings)}`));
  out(settingLines.length ? settingLines.join('\n') : '(none)');
}

export async function factoryCommand(argv: string[], io: CommandOutput): Promise<number> {
  const fail = (message: string) => {
    io.stderr(`conveyor factory: ${message}\n${usage}`);
    return 2;
  };
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { json: { type: 'boolean' } }, allowPositionals: true, strict: true });
  } catch (error) {
    return fail((error as Error).message);
  }
  const [subcommand, modulePath, ...extra] = parsed.positionals;
  if (subcommand !== 'check' && subcommand !== 'show') return fail(subcommand === undefined ? 'missing check or show' : `unknown subcommand "${subcommand}" (check, show)`);
  if (extra.length > 0) return fail(`expected one module, got ${extra.length + 1}: ${[modulePath, ...extra].join(' ')}`);
  if (subcommand === 'check' && parsed.values.json) return fail('--json applies to factory show only');

  let loaded;
  try {
    loaded = load(modulePath);
  } catch (error) {
    if (error instanceof FactoryModuleError) {
      io.stderr(`conveyor factory ${subcommand}: ${error.message}`);
      return 2;
    }
    throw error;
  }
  const { label, factory, problems } = loaded;
  if (problems.length > 0 || !factory) {
    io.stderr(`conveyor factory ${subcommand}: ${label}: the factory has ${plural(problems.length, 'problem')}:`);
    for (const problem of problems) io.stderr(formatProblem(problem));
    return 2;
  }
  if (subcommand === 'check') {
    io.stdout(`factory ${factory.name} ${factory.version}: ${plural(factory.jobTypes.size, 'job type')}, ${plural(factory.stations.size, 'station')}, ${plural(factory.actions.size, 'action')} — OK`);
    return 0;
  }
  const view = factoryView(factory);
  if (parsed.values.json) io.stdout(JSON.stringify(view, null, 2));
  else showText(view, io.stdout);
  return 0;
}
