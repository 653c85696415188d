/**
 * Finds the `temporal` CLI (which bundles the dev server and the Web UI), or builds it.
 * Order: $TEMPORAL_CLI_PATH, `temporal` on PATH, the per-user cache shared by every clone on
 * the machine, and finally `go install` from the Go module proxy into that cache.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

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
  const cacheRoot = env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(cacheRoot, 'conveyor', `temporal-${TEMPORAL_CLI_VERSION}`);
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function findOnPath(command: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (dir && isExecutable(path.join(dir, command))) return path.join(dir, command);
  }
  return undefined;
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
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const found = findTemporalCli(env);
  if (found) return found;

  const go = findOnPath('go', env) ?? (env.GOROOT && isExecutable(path.join(env.GOROOT, 'bin', 'go')) ? path.join(env.GOROOT, 'bin', 'go') : undefined);
  if (!go) {
    throw new TemporalCliNotFoundError(
      'No Temporal CLI found and no Go toolchain to build one. Install Go >= 1.23 (https://go.dev/dl) so Conveyor can ' +
        `build ${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSION}, or install the Temporal CLI ` +
        '(https://docs.temporal.io/cli) and put it on PATH or in TEMPORAL_CLI_PATH.',
    );
  }
  const cacheDir = temporalCliCacheDir(env);
  await withBuildLock(cacheDir, log, () => buildWithGo(go, cacheDir, env, log));
  const built = path.join(cacheDir, 'temporal');
  if (!isExecutable(built)) {
    throw new TemporalCliBuildError(`go install finished but ${built} is missing.`);
  }
  return { path: built, source: 'built' };
}

async function buildWithGo(go: string, cacheDir: string, env: NodeJS.ProcessEnv, log: (line: string) => void): Promise<void> {
  if (isExecutable(path.join(cacheDir, 'temporal'))) return; // another process built it while we waited
  const stagingDir = fs.mkdtempSync(path.join(cacheDir, '.build-'));
  log(
    `conveyor: building the Temporal CLI ${TEMPORAL_CLI_VERSION} from the Go module proxy into ${cacheDir} ` +
      '(once per machine; a few minutes on 2 cores)…',
  );
  const startedAt = Date.now();
  const ticker = setInterval(() => {
    log(`conveyor: still building the Temporal CLI (${Math.round((Date.now() - startedAt) / 1000)} s)…`);
  }, 20_000);
  try {
    const output: string[] = [];
    const exitCode = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(go, ['install', `${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSION}`], {
        env: { ...env, GOBIN: stagingDir, GOFLAGS: env.GOFLAGS ?? '-mod=mod' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const keep = (chunk: Buffer) => {
        output.push(chunk.toString());
        if (output.length > 200) output.shift();
      };
      child.stdout.on('data', keep);
      child.stderr.on('data', keep);
      child.on('error', reject);
      child.on('exit', resolve);
    });
    if (exitCode !== 0) {
      throw new TemporalCliBuildError(
        `go install ${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSION} failed (exit ${exitCode}):\n${output.join('').slice(-4000)}`,
      );
    }
    fs.renameSync(path.join(stagingDir, 'temporal'), path.join(cacheDir, 'temporal'));
    log(`conveyor: Temporal CLI built in ${Math.round((Date.now() - startedAt) / 1000)} s.`);
  } finally {
    clearInterval(ticker);
    fs.rmSync(stagingDir, { recursive: true, force: true });
  }
}

/** One build per machine: parallel test processes wait for the first one instead of racing it. */
async function withBuildLock(cacheDir: string, log: (line: string) => void, build: () => Promise<void>): Promise<void> {
  fs.mkdirSync(cacheDir, { recursive: true });
  const lockDir = path.join(cacheDir, '.lock');
  const staleAfterMs = 30 * 60_000;
  for (let waited = 0; ; waited += 2000) {
    try {
      fs.mkdirSync(lockDir);
      fs.writeFileSync(path.join(lockDir, 'pid'), String(process.pid));
      break;
    } catch {
      const age = Date.now() - (fs.statSync(lockDir, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > staleAfterMs || !lockHolderAlive(lockDir)) {
        fs.rmSync(lockDir, { recursive: true, force: true });
        continue;
      }
      if (waited % 20_000 === 0) log('conveyor: another process is building the Temporal CLI; waiting for it…');
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }
  try {
    await build();
  } finally {
    fs.rmSync(lockDir, { recursive: true, force: true });
  }
}

function lockHolderAlive(lockDir: string): boolean {
  const pid = Number(fs.readFileSync(path.join(lockDir, 'pid'), { encoding: 'utf8', flag: 'a+' }) || 'NaN');
  if (!Number.isInteger(pid)) return true; // just created, pid not written yet
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** `temporal --version`, for diagnostics. */
export function temporalCliVersion(cliPath: string): string {
  const result = spawnSync(cliPath, ['--version'], { encoding: 'utf8' });
  return (result.stdout || result.stderr).trim();
}
