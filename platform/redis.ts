/**
 * Redis clients Conveyor shares between workers (model cache, collected examples) connect on first use
 * and, after a failed attempt, try again on the next operation rather than keeping a rejected promise.
 */
export function connectOnDemand<C extends { isOpen: boolean; connect(): Promise<unknown> }>(client: C, closedMessage?: () => string | undefined): () => Promise<C> {
  let connecting: Promise<unknown> | undefined;
  return async () => {
    const closed = closedMessage?.();
    if (closed) throw new Error(closed);
    if (!client.isOpen) {
      connecting ??= client.connect().catch((error: unknown) => {
        connecting = undefined;
        throw error;
      });
      await connecting;
    }
    return client;
  };
}
