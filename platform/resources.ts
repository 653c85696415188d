/** Closing what a component opened: every resource, even when one of them fails to close. */

export interface Closeable {
  close(): unknown;
}

/**
 * Closes each resource (undefined ones are skipped), all of them even when one fails, then throws what
 * failed: one error as itself, several as an AggregateError that names how many.
 */
export async function closeAll(resources: Iterable<Closeable | undefined>): Promise<void> {
  const outcomes = await Promise.allSettled([...resources].map(async (resource) => resource?.close()));
  const failures = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason as unknown] : []));
  if (failures.length === 1) throw failures[0];
  if (failures.length > 1) throw new AggregateError(failures, `${failures.length} resources failed to close`);
}
