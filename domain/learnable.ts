/**
 * What the learning loop reads of a station's answers and inputs: the label under the station
 * definition's `learnable` field, and the text it describes. Pure: the job workflow, the activities and
 * the learning loop share it.
 */

/** The text a station's input holds under its definition's `learnable.text` field, when it is a string. */
export function textFrom(learnable: { text: string } | undefined, input: unknown): string | undefined {
  if (!learnable || input === null || typeof input !== 'object') return undefined;
  const value = (input as Record<string, unknown>)[learnable.text];
  return typeof value === 'string' ? value : undefined;
}

/** The label an answer carries under a station definition's `learnable` field (a string, or a named boolean). */
export function labelFrom(learnable: { label: string; booleanLabels?: { true: string; false: string } } | undefined, output: unknown): string | undefined {
  if (!learnable || output === null || typeof output !== 'object') return undefined;
  const value = (output as Record<string, unknown>)[learnable.label];
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean' && learnable.booleanLabels) return value ? learnable.booleanLabels.true : learnable.booleanLabels.false;
  return undefined;
}
