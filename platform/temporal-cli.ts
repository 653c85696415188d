/**
 * Finds the `temporal` CLI (which bundles the dev server and the Web UI), or builds it.
 * Order: $TEMPORAL_CLI_PATH, `temporal` on PATH, the per-user cache shared by every clone on
 * the machine, and finally `go install` from the Go module proxy into that cache (platform/go-build.ts).
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { conveyorCacheDir, findGo, findOnPath, GoBuildError, goInstall, isExecutable } from './go-build';

/** The newest CLI release whose go.mod has no replace directive, so `go install` can build it. */
export const TEMPORAL_CLI_VERSION = 'v1.5.1';
const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal';

export class TemporalCliNotFoundError extends Error {
  override readonly name = 'TemporalCliNotFoundError';
}

export class TemporalCliBuildError extends Error {
  override readonly name = 'TemporalCliBuildError';
}

export type TemporalCliSource = 'env' | 'path' | 'cache' | 'built';

export interface TemporalCli {
  path: string;
  source: TemporalCliSource;
}

export function temporalCliCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return conveyorCacheDir(`temporal-${TEMPORAL_CLI_VERSION}`, env);
}

/** Looks for an existing binary without building anything. */
export function findTemporalCli(env: NodeJS.ProcessEnv = process.env): TemporalCli | undefined {
  const fromEnv = env.TEMPORAL_CLI_PATH;
  if (fromEnv) {
    if (!isExecutable(fromEnv)) {
      throw new TemporalCliNotFoundError(
        `TEMPORAL_CLI_PATH=${fromEnv} is not an executable file. Point it at a temporal binary or unset it.`,
      );
    }
    return { path: fromEnv, source: 'env' };
  }
  const onPath = findOnPath('temporal', env);
  if (onPath) return { path: onPath, source: 'path' };
  const cached = path.join(temporalCliCacheDir(env), 'temporal');
  if (isExecutable(cached)) return { path: cached, source: 'cache' };
  return undefined;
}

export interface EnsureTemporalCliOptions {
  env?: NodeJS.ProcessEnv;
  /** Progress lines while building (defaults to stderr). */
  log?: (line: string) => void;
}

/** Finds the CLI, building it with Go into the per-user cache when there is none. */
export async function ensureTemporalCli(options: EnsureTemporalCliOptions = {}): Promise<TemporalCli> {
  const env = options.env ?? process.env;
  const found = findTemporalCli(env);
  if (found) return found;
  if (!findGo(env)) {
    throw new TemporalCliNotFoundError(
      'No Temporal CLI found and no Go toolchain to build one. Install Go >= 1.23 (https://go.dev/dl) so Conveyor can ' +
        `build ${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSION}, or install the Temporal CLI ` +
        '(https://docs.temporal.io/cli) and put it on PATH or in TEMPORAL_CLI_PATH.',
    );
  }
  const cacheDir = temporalCliCacheDir(env);
  try {
    await goInstall({
      what: `the Temporal CLI ${TEMPORAL_CLI_VERSION}`,
      packages: [TEMPORAL_CLI_MODULE],
      version: TEMPORAL_CLI_VERSION,
      cacheDir,
      binaries: { temporal: 'temporal' },
      env,
      ...(options.log ? { log: options.log } : {}),
    });
  } catch (error) {
    if (error instanceof GoBuildError) throw new TemporalCliBuildError(error.message);
    throw error;
  }
  return { path: path.join(cacheDir, 'temporal'), source: 'built' };
}

/** `temporal --version`, for diagnostics. */
export function temporalCliVersion(cliPath: string): string {
  const result = spawnSync(cliPath, ['--version'], { encoding: 'utf8' });
  return (result.stdout || result.stderr).trim();
}
