/**
 * The built-in catalogue the first job workflow's activities read (its stations in the order its model
 * planner lists them, and its job types), from the support factory's legacy views.
 */
import { stationCall, type StationCatalogue } from '../activities';
import { jobTypeByName } from '../factories/support/legacy-job-types';
import { modelStation, stationCatalogue } from '../factories/support/legacy-stations';
import type { ModelGateway } from '../providers/gateway-types';

export const builtinCatalogue: StationCatalogue = {
  station: (name) => modelStation(name),
  planStations: stationCatalogue,
  jobType: (name) => jobTypeByName(name),
};

/** One schema-valid answer of a built-in station by name (policy replay, benchmarks). */
export function callBuiltinStation(gateway: ModelGateway, request: { station: string; modelId: string; input: unknown; signal?: AbortSignal }) {
  const { station, ...rest } = request;
  return stationCall(gateway, modelStation(station), rest);
}
