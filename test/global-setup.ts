/**
 * Starts (or reuses, when TEMPORAL_ADDRESS is set) one real Temporal server per test project
 * (vitest.config.mts), through the same platform code `npm start` uses, and stops what it started.
 * The suite's server keeps its SQLite file (a test reads it for secrets); the scale project's keeps its
 * database in memory: the scale test needs no durability across a server restart, and the file's writes
 * cost it time on a 2-core machine (3,000 jobs: 58 s in memory, 63–86 s on the file, in one session's runs).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node' with { 'resolution-mode': 'import' };
import { ensureTemporal, freePort } from '../platform/embedded-server';
import { loadSettings } from '../platform/settings';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    temporalNamespace: string;
    temporalUiUrl: string;
    /** The embedded server's data dir (its SQLite database), or '' when TEMPORAL_ADDRESS names a server or the database is in memory. */
    temporalDataDir: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'conveyor-test-'));
  const env = process.env.TEMPORAL_ADDRESS
    ? process.env
    : {
        ...process.env,
        CONVEYOR_DATA_DIR: dataDir,
        CONVEYOR_GRPC_PORT: String(await freePort()),
        CONVEYOR_UI_PORT: String(await freePort()),
      };
  const endpoint = await ensureTemporal(loadSettings(env), { fresh: !process.env.TEMPORAL_ADDRESS, ephemeral: project.name === 'scale' });
  project.provide('temporalAddress', endpoint.address);
  project.provide('temporalNamespace', endpoint.namespace);
  project.provide('temporalUiUrl', endpoint.uiUrl ?? '');
  project.provide('temporalDataDir', endpoint.dbFile ? dataDir : '');
  return async () => {
    await endpoint.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
}
