/**
 * `conveyor scorer train --id ID --station S [--since 7d] [--type T] [--task-queue Q] [--min-pairs 20] [--data-dir DIR] [--json]`:
 * trains a learned scorer of (input, answer) pairs on the checked outcomes recorded in completed runs and
 * registers it as `scorer.<id>` (current), for a station's `confidence: { from: 'scorer', id }`. An answer
 * is checked when something better settled its step: a larger tier's accepted answer after an escalation,
 * or a reviewer's decision. Each such model answer is one pair — right when its label is the label the
 * step settled on — with the model's own probability where the ledger recorded it (scorer `model:…`).
 * The calibration error of the scorer, on out-of-fold scores, is printed and kept in the registry.
 */
import { parseArgs } from 'node:util';
import type { JobRecord } from '../domain/job';
import { labelFrom, textFrom } from '../domain/learnable';
import type { Factory } from '../factory/define';
import type { NewCallPort } from '../learning/replay-policy';
import { openRegistryStore } from '../learning/model-registry';
import { registerScorer, trainScorer, type CheckedPair } from '../learning/scorer';
import { loadSettings } from '../platform/settings';
import { factoryFromSettings } from '../workers/worker';
import type { CommandIo } from './learning';
import { parseSince } from './report';
import { fromCompletedRuns, stepInputOrProblem } from './replay-policy';

export const scorerUsage = 'conveyor scorer train --id ID --station S [--since 7d] [--type T] [--task-queue Q] [--min-pairs 20] [--data-dir DIR] [--json]';

/** The checked answers of one learnable station in the records, as pairs for a learned scorer. */
export async function checkedPairsFromRecords(
  records: readonly JobRecord[],
  factory: Factory,
  stationName: string,
  stepInput: NewCallPort['stepInput'],
): Promise<{ pairs: CheckedPair[]; steps: number; problems: string[] }> {
  const station = factory.stations.get(stationName);
  if (!station) throw new Error(`factory ${factory.name} has no station "${stationName}" (stations: ${[...factory.stations.keys()].join(', ')})`);
  if (!station.learnable) throw new Error(`station "${stationName}" of factory ${factory.name} is not learnable: a scorer reads its \`learnable\` text and label fields`);
  const learnable = station.learnable;
  const pairs: CheckedPair[] = [];
  const problems: string[] = [];
  let steps = 0;
  for (const record of records) {
    const stepIds = [...new Set(record.ledger.filter((entry) => entry.station === stationName).map((entry) => entry.stepId))];
    for (const stepId of stepIds) {
      const calls = record.ledger.filter((entry) => entry.stepId === stepId).sort((a, b) => a.call - b.call);
      const settled = labelFrom(learnable, record.outputs[stepId]);
      const reviewed = calls.some((entry) => entry.decision !== undefined);
      if (settled === undefined || (calls.length < 2 && !reviewed)) continue;
      // The answers something better checked: every escalated answer, and an accepted one a reviewer decided on.
      const checked = calls.flatMap((entry) => {
        const answer = entry.outcome === 'escalated' ? entry.output : reviewed && entry.decision ? record.outputs[stepId] : undefined;
        const label = answer === undefined ? undefined : labelFrom(learnable, answer);
        return label === undefined ? [] : [{ entry, label }];
      });
      if (checked.length === 0) continue;
      const input = await stepInputOrProblem(stepInput, record, stepId, problems);
      if (input === undefined) continue;
      const text = textFrom(learnable, input);
      if (text === undefined) continue;
      steps++;
      for (const { entry, label } of checked) {
        const own = entry.scorer?.startsWith('model:') ? entry.confidence : null;
        pairs.push({ text, answer: label, modelConfidence: own, correct: label === settled });
      }
    }
  }
  return { pairs, steps, problems };
}

export async function scorerCommand(argv: string[], io: CommandIo, deps: { factory?: Factory; env?: NodeJS.ProcessEnv } = {}): Promise<number> {
  const env = deps.env ?? process.env;
  const [subcommand, ...rest] = argv;
  let values: { id?: string; station?: string; since?: string; type?: string; 'task-queue'?: string; 'min-pairs'?: string; 'data-dir'?: string; json?: boolean };
  let minPairs = 20;
  try {
    if (subcommand !== 'train') throw new Error(subcommand ? `unknown subcommand "${subcommand}"` : 'missing subcommand');
    ({ values } = parseArgs({
      args: rest,
      options: {
        id: { type: 'string' },
        station: { type: 'string' },
        since: { type: 'string' },
        type: { type: 'string' },
        'task-queue': { type: 'string' },
        'min-pairs': { type: 'string' },
        'data-dir': { type: 'string' },
        json: { type: 'boolean' },
      },
      strict: true,
    }));
    if (!values.id || !/^[\w.-]+$/.test(values.id)) throw new Error("--id ID is required (letters, digits, '.', '_' and '-'): the name a station's confidence: { from: 'scorer', id } will use");
    if (!values.station) throw new Error('--station S is required: the learnable station whose answers it scores');
    if (values['min-pairs'] !== undefined) {
      minPairs = Number(values['min-pairs']);
      if (!Number.isInteger(minPairs) || minPairs < 4) throw new Error(`--min-pairs: "${values['min-pairs']}" is not a whole number of at least 4`);
    }
  } catch (error) {
    io.stderr(`conveyor scorer: ${(error as Error).message}\nusage: ${scorerUsage}\n`);
    return 2;
  }
  const settings = loadSettings(env);
  const factory = deps.factory ?? factoryFromSettings(settings);
  const since = parseSince(values.since ?? '7d');
  const station = values.station;
  let gathered;
  try {
    gathered = await fromCompletedRuns(settings, factory, { since, type: values.type, taskQueue: values['task-queue'] }, (records, stepInput) => checkedPairsFromRecords(records, factory, station, stepInput));
  } catch (error) {
    io.stderr(`conveyor scorer: ${(error as Error).message}\n`);
    return 2;
  }
  const { pairs } = gathered;
  const right = pairs.filter((pair) => pair.correct).length;
  if (pairs.length < minPairs || right < 2 || pairs.length - right < 2) {
    io.stderr(
      `conveyor scorer: ${pairs.length} checked answer(s) of ${values.station} since ${since.toISOString()} (${right} right): a scorer needs at least ${minPairs}, ` +
        `with 2 right and 2 wrong. Checked answers come from escalations and reviews: run more jobs, widen --since, or lower --min-pairs.\n`,
    );
    return 2;
  }
  const scorer = trainScorer(values.id, pairs);
  const store = openRegistryStore({ dataDir: values['data-dir'] ?? settings.dataDir, databaseUrl: settings.databaseUrl });
  const registered = await registerScorer(store, scorer, settings.reviewer ?? env.USER ?? 'conveyor scorer train').finally(() => store.close());
  const summary = { ...registered, pairs: pairs.length, right, steps: gathered.steps, expectedCalibrationError: scorer.calibration.expectedCalibrationError };
  if (values.json) io.stdout(`${JSON.stringify({ ...summary, problems: gathered.problems })}\n`);
  else {
    io.stdout(
      `scorer ${registered.id}@${registered.version} registered and current: ${pairs.length} checked answers (${right} right) from ${gathered.steps} steps, ` +
        `calibration error ${scorer.calibration.expectedCalibrationError.toFixed(3)} (out of fold); use it with confidence: { from: 'scorer', id: '${registered.id}' }\n`,
    );
    for (const problem of gathered.problems.slice(0, 5)) io.stderr(`conveyor scorer: step left out: ${problem}\n`);
  }
  return 0;
}
