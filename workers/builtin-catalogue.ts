/**
 * The built-in catalogue the first job workflow's activities read (its stations in the order its model
 * planner lists them, and its job types), from the support factory's legacy views.
 */
import type { StationCatalogue } from '../activities';
import { answerableStation } from '../activities/factory';
import { supportFactory } from '../factories/support';
import { jobTypeByName } from '../factories/support/legacy-job-types';
import { modelStation, stationCatalogue } from '../factories/support/legacy-stations';

export const builtinCatalogue: StationCatalogue = {
  // modelStation refuses a name that is not a model station of the first workflow's catalogue.
  station: (name) => answerableStation(supportFactory.stations.get(modelStation(name).name)!),
  planStations: stationCatalogue,
  jobType: (name) => jobTypeByName(name),
};
