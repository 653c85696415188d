/**
 * The label a built-in classification station's answer carries, as the first job workflow reads it
 * (frozen with it: factory jobs read the label under the station definition's `learnable` field).
 */
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
