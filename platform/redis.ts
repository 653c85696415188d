/**
 * The Redis client Conveyor's shared stores use (model cache, collected examples): it fails fast while
 * Redis is down — no offline queue, and a first connection that fails is reported at once so the next
 * operation tries again — and re-establishes a lost connection in the background. Callers get the
 * client through `ready()`, which connects on first use.
 */
import { createClient } from 'redis';

export interface SharedRedisOptions {
  url: string;
  connectTimeoutMs?: number;
  /** Said by `ready()` once the store was closed. */
  closedMessage: string;
}

/** The client as `createClient` makes it (named, so declarations do not spell out redis's module types). */
export type SharedRedisClient = ReturnType<typeof createClient>;

export interface SharedRedis {
  client: SharedRedisClient;
  ready(): Promise<SharedRedisClient>;
  close(): Promise<void>;
}

export function createSharedRedis(options: SharedRedisOptions): SharedRedis {
  let everConnected = false;
  let closed = false;
  const client = createClient({
    url: options.url,
    disableOfflineQueue: true,
    socket: {
      connectTimeout: options.connectTimeoutMs ?? 2_000,
      reconnectStrategy: (retries: number, cause: Error) => (everConnected ? Math.min(200 * 2 ** retries, 5_000) : cause),
    },
  });
  // Without a listener an 'error' event would crash the worker; failed operations are reported by their callers.
  client.on('error', () => {});
  client.on('ready', () => {
    everConnected = true;
  });
  let connecting: Promise<unknown> | undefined;
  return {
    client,
    async ready() {
      if (closed) throw new Error(options.closedMessage);
      if (!client.isOpen) {
        connecting ??= client.connect().catch((error: unknown) => {
          connecting = undefined;
          throw error;
        });
      }
      // The client is open before it is ready: callers arriving during the first connection wait for it too.
      await connecting;
      return client;
    },
    async close() {
      closed = true;
      if (client.isReady) await client.close();
      else if (client.isOpen) client.destroy();
    },
  };
}
