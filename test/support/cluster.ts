/**
 * The cluster `conveyor cluster up` runs (platform/cluster.ts: the Temporal Server on PostgreSQL, not the
 * dev server) for one test file: its own folder under the system's temp dir, fast mode, removed when the
 * file's tests end. The server binaries come from the per-user cache, which `npm test` fills before vitest
 * starts (scripts/ensure-temporal-server.ts).
 */
import fs from 'node:fs';
import { findTemporalServer, startCluster, TEMPORAL_SERVER_VERSION, type Cluster } from '../../platform/cluster';
import { tempDir } from './temporal';

export interface TestCluster extends Cluster {
  /** Stops the server and PostgreSQL and removes the cluster's folder. */
  dispose(): Promise<void>;
}

export async function startTestCluster(name: string): Promise<TestCluster> {
  if (!findTemporalServer()) throw new Error(`no Temporal Server ${TEMPORAL_SERVER_VERSION} in the per-user cache: run npm test (or npx tsx scripts/ensure-temporal-server.ts) to build it first`);
  const cluster = await startCluster({ dir: tempDir(`${name}-cluster`), fast: true, log: () => {} });
  return {
    ...cluster,
    async dispose() {
      await cluster.stop();
      fs.rmSync(cluster.dir, { recursive: true, force: true });
    },
  };
}

/** What a host is told to reach the cluster: its frontend, its namespace and the shared database. */
export function clusterVariables(cluster: Cluster): NodeJS.ProcessEnv {
  return { TEMPORAL_ADDRESS: cluster.temporalAddress, TEMPORAL_NAMESPACE: cluster.namespace, CONVEYOR_DATABASE_URL: cluster.databaseUrl };
}
