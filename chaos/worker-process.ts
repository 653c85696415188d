/**
 * One chaos worker in a process of its own, so the chaos runner can SIGKILL it: Conveyor's real worker
 * (real gateway, real outbox, real cache store chosen by the environment) on a workflow bundle the
 * runner built once. Besides working it leaves evidence that survives a SIGKILL: every outbox write is
 * appended synchronously to a shared executions log (key, whether it inserted the row, pid), so is every
 * model answer the moment the worker holds it, and the gateway's cache counters are rewritten to a
 * per-process stats file every 250 ms. The action receipts go where a real worker's go (`defaultOutbox`):
 * the SQLite outbox in the worker's data dir, or PostgreSQL when the runner sets CONVEYOR_DATABASE_URL.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import fs from 'node:fs';
import type { ActionExecution, ActionReceiptStore, OutboxRow } from '../activities/outbox';
import { connectWorkerConnection } from '../platform/connection';
import { installRuntimeLogging } from '../platform/logging';
import { loadSettings } from '../platform/settings';
import { createModelGateway } from '../providers/gateway';
import { createOpenAICompatibleProvider } from '../providers/openai-compatible';
import type { ModelProvider } from '../providers/port';
import { openRateLimiter } from '../providers/rate-limit';
import { jobTokenPattern, repairMarker, stepKeyOf, type ChaosWorkerConfig, type ExecutionLogLine, type ReceivedLogLine, type WorkerStatsFile } from './evidence';
import { createConveyorWorker, defaultOutbox } from '../workers/worker';

/** The answers one gateway call has received so far: they count as held only once the call returns with them. */
const answersOfThisCall = new AsyncLocalStorage<ReceivedLogLine[]>();

/**
 * The real openai-compatible provider, noting each answer this worker receives. The note is written when
 * the gateway call that asked for it returns (the answer is then cached and on its way into the history),
 * so the runner can tell an answer the worker kept (and should never pay for again) from one that died
 * with it: a SIGKILL between the bytes arriving and the gateway keeping them (validation, a schema repair,
 * the cache write) loses the answer, and asking again is not paying twice for a kept one.
 */
function recordingProvider(config: ChaosWorkerConfig): ModelProvider {
  const provider = createOpenAICompatibleProvider({ env: process.env });
  return {
    kind: provider.kind,
    async generate(request) {
      const response = await provider.generate(request);
      const line: ReceivedLogLine = {
        stepKey: stepKeyOf(jobTokenPattern.exec(request.prompt)?.[1], request.schemaName, request.model.providerModel),
        repair: request.prompt.includes(repairMarker),
        at: Date.now(),
        worker: config.name,
      };
      const pending = answersOfThisCall.getStore();
      if (pending) pending.push(line);
      else fs.appendFileSync(config.receivedLog, `${JSON.stringify(line)}\n`);
      return response;
    },
  };
}

/** The gateway, writing the answers a call received to the received log once the call has returned with them. */
function recordingGateway<Gateway extends ReturnType<typeof createModelGateway>>(gateway: Gateway, config: ChaosWorkerConfig): Gateway {
  return {
    ...gateway,
    async call(call: Parameters<Gateway['call']>[0]) {
      const received: ReceivedLogLine[] = [];
      const outcome = await answersOfThisCall.run(received, () => gateway.call(call));
      if (received.length > 0) fs.appendFileSync(config.receivedLog, received.map((line) => `${JSON.stringify(line)}\n`).join(''));
      return outcome;
    },
  };
}

/** The worker's real receipt store, with each write's outcome appended to the executions log before the activity returns. */
class RecordingReceipts implements ActionReceiptStore {
  readonly kind: ActionReceiptStore['kind'];

  constructor(
    private readonly store: ActionReceiptStore,
    private readonly config: ChaosWorkerConfig,
  ) {
    this.kind = store.kind;
  }

  find(idempotencyKey: string): Promise<OutboxRow | undefined> {
    return this.store.find(idempotencyKey);
  }

  async execute(row: Omit<OutboxRow, 'executedAt'>, now = new Date()): Promise<ActionExecution> {
    const receipt = await this.store.execute(row, now);
    const line: ExecutionLogLine = { idempotencyKey: row.idempotencyKey, firstExecution: receipt.firstExecution, worker: this.config.name, pid: process.pid };
    fs.appendFileSync(this.config.executionsLog, `${JSON.stringify(line)}\n`);
    return receipt;
  }

  rows(jobId?: string): Promise<OutboxRow[]> {
    return this.store.rows(jobId);
  }

  close(): Promise<void> {
    return this.store.close();
  }
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '{}') as ChaosWorkerConfig;
  installRuntimeLogging();
  // The runner's environment (CONVEYOR_DATABASE_URL in cluster mode), with this worker's server and data dir.
  const settings = loadSettings({ ...process.env, TEMPORAL_ADDRESS: config.address, TEMPORAL_NAMESPACE: config.namespace, CONVEYOR_DATA_DIR: config.dataDir });
  const connection = await connectWorkerConnection(settings, config.address);
  const rateLimiter = openRateLimiter(settings);
  const gateway = recordingGateway(
    createModelGateway({
      providers: { 'openai-compatible': recordingProvider(config) },
      rateLimiter,
      log: (message) => console.warn(`[${config.name}] ${message}`),
    }),
    config,
  );
  const outbox = new RecordingReceipts(defaultOutbox(settings), config);
  const writeStats = () => {
    const stats: WorkerStatsFile = { worker: config.name, pid: process.pid, ...gateway.cacheStats() };
    // Write then rename, so a SIGKILL leaves the previous counters rather than half a file.
    fs.writeFileSync(`${config.statsFile}.tmp`, JSON.stringify(stats));
    fs.renameSync(`${config.statsFile}.tmp`, config.statsFile);
  };
  const statsTimer = setInterval(writeStats, 250);
  // A blocked event loop holds answers the provider already delivered: log long stalls.
  let lastTick = Date.now();
  const stallTimer = setInterval(() => {
    const stalled = Date.now() - lastTick - 100;
    if (stalled > 1_000) console.warn(`[${config.name}] event loop stalled ${stalled} ms`);
    lastTick = Date.now();
  }, 100);
  const worker = await createConveyorWorker({
    connection,
    namespace: config.namespace,
    taskQueue: config.taskQueue,
    gateway,
    outbox,
    workflowBundle: { code: fs.readFileSync(config.bundleFile, 'utf8'), sourceMap: '' },
  });
  const stop = () => {
    if (worker.getState() === 'RUNNING') worker.shutdown();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  console.log(`[${config.name}] chaos worker ${process.pid} polling "${config.taskQueue}" on ${config.address}`);
  try {
    await worker.run();
  } finally {
    clearInterval(statsTimer);
    clearInterval(stallTimer);
    writeStats();
    await gateway.close();
    await rateLimiter.close();
    await outbox.close();
    await connection.close();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error instanceof Error ? `${error.name}: ${error.message}` : error);
    process.exit(1);
  },
);
