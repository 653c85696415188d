/**
 * The benchmark's side of a worker process (worker-process.ts): forks it under tsx with --expose-gc,
 * waits until it polls, asks it for its memory, reads its peak RSS from /proc, and stops it — by IPC
 * first, by SIGKILL of that one process id if it does not exit in time.
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { BenchContext } from './figures';
import { peakRssBytes } from './measure';
import type { MemoryReport, WorkerProcessConfig, WorkerProcessMessage, WorkerProcessRequest } from './worker-process';

const entry = path.join(__dirname, 'worker-process.ts');

export interface WorkerHandle {
  readonly pid: number;
  readonly config: WorkerProcessConfig;
  memory(): Promise<MemoryReport>;
  /** VmHWM: the highest RSS this process has had since it started. */
  peakRssBytes(): number | undefined;
  stop(): Promise<void>;
}

/** `databaseUrl`: the shared stores' database (the cluster's), passed in the environment; none: the data dir's stores. */
/** Runs in every thread of the worker process: the workflow threads collect their own heaps on request (thread-gc.cjs). */
const threadGcHook = path.join(__dirname, 'thread-gc.cjs');

export async function startWorkerProcess(config: WorkerProcessConfig, databaseUrl?: string): Promise<WorkerHandle> {
  const child: ChildProcess = fork(entry, [JSON.stringify(config)], {
    execArgv: ['--import', 'tsx', '--expose-gc', '--require', threadGcHook],
    // The run chooses the stores, never the operator's environment (an undefined variable is not passed on).
    env: { ...process.env, CONVEYOR_DATABASE_URL: databaseUrl },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('the benchmark worker process did not start');
  let exited = child.exitCode !== null;
  const exit = new Promise<void>((resolve) => child.once('exit', () => {
    exited = true;
    resolve();
  }));
  const waiting = new Map<number, { resolve: (report: MemoryReport) => void; reject: (error: Error) => void }>();
  let nextRequestId = 1;

  const ready = new Promise<void>((resolve, reject) => {
    child.on('message', (message: WorkerProcessMessage) => {
      if (message.type === 'ready') resolve();
      else if (message.type === 'memory') waiting.get(message.requestId)?.resolve(message.report);
      else {
        const error = new Error(`benchmark worker (${config.kind}) failed: ${message.message}`);
        reject(error);
        for (const pending of waiting.values()) pending.reject(error);
      }
    });
    void exit.then(() => reject(new Error(`benchmark worker (${config.kind}) exited before it was ready`)));
  });

  const stop = async () => {
    if (exited) return;
    if (child.connected) child.send({ type: 'stop' } satisfies WorkerProcessRequest);
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await exit;
    clearTimeout(timer);
  };

  try {
    await ready;
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    pid,
    config,
    memory() {
      const requestId = nextRequestId++;
      return new Promise<MemoryReport>((resolve, reject) => {
        waiting.set(requestId, {
          resolve: (report) => {
            waiting.delete(requestId);
            resolve(report);
          },
          reject,
        });
        child.send({ type: 'memory', requestId } satisfies WorkerProcessRequest);
      });
    },
    peakRssBytes: () => peakRssBytes(pid),
    stop,
  };
}

/** Starts a Conveyor or raw worker for this run, both with the same worker options, on the context's server. */
export function startBenchWorker(
  context: BenchContext,
  kind: WorkerProcessConfig['kind'],
  taskQueue: string,
  options: { maxCachedWorkflows?: number; remoteModelUrl?: string; proposeApprovals?: boolean } = {},
): Promise<WorkerHandle> {
  return startWorkerProcess({
    kind,
    address: context.address,
    namespace: context.namespace,
    taskQueue,
    bundleFile: kind === 'conveyor' ? context.conveyorBundleFile : context.rawBundleFile,
    dataDir: context.dataDir,
    maxCachedWorkflows: options.maxCachedWorkflows,
    maxConcurrentActivityTaskExecutions: 50,
    ...(options.remoteModelUrl ? { remoteModelUrl: options.remoteModelUrl } : {}),
    ...(options.proposeApprovals ? { proposeApprovals: true } : {}),
  }, context.databaseUrl);
}
