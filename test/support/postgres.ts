/**
 * A real PostgreSQL server for one test file (platform/postgres-server.ts): its own data directory
 * under the system's temp dir, a free loopback port, fsync off, removed when the file's tests end.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startPostgres, type PostgresServer } from '../../platform/postgres-server';

export interface TestPostgres extends PostgresServer {
  /** Stops the server and removes its data directory. */
  dispose(): Promise<void>;
}

export async function startTestPostgres(): Promise<TestPostgres> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'conveyor-pg-'));
  const server = await startPostgres({ dataDir: path.join(root, 'data'), fast: true });
  return {
    ...server,
    async dispose() {
      await server.stop();
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}
