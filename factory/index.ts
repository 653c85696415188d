/**
 * The factory: a team's stations, actions and job types, checked as a whole. `defineFactory` refuses a
 * broken factory with every problem named (definition and field), so a worker never starts with one.
 */
import { UnknownJobTypeError, validateJobRequest, type JobRequest } from '../domain/job';
import type { AnyAction, AnyJobType, AnyStation, Factory, FactorySpec } from './define';
import { checkFactory, FactoryDefinitionError } from './validate';

export * from './define';
export { checkFactory, formatProblem, FactoryDefinitionError, type FactoryProblem } from './validate';
export { snapshotJobType, type JobDefinition, type StationFacts, type ActionFacts, type ResolvedJobPolicy } from './snapshot';

export function defineFactory(spec: FactorySpec): Factory {
  const problems = checkFactory(spec);
  if (problems.length > 0) throw new FactoryDefinitionError(problems);
  return Object.freeze({
    kind: 'factory' as const,
    name: spec.name,
    version: spec.version,
    stations: new Map<string, AnyStation>(spec.stations.map((station) => [station.name, station])),
    actions: new Map<string, AnyAction>((spec.actions ?? []).map((action) => [action.name, action])),
    jobTypes: new Map<string, AnyJobType>(spec.jobTypes.map((jobType) => [jobType.name, jobType])),
  });
}

export function isFactory(value: unknown): value is Factory {
  return value !== null && typeof value === 'object' && (value as { kind?: unknown }).kind === 'factory' && (value as Factory).jobTypes instanceof Map;
}

/** A job request checked against a factory: its shape, its job type (UnknownJobTypeError names the known ones) and its input. */
export function validateFactoryJob(factory: Factory, request: unknown): JobRequest {
  return validateJobRequest(request, (type) => {
    const jobType = factory.jobTypes.get(type);
    if (!jobType) throw new UnknownJobTypeError(`Unknown job type "${type}"; known: ${[...factory.jobTypes.keys()].join(', ')}`);
    return jobType.input;
  });
}
