/**
 * One chaos worker in a process of its own, so the chaos runner can SIGKILL it: Conveyor's real worker
 * (real gateway, real outbox, real cache store chosen by the environment) on a workflow bundle the
 * runner built once. Besides working it leaves evidence that survives a SIGKILL: every outbox write is
 * appended synchronously to a shared executions log (key, whether it inserted the row, pid), so is every
 * model answer the moment the worker holds it, and the gateway's cache counters are rewritten to a
 * per-process stats file every 250 ms.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Outbox, type OutboxRow } from '../activities/outbox';
import { connectWorkerConnection } from '../platform/connection';
import { installRuntimeLogging } from '../platform/logging';
import { loadSettings } from '../platform/settings';
import { createModelGateway } from '../providers/gateway';
import { createOpenAICompatibleProvider } from '../providers/openai-compatible';
import type { ModelProvider } from '../providers/port';
import { jobTokenPattern, repairMarker, stepKeyOf, type ChaosWorkerConfig, type ExecutionLogLine, type ReceivedLogLine, type WorkerStatsFile } from './evidence';
import { createConveyorWorker } from '../workers/worker';

/**
 * The real openai-compatible provider, noting each answer the moment this worker has it: the runner can
 * then tell an answer the worker held (and should never pay for again) from one that died with it.
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
      fs.appendFileSync(config.receivedLog, `${JSON.stringify(line)}\n`);
      return response;
    },
  };
}

/** The real outbox, with each write's outcome appended to the executions log before the activity returns. */
class RecordingOutbox extends Outbox {
  constructor(
    file: string,
    private readonly config: ChaosWorkerConfig,
  ) {
    super(file);
  }

  override execute(row: Omit<OutboxRow, 'executedAt'>, now = new Date()): { firstExecution: boolean; executedAt: string } {
    const receipt = super.execute(row, now);
    const line: ExecutionLogLine = { idempotencyKey: row.idempotencyKey, firstExecution: receipt.firstExecution, worker: this.config.name, pid: process.pid };
    fs.appendFileSync(this.config.executionsLog, `${JSON.stringify(line)}\n`);
    return receipt;
  }
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '{}') as ChaosWorkerConfig;
  installRuntimeLogging();
  const settings = loadSettings({ TEMPORAL_ADDRESS: config.address, TEMPORAL_NAMESPACE: config.namespace, CONVEYOR_DATA_DIR: config.dataDir });
  const connection = await connectWorkerConnection(settings, config.address);
  const gateway = createModelGateway({
    providers: { 'openai-compatible': recordingProvider(config) },
    log: (message) => console.warn(`[${config.name}] ${message}`),
  });
  const outbox = new RecordingOutbox(path.join(config.dataDir, 'outbox.sqlite'), config);
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
    outbox.close();
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
