/**
 * Loads a team's factory from its module: a .ts or .js file whose default export, or export named
 * `factory`, is what `defineFactory` returned. A broken factory throws at import (defineFactory checks
 * it), so its problems come back as data, and so do the problems of a factory checked again here;
 * training files are checked apart (`trainingFileProblems`), by `conveyor factory check` and the worker; a module that fails to load or exports no factory is an error
 * naming the file and what it exported.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { require as tsxRequire } from 'tsx/cjs/api';
import { checkFactory, isFactory, type Factory, type FactoryProblem } from '../factory';

export class FactoryModuleError extends Error {
  override readonly name = 'FactoryModuleError';
}

export type LoadedFactory = { factory: Factory; problems?: undefined } | { factory?: undefined; problems: readonly FactoryProblem[] };

/**
 * By shape, not by class: a factory module may import its own copy of the definition API (an installed
 * package), whose FactoryDefinitionError is another class.
 */
function definitionProblems(error: unknown): readonly FactoryProblem[] | undefined {
  if (!(error instanceof Error) || error.name !== 'FactoryDefinitionError') return undefined;
  const problems = (error as { problems?: unknown }).problems;
  return Array.isArray(problems) ? (problems as FactoryProblem[]) : undefined;
}

function describeExports(exported: unknown): string {
  if (exported === null || (typeof exported !== 'object' && typeof exported !== 'function')) return `a ${exported === null ? 'null' : typeof exported}`;
  const names = Object.keys(exported).filter((name) => name !== '__esModule');
  if (names.length === 0) return 'nothing';
  const record = exported as Record<string, unknown>;
  return names.map((name) => `${name} (${record[name] === null ? 'null' : typeof record[name]})`).join(', ');
}

/** A plain `{ name, version, stations, jobTypes }` exported without defineFactory around it. */
const looksLikeSpec = (value: unknown) =>
  value !== null && typeof value === 'object' && Array.isArray((value as { stations?: unknown }).stations) && Array.isArray((value as { jobTypes?: unknown }).jobTypes);

/**
 * Checked again: a module may hold a factory that did not come through this copy's defineFactory (an
 * installed package's own copy of the definition API, an older version of it).
 */
function checked(factory: Factory): LoadedFactory {
  const problems = checkFactory({ name: factory.name, version: factory.version, stations: [...factory.stations.values()], actions: [...factory.actions.values()], jobTypes: [...factory.jobTypes.values()] });
  return problems.length > 0 ? { problems } : { factory };
}

/**
 * What the definition check cannot see without the file system: each offline classifier's training
 * file must exist and be a file, or the station could not answer offline. Checked when a worker's
 * activities are made (`conveyorActivities`) and by `conveyor factory check`, of any factory.
 */
export function trainingFileProblems(factory: Factory): FactoryProblem[] {
  return [...factory.stations.values()].flatMap((station) => {
    const local = station.local;
    if (local === undefined || typeof local === 'function') return [];
    const stat = fs.statSync(local.trainingFile, { throwIfNoEntry: false });
    if (stat?.isFile()) return [];
    return [{ definition: `station "${station.name}"`, field: 'local.trainingFile', message: `${path.resolve(local.trainingFile)} ${stat ? 'is not a file' : 'does not exist'}` }];
  });
}

/** TypeScript factory modules load through tsx, scoped to the module: no global hook, whatever started the process (the built CLI, plain Node, a test runner). */
const typeScriptModule = /\.(ts|mts|cts)$/;

/** `modulePath` is resolved against `cwd`; a `.ts` module loads through tsx, a `.js` one through Node's require. */
export function loadFactoryModule(modulePath: string, cwd = process.cwd()): LoadedFactory {
  const file = path.resolve(cwd, modulePath);
  if (!fs.existsSync(file)) throw new FactoryModuleError(`${modulePath}: no such file (${file})`);
  let exported: unknown;
  try {
    exported = typeScriptModule.test(file) ? (tsxRequire(file, __filename) as unknown) : createRequire(__filename)(file);
  } catch (error) {
    const problems = definitionProblems(error);
    if (problems) return { problems };
    throw new FactoryModuleError(`${modulePath} failed to load: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
  }
  const record = exported !== null && typeof exported === 'object' ? (exported as Record<string, unknown>) : {};
  for (const candidate of [record.default, record.factory, exported]) if (isFactory(candidate)) return checked(candidate);
  const spec = [record.default, record.factory].some(looksLikeSpec) ? ' (it looks like the object defineFactory takes: export defineFactory({ … }) instead)' : '';
  throw new FactoryModuleError(
    `${modulePath} exports no factory: expected a default export or an export named "factory" made with defineFactory${spec}; it exports ${describeExports(exported)}`,
  );
}
