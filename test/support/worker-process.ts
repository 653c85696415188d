/**
 * Conveyor's real worker entry point (`workers/worker.ts`, what `conveyor worker` runs) in a process of
 * its own, as another host would run it: it gets exactly the environment a test gives it (no Conveyor,
 * Temporal or provider variable of the test process leaks in), and is ready once it prints its
 * `conveyor worker:` line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

export interface WorkerProcess {
  name: string;
  child: ChildProcess;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** SIGTERM (the worker drains and exits), SIGKILL after `graceMs`; resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
}

/** The process's environment without any Conveyor, Temporal, provider or OpenTelemetry variable. */
export function cleanEnvironment(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(CONVEYOR_|TEMPORAL_|OPENAI_|ANTHROPIC_|OTEL_)/.test(name)));
}

/** Starts `workers/worker.ts` with the clean environment plus `env`; resolves once the worker is ready. */
export function startWorkerProcess(name: string, env: NodeJS.ProcessEnv): Promise<WorkerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join('workers', 'worker.ts')], {
    cwd: path.resolve(__dirname, '..', '..'),
    env: { ...cleanEnvironment(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const chunks: string[] = [];
  const output = () => chunks.join('');
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const worker: WorkerProcess = {
    name,
    child,
    output,
    async stop(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
      child.kill('SIGTERM');
      await exited;
      clearTimeout(kill);
    },
  };
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      chunks.push(chunk.toString());
      if (output().includes('conveyor worker:')) resolve(worker);
    });
    child.stderr.on('data', (chunk: Buffer) => chunks.push(chunk.toString()));
    child.on('exit', (code) => reject(new Error(`worker ${name} exited (${code}) before it was ready:\n${output()}`)));
  });
}
