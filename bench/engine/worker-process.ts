/**
 * One benchmark worker in a process of its own, so its memory can be read apart from the server's and
 * the benchmark client's. `kind: 'conveyor'` runs Conveyor's worker (job and batch workflows, the real
 * activities over the no-op gateway); `kind: 'raw'` runs the raw baseline of raw-workflow.ts with the
 * same worker options. Started by worker-handle.ts with a JSON config as its only argument; it answers
 * `memory` requests (after a full GC when started with --expose-gc) and stops on `stop` over IPC. On the
 * cluster the parent sets CONVEYOR_DATABASE_URL in this process's environment (never in the config, which
 * `ps` shows), so the Conveyor worker keeps its receipts, claims and observations in the shared stores as a
 * worker of a fleet does; on the embedded server it keeps them under the data dir.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { connectWorkerConnection } from '../../platform/connection';
import { installRuntimeLogging } from '../../platform/logging';
import { loadSettings } from '../../platform/settings';
import { createConveyorWorker, defaultOutbox, STALL_FREE_POLL_RATIO } from '../../workers/worker';
import { approvalAnswers, createNoopGateway, createRemoteLikeGateway, noopAnswers } from './noop-provider';
import { rawActivities } from './raw-workflow';

export interface WorkerProcessConfig {
  kind: 'conveyor' | 'raw';
  address: string;
  namespace: string;
  taskQueue: string;
  /** A workflow bundle written by the parent (bundled once per run). */
  bundleFile: string;
  dataDir: string;
  maxCachedWorkflows?: number;
  maxConcurrentActivityTaskExecutions: number;
  /** The remote-like model server: the Conveyor worker's models become OpenAI-compatible models there. */
  remoteModelUrl?: string;
  /** The no-op model proposes a refund that needs approval, with records of realistic size (noop-provider.ts approvalAnswers). */
  proposeApprovals?: boolean;
}

export type WorkerProcessRequest = { type: 'memory'; requestId: number } | { type: 'stop' };

/** One thread's V8 heap after its collection (thread-gc.cjs heapOfThisThread). */
export interface HeapReading {
  /** What the heap's pages occupy in RAM. */
  physicalBytes: number;
  /** Live objects. */
  usedBytes: number;
  /** V8's own malloc'd memory outside the heap pages. */
  mallocedBytes: number;
  /** The young generation's pages, part of physicalBytes. */
  youngPhysicalBytes: number;
}

const { heapOfThisThread } = createRequire(__filename)('./thread-gc.cjs') as { heapOfThisThread: () => HeapReading };

export interface MemoryReport {
  rssBytes: number;
  heapUsedBytes: number;
  externalBytes: number;
  cachedWorkflows: number;
  gcAvailable: boolean;
  /** Workflow threads that ran a full GC of their own heap before the reading (thread-gc.cjs). */
  workflowThreadsCollected: number;
  /** The main thread's heap, and the workflow threads' heaps summed, after the collections. */
  mainHeap: HeapReading;
  workflowHeaps: HeapReading;
}

function sumHeaps(readings: readonly HeapReading[]): HeapReading {
  const total: HeapReading = { physicalBytes: 0, usedBytes: 0, mallocedBytes: 0, youngPhysicalBytes: 0 };
  for (const reading of readings) for (const key of Object.keys(total) as (keyof HeapReading)[]) total[key] += reading[key];
  return total;
}

export type WorkerProcessMessage =
  | { type: 'ready' }
  | { type: 'memory'; requestId: number; report: MemoryReport }
  | { type: 'failed'; message: string };

function send(message: WorkerProcessMessage): void {
  process.send?.(message);
}

