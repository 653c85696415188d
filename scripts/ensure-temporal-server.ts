/** Prints the Temporal Server the cluster runs, building it (and temporal-sql-tool) into the per-user cache first when there is none. */
import { spawnSync } from 'node:child_process';
import { ensureTemporalServer } from '../platform/cluster';

ensureTemporalServer()
  .then((binaries) => {
    const version = spawnSync(binaries.server, ['--version'], { encoding: 'utf8' }).stdout.trim();
    console.error(`conveyor: Temporal Server ${version} (${binaries.source}: ${binaries.server})`);
  })
  .catch((error: unknown) => {
    console.error(error instanceof Error ? `${error.name}: ${error.message}` : error);
    process.exit(1);
  });
