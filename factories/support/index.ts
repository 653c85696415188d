/**
 * The built-in factory: customer support and call review, the job types Conveyor ships with. Written with
 * the public definition API only, like any team's factory (`conveyor worker --factory <module>` runs one).
 */
import { defineFactory } from '../../factory';
import { act } from './actions';
import { callReview, supportTicket, triage } from './job-types';
import { supportStations } from './stations';

export const supportFactory = defineFactory({
  name: 'support',
  version: '1.0.0',
  stations: supportStations,
  actions: [act],
  jobTypes: [supportTicket, callReview, triage],
});

export default supportFactory;
