/**
 * Builds Go programs from the Go module proxy into Conveyor's per-user cache (~/.cache/conveyor/…),
 * once per machine: the Temporal CLI (platform/temporal-cli.ts) and the Temporal Server with its SQL
 * tool (platform/cluster.ts). A lock makes parallel processes wait for the first build instead of
 * racing it; progress lines are printed while it runs.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export class GoBuildError extends Error {
  override readonly name = 'GoBuildError';
}

/** ~/.cache/conveyor/<name> (or under $XDG_CACHE_HOME), shared by every clone on the machine. */
export function conveyorCacheDir(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const cacheRoot = env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(cacheRoot, 'conveyor', name);
}

export function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

export function findOnPath(command: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (dir && isExecutable(path.join(dir, command))) return path.join(dir, command);
  }
  return undefined;
}

/** The `go` command: on PATH, else $GOROOT/bin/go. */
export function findGo(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return findOnPath('go', env) ?? (env.GOROOT && isExecutable(path.join(env.GOROOT, 'bin', 'go')) ? path.join(env.GOROOT, 'bin', 'go') : undefined);
}

export interface GoBuildRequest {
  /** What is being built, for progress lines ("the Temporal CLI v1.5.1"). */
  what: string;
  /** Package paths of one module version, e.g. `go.temporal.io/server/cmd/server`. */
  packages: string[];
  version: string;
  /** Where the binaries end up. */
  cacheDir: string;
  /** Package path's last element (what `go install` names it) → name in the cache dir. */
  binaries: Record<string, string>;
  /**
   * The go.mod of a module generated to build in, when `go install pkg@version` refuses the module
   * (its go.mod has replace or exclude directives, which only a main module may have): the packages
   * are then built with `go build` inside it.
   */
  goMod?: string;
  env?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
}

/**
 * `go install pkg@version …` (or `go build` in a generated module) into a staging folder, then the
 * binaries are renamed into place, so a cache dir never holds a half-written binary. Skips the build
 * when another process finished it first.
 */
export async function goInstall(request: GoBuildRequest): Promise<void> {
  const env = request.env ?? process.env;
  const log = request.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const go = findGo(env);
  const targets = request.packages.map((pkg) => `${pkg}@${request.version}`);
  if (!go) throw new GoBuildError(`No Go toolchain to build ${request.what}. Install Go >= 1.23 (https://go.dev/dl) so Conveyor can build ${targets.join(' ')}.`);
  const built = () => Object.values(request.binaries).every((name) => isExecutable(path.join(request.cacheDir, name)));
  await withBuildLock(request.cacheDir, request.what, log, async () => {
    if (built()) return; // another process built it while we waited
    const stagingDir = fs.mkdtempSync(path.join(request.cacheDir, '.build-'));
    log(`conveyor: building ${request.what} from the Go module proxy into ${request.cacheDir} (once per machine; a few minutes on 2 cores)…`);
    const startedAt = Date.now();
    const ticker = setInterval(() => {
      log(`conveyor: still building ${request.what} (${Math.round((Date.now() - startedAt) / 1000)} s)…`);
    }, 20_000);
    try {
      const goEnv = { ...env, GOBIN: stagingDir, GOFLAGS: env.GOFLAGS ?? '-mod=mod' };
      const steps: string[][] = [];
      if (request.goMod) {
        fs.writeFileSync(path.join(stagingDir, 'go.mod'), request.goMod);
        for (const pkg of request.packages) steps.push(['build', '-o', path.join(stagingDir, path.posix.basename(pkg)), pkg]);
      } else {
        steps.push(['install', ...targets]);
      }
      for (const args of steps) await runGo(go, args, stagingDir, goEnv);
      for (const [installed, name] of Object.entries(request.binaries)) {
        fs.renameSync(path.join(stagingDir, installed), path.join(request.cacheDir, name));
      }
      log(`conveyor: ${request.what} built in ${Math.round((Date.now() - startedAt) / 1000)} s.`);
    } finally {
      clearInterval(ticker);
      fs.rmSync(stagingDir, { recursive: true, force: true });
    }
  });
  for (const name of Object.values(request.binaries)) {
    if (!isExecutable(path.join(request.cacheDir, name))) throw new GoBuildError(`the Go build finished but ${path.join(request.cacheDir, name)} is missing.`);
  }
}

async function runGo(go: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<void> {
  const output: string[] = [];
  const exitCode = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(go, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (chunk: Buffer) => {
      output.push(chunk.toString());
      if (output.length > 200) output.shift();
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', reject);
    child.on('exit', resolve);
  });
  if (exitCode !== 0) throw new GoBuildError(`go ${args.join(' ')} failed (exit ${exitCode}):\n${output.join('').slice(-4000)}`);
}

/** One build per cache dir: parallel processes wait for the first one instead of racing it. */
async function withBuildLock(cacheDir: string, what: string, log: (line: string) => void, build: () => Promise<void>): Promise<void> {
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
      if (waited % 20_000 === 0) log(`conveyor: another process is building ${what}; waiting for it…`);
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
