/**
 * What some tests need beyond npm: the shared public datasets, the Debian Chromium, a Web UI. Locally a
 * missing prerequisite skips those tests, saying what is missing; under CI (`CI` set) it fails the file
 * with that message instead, so a CI run never passes by skipping what it was meant to prove.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { resolveSharedDataDir } from '../../providers/local/dataset';
import { chromiumAvailable, chromiumPath } from './browser';

/** True when the prerequisite is missing and the tests should skip (never under CI: it throws there). */
export function missing(what: string, available: boolean, howToGet: string): boolean {
  if (available) return false;
  const message = `missing prerequisite: ${what} (${howToGet})`;
  if (process.env.CI) throw new Error(`${message}; CI runs every test, so this fails instead of skipping`);
  console.warn(`skipping: ${message}`);
  return true;
}

export function chromiumMissing(): boolean {
  return missing(`Chromium at ${chromiumPath}`, chromiumAvailable(), 'scripts/system-deps.sh installs the Debian package; or set CONVEYOR_CHROMIUM_PATH');
}

/** `relativePaths` under the shared data dir (`../shared/data`, or CONVEYOR_SHARED_DATA). */
export function sharedDataMissing(...relativePaths: string[]): boolean {
  const dir = resolveSharedDataDir();
  const absent = relativePaths.filter((relative) => !existsSync(path.join(dir, relative)));
  return missing(
    absent.map((relative) => path.join(dir, relative)).join(', ') || dir,
    absent.length === 0,
    'clone the repository with ../shared beside it, or point CONVEYOR_SHARED_DATA at the shared data folder',
  );
}
