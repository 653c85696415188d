/**
 * Runs the real `conveyor` command (and other programs) as a subprocess, asynchronously, so a worker
 * in the test process keeps serving the jobs the command starts and waits for.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { ConveyorSettings } from '../../platform/settings';
import { eventually } from './temporal';

export const repoRoot = path.resolve(__dirname, '..', '..');
export const conveyorBin = path.join(repoRoot, 'bin', 'conveyor.js');

export interface ProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliResult extends ProcessResult {
  /** stdout parsed as one JSON document; fails with both streams when it is not one. */
  json<T = unknown>(): T;
}

/** Runs a program to its end; kills it (and fails) after `timeoutMs`. */
export function runProcess(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd ?? repoRoot, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${path.basename(command)} ${args.join(' ')} did not finish in ${options.timeoutMs ?? 60_000} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, options.timeoutMs ?? 60_000);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

function withJson(result: ProcessResult, what: string): CliResult {
  return {
    ...result,
    json<T>(): T {
      try {
        return JSON.parse(result.stdout) as T;
      } catch (error) {
        throw new Error(`${what} did not print one JSON document (${(error as Error).message})\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
      }
    },
  };
}

/** `node bin/conveyor.js …`: what `npx conveyor …` runs. */
export async function conveyor(args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<CliResult> {
  return withJson(await runProcess(process.execPath, [conveyorBin, ...args], { env, timeoutMs }), `conveyor ${args.join(' ')}`);
}

/**
 * The same command with stdout on a pseudo-terminal (util-linux `script`), as a person at a terminal
 * sees it; stdout and stderr arrive together.
 */
export async function conveyorInTerminal(args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<ProcessResult> {
  const quoted = [process.execPath, conveyorBin, ...args].map((arg) => `'${arg.replace(/'/g, `'\\''`)}'`).join(' ');
  return runProcess('script', ['--quiet', '--return', '--command', quoted, '/dev/null'], { env, timeoutMs });
}

/**
 * The environment a user of the CLI would have against the suite's server: the connection and task
 * queue of `settings`, and nothing ambient that changes the CLI's behaviour (a reviewer identity).
 */
export function cliEnvironment(settings: ConveyorSettings, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TEMPORAL_ADDRESS: settings.address,
    TEMPORAL_NAMESPACE: settings.namespace,
    CONVEYOR_TASK_QUEUE: settings.taskQueue,
    CONVEYOR_DATA_DIR: settings.dataDir,
    CONVEYOR_UI_URL: settings.uiUrl ?? '',
    ...extra,
  };
  if (!('CONVEYOR_REVIEWER' in extra)) delete env.CONVEYOR_REVIEWER;
  delete env.NODE_OPTIONS;
  return env;
}

/**
 * A long-running `conveyor worker …` (the `bin` given: the repository's or an installed package's), its
 * output collected; resolves once the output has `readyLine`, and fails with the output when it does not.
 */
export async function startWorkerProcess(
  bin: string,
  args: readonly string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; readyLine: string; timeoutMs?: number },
): Promise<{ output(): string; stop(): Promise<void>; kill(): Promise<void> }> {
  const worker = spawn(process.execPath, [bin, ...args], { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  worker.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  worker.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise((resolve) => worker.once('exit', resolve));
  const stop = async () => {
    worker.kill('SIGTERM');
    await exited;
  };
  try {
    await eventually(async () => (output.includes(options.readyLine) ? true : undefined), options.timeoutMs ?? 120_000);
  } catch {
    await stop();
    throw new Error(`the worker did not start:\n${output}`);
  }
  // SIGKILL: the worker dies mid-work, as on a crashed host (nothing runs on the way out).
  const kill = async () => {
    worker.kill('SIGKILL');
    await exited;
  };
  return { output: () => output, stop, kill };
}

/** The JSON Lines a program appended to `file` (an action's receipts, say), one value per line; none when it wrote nothing. */
export function jsonLinesIn<T>(file: string): T[] {
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as T) : [];
}