/** Asks every workflow thread (thread-gc.cjs) for a full GC of its heap; resolves with each collected thread's heap after it, within `waitMs`. */
async function collectWorkflowThreads(requestId: number, waitMs = 400): Promise<Map<number, HeapReading>> {
  const answers = new BroadcastChannel('conveyor-bench-thread-gc-done');
  const threads = new Map<number, HeapReading>();
  answers.onmessage = (event) => {
    const answer = (event as { data: { requestId: number; threadId: number; collected: boolean; heap: HeapReading } }).data;
    if (answer.requestId === requestId && answer.collected) threads.set(answer.threadId, answer.heap);
  };
  const requests = new BroadcastChannel('conveyor-bench-thread-gc');
  requests.postMessage({ requestId });
  requests.close();
  await new Promise((resolve) => setTimeout(resolve, waitMs));
  answers.close();
  return threads;
}

let collectRequests = 0;

async function settledMemory(worker: Worker): Promise<MemoryReport> {
  const gc = (globalThis as { gc?: () => void }).gc;
  let workflowThreads = new Map<number, HeapReading>();
  for (let round = 0; round < 3; round++) {
    workflowThreads = await collectWorkflowThreads(++collectRequests);
    gc?.();
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
  const usage = process.memoryUsage();
  return {
    rssBytes: usage.rss,
    heapUsedBytes: usage.heapUsed,
    externalBytes: usage.external,
    cachedWorkflows: worker.getStatus().numCachedWorkflows,
    gcAvailable: gc !== undefined,
    workflowThreadsCollected: workflowThreads.size,
    mainHeap: heapOfThisThread(),
    workflowHeaps: sumHeaps([...workflowThreads.values()]),
  };
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '{}') as WorkerProcessConfig;
  installRuntimeLogging();
  const settings = loadSettings({
    TEMPORAL_ADDRESS: config.address,
    TEMPORAL_NAMESPACE: config.namespace,
    CONVEYOR_DATA_DIR: config.dataDir,
    CONVEYOR_OUTBOX_FILE: path.join(config.dataDir, `outbox-${process.pid}.sqlite`),
    CONVEYOR_DATABASE_URL: loadSettings().databaseUrl,
  });
  const connection = await connectWorkerConnection(settings, config.address);
  const gateway = config.remoteModelUrl ? createRemoteLikeGateway(config.remoteModelUrl) : createNoopGateway(config.proposeApprovals ? approvalAnswers : noopAnswers);
  const outbox = config.kind === 'conveyor' ? defaultOutbox(settings) : undefined;
  const code = fs.readFileSync(config.bundleFile, 'utf8');
  const worker = outbox
    ? await createConveyorWorker({
        connection,
        namespace: config.namespace,
        taskQueue: config.taskQueue,
        gateway,
        outbox,
        workflowBundle: { code, sourceMap: '' },
        maxCachedWorkflows: config.maxCachedWorkflows,
        maxConcurrentActivityTaskExecutions: config.maxConcurrentActivityTaskExecutions,
      })
    : await Worker.create({
        connection,
        namespace: config.namespace,
        taskQueue: config.taskQueue,
        workflowBundle: { code },
        activities: rawActivities,
        maxCachedWorkflows: config.maxCachedWorkflows,
        // The Conveyor worker's default split of workflow-task polls, so the yardsticks measure the engine, not a setting (bench/results/batch-polls.md).
        nonStickyToStickyPollRatio: STALL_FREE_POLL_RATIO,
        maxConcurrentActivityTaskExecutions: config.maxConcurrentActivityTaskExecutions,
      });

  process.on('message', (request: WorkerProcessRequest) => {
    if (request.type === 'stop') {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      return;
    }
    settledMemory(worker).then(
      (report) => send({ type: 'memory', requestId: request.requestId, report }),
      (error: unknown) => send({ type: 'failed', message: String(error) }),
    );
  });
  // The parent going away (a crashed benchmark) must not leave this worker polling forever.
  process.on('disconnect', () => {
    if (worker.getState() === 'RUNNING') worker.shutdown();
  });

  const running = worker.run();
  send({ type: 'ready' });
  try {
    await running;
  } finally {
    await gateway.close();
    await outbox?.close();
    await connection.close();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    send({ type: 'failed', message: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
    process.exit(1);
  },
);
