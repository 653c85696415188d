/**
 * The stations the learning loop can retrain: classification stations whose answer is one label and
 * whose small local model is loaded from a file. Pure: the job workflow, the activities and the
 * learning loop all read labels and model-file options from here.
 */

/** Which option of a local model spec names the file a station's classifier is loaded from. */
export const learnableStations: Readonly<Record<string, 'modelFile' | 'relevanceModelFile'>> = {
  'classify-intent': 'modelFile',
  'check-relevance': 'relevanceModelFile',
};

export function isLearnableStation(station: string): boolean {
  return Object.hasOwn(learnableStations, station);
}

/** The label a classification station's answer carries, when the station is one. */
export function labelOf(station: string, output: unknown): string | undefined {
  if (output === null || typeof output !== 'object') return undefined;
  if (station === 'classify-intent') {
    const intent = (output as { intent?: unknown }).intent;
    return typeof intent === 'string' ? intent : undefined;
  }
  if (station === 'check-relevance') {
    const relevant = (output as { relevant?: unknown }).relevant;
    return typeof relevant === 'boolean' ? (relevant ? 'relevant' : 'irrelevant') : undefined;
  }
  return undefined;
}

/** The label an answer carries under a station definition's `learnable` field (a string, or a named boolean). */
export function labelFrom(learnable: { label: string; booleanLabels?: { true: string; false: string } } | undefined, output: unknown): string | undefined {
  if (!learnable || output === null || typeof output !== 'object') return undefined;
  const value = (output as Record<string, unknown>)[learnable.label];
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean' && learnable.booleanLabels) return value ? learnable.booleanLabels.true : learnable.booleanLabels.false;
  return undefined;
}
