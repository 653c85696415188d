/**
 * The single Conveyor worker: runs the job and batch workflows and their activities on one task
 * queue. `npx tsx workers/worker.ts` (or `conveyor worker`) runs it against the configured cluster,
 * starting the embedded server when none is configured.
 */
import path from 'node:path';
import type { PayloadCodec } from '@temporalio/common';
import { bundleWorkflowCode, Runtime, Worker, type NativeConnection, type PatchActivationCallback, type WorkerPlugin, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createActivities } from '../activities';
import { builtinCatalogue } from './builtin-catalogue';
import { createFactoryActivities, createJobStartActivity } from '../activities/factory';
import type { Factory } from '../factory/define';
import { FactoryDefinitionError } from '../factory/validate';
import { loadFactoryModule, trainingFileProblems } from '../platform/factory-module';
import { supportFactory } from '../factories/support';
import { Outbox, type ActionReceiptStore } from '../activities/outbox';
import { PostgresOutbox } from '../activities/outbox-postgres';
import { openClaimStore, type ClaimStore } from '../platform/claims';
import { withWebhookActions } from '../activities/webhook';
import { conveyorSinks } from './metrics-sink';
import { createReviewerKeyActivities } from '../activities/reviewer-keys';
import { createEvaluationActivities } from '../activities/evaluation';
import { closeLearningActivities, createLearningActivities } from '../learning/activities';
import type { ExampleRepository } from '../learning/example-repository';
import { LiveModels } from '../learning/live';
import { createModelGateway } from '../providers/gateway';
import type { ModelGateway } from '../providers/gateway-types';
import { openRateLimiter } from '../providers/rate-limit';
import { keyringFromSettings, payloadCodecFromEnvironment, payloadCodecFromSettings } from '../platform/codec';
import { connectClient, connectWorkerConnection } from '../platform/connection';
import { installTracing, tracingPlugin, type Tracing } from '../platform/tracing';
import { createSharedRedis, type SharedRedis } from '../platform/redis';
import { installRuntimeLogging } from '../platform/logging';
import { closeAll } from '../platform/resources';
import { ensureTemporal } from '../platform/embedded-server';
import { loadSettings, type ConveyorSettings } from '../platform/settings';

// `.ts` when run from the sources (tsx, vitest), `.js` in the built package (dist/).
const sourceExtension = path.extname(__filename);
/** The engine's workflows (factory jobs, batches, evaluation, distill): a worker for any factory. */
export const workflowsPath = path.resolve(__dirname, '..', 'workflows', `index${sourceExtension}`);
/** The same plus the frozen first job workflow: the built-in factory's workers finish and replay jobs started on it. */
export const builtinWorkflowsPath = path.resolve(__dirname, '..', 'legacy', `bundle${sourceExtension}`);

export interface ConveyorWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  gateway: ModelGateway;
  outbox: ActionReceiptStore;
  /** Where claim-checked batches are read (default: PostgreSQL with CONVEYOR_DATABASE_URL, else the data dir's claims/). */
  claims?: ClaimStore;
  /** The factory whose job types the worker runs (default: the built-in support factory). */
  factory?: Factory;
  /** A pre-built bundle (tests bundle once per file); otherwise the worker bundles at start. */
  workflowBundle?: WorkflowBundleWithSourceMap;
  maxConcurrentActivityTaskExecutions?: number;
  maxCachedWorkflows?: number;
  /**
   * The share of the worker's workflow-task polls (10) that poll the task queue itself rather than the
   * worker's sticky queue (default STALL_FREE_POLL_RATIO, 1: 10 and 1; the SDK's own default is 0.2: 2 and
   * 8). A new job's first workflow task, where a job of local steps does all its work, is on the task
   * queue; the sticky queue carries the later tasks of runs that go on (a batch, a job waiting for a
   * signal or a remote call). With the SDK's split, batches stalled for 1–2 s near the end of every run of
   * 500 children, worker and server idle, while the last children's first tasks waited to be polled; with
   * 1 they did not (bench/results/batch-polls.md).
   */
  nonStickyToStickyPollRatio?: number;
  /**
   * Encrypts payloads on their way to the server (platform/codec.ts). undefined: the codec configured
   * in the environment (none without a key); null: plain payloads. Codecs run outside the workflow sandbox.
   */
  payloadCodec?: PayloadCodec | null;
  /** Where the learning loop keeps examples and promoted models (default: the settings' data dir). */
  dataDir?: string;
  /** Where collected examples go (default: Redis with CONVEYOR_EXAMPLES_REDIS_URL, else SQLite in the data dir). */
  exampleStore?: ExampleRepository;
  /**
   * Which `patched()` ids new workflow runs take (default: all). Tests leave a patch inactive to run
   * and record its old branch, as a worker predating the patch would (test/patch-branches.test.ts).
   */
  patchActivationCallback?: PatchActivationCallback;
  /** Where actions' `context.secret(variable)` reads secrets (default: the process's environment). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Traces workflows and activities (platform/tracing.ts); needs the worker to bundle its workflows (no `workflowBundle`). */
  tracing?: Tracing;
  /** A Redis the fleet shares, so job metrics count once across workers (workers/metrics-sink.ts). */
  metricsDedupe?: SharedRedis;
  /** The settings the activities' stores follow (see ConveyorActivityOptions.settings; default: from the environment). */
  settings?: ConveyorSettings;
}

/** The poll split that removed batches' stalls (ConveyorWorkerOptions.nonStickyToStickyPollRatio; bench/results/batch-polls.md). */
export const STALL_FREE_POLL_RATIO = 1;

export async function createConveyorWorker(options: ConveyorWorkerOptions): Promise<Worker> {
  installRuntimeLogging();
  const codec = options.payloadCodec === undefined ? payloadCodecFromEnvironment() : options.payloadCodec;
  const factory = options.factory ?? supportFactory;
  const conveyor = openConveyorActivities({
    factory,
    gateway: options.gateway,
    outbox: options.outbox,
    exampleStore: options.exampleStore,
    ...(options.claims ? { claims: options.claims } : {}),
    ...(options.dataDir !== undefined ? { dataDir: options.dataDir } : {}),
    ...(options.env ? { env: options.env } : {}),
    ...(options.settings !== undefined ? { settings: options.settings } : {}),
  });
  // What the activities opened is closed once the worker has stopped: `run()` returns after it.
  const closeWhenStopped: WorkerPlugin = {
    name: 'conveyor-activity-stores',
    async runWorker(worker, next) {
      try {
        await next(worker);
      } finally {
        await conveyor.close();
      }
    },
  };
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    ...(options.workflowBundle
      ? { workflowBundle: options.workflowBundle }
      : { workflowsPath: factory === supportFactory ? builtinWorkflowsPath : workflowsPath, bundlerOptions: { preloadModules: [...conveyorPreloadModules] } }),
    activities: conveyor.activities,
    maxConcurrentActivityTaskExecutions: options.maxConcurrentActivityTaskExecutions ?? 50,
    maxCachedWorkflows: options.maxCachedWorkflows,
    nonStickyToStickyPollRatio: options.nonStickyToStickyPollRatio ?? STALL_FREE_POLL_RATIO,
    // No more workflow tasks in flight than cache slots: the cache then evicts runs between their tasks
    // (they replay, and count nothing twice), never one mid-task, which would run that task again elsewhere.
    ...(options.maxCachedWorkflows !== undefined && options.maxCachedWorkflows > 0 ? { maxConcurrentWorkflowTaskExecutions: Math.max(2, Math.min(40, options.maxCachedWorkflows)) } : {}),
    ...(options.patchActivationCallback ? { patchActivationCallback: options.patchActivationCallback } : {}),
    ...(codec ? { dataConverter: { payloadCodecs: [codec] } } : {}),
    plugins: [...(options.tracing ? [tracingPlugin(options.tracing)] : []), closeWhenStopped],
    sinks: conveyorSinks(options.metricsDedupe ? { dedupe: options.metricsDedupe, log: (message) => console.warn(message) } : {}),
  });
}

export interface ConveyorActivityOptions {
  /** The factory whose stations and actions the activities run. */
  factory: Factory;
  gateway: ModelGateway;
  outbox: ActionReceiptStore;
  /** Where claim-checked batches are read (default: PostgreSQL with CONVEYOR_DATABASE_URL, else the data dir's claims/). */
  claims?: ClaimStore;
  /** Where the learning loop keeps examples and promoted models, and reviewers' keys are read (default: the settings' data dir). */
  dataDir?: string;
  exampleStore?: ExampleRepository;
  /** Where actions' `context.secret(variable)` reads secrets (default: the process's environment). */
  env?: Readonly<Record<string, string | undefined>>;
  /**
   * The settings the stores follow: the shared database (`databaseUrl`: registry, observations, claims,
   * examples, distill artifacts), the claims' encryption, the reviewers' keys file, the data dir (unless
   * `dataDir` is given). Default: loaded from the environment, as `conveyor worker` does.
   */
  settings?: ConveyorSettings;
}

/**
 * Every activity Conveyor's workflows and primitives call, for a worker of your own: register them with
 * `Worker.create({ activities: { ...yourActivities, ...conveyorActivities({ factory, gateway, outbox }) } })`.
 * What they open (the learning registry's and observations' stores, the claim store, the example store,
 * distill artifacts; PostgreSQL pools with CONVEYOR_DATABASE_URL) stays open for the process's life; a
 * worker that stops while its process goes on takes them from {@link openConveyorActivities}, which also
 * gives their `close()`.
 */
export function conveyorActivities(options: ConveyorActivityOptions) {
  return openConveyorActivities(options).activities;
}

export type ConveyorActivities = ReturnType<typeof openConveyorActivities>['activities'];

/**
 * Conveyor's activities (see {@link conveyorActivities}) and `close()`, which closes what they opened
 * once the worker that ran them has stopped (`await worker.run()` has returned; createConveyorWorker does
 * so itself). What was passed in (gateway, outbox, claims, exampleStore) is the caller's to close.
 */
export function openConveyorActivities(options: ConveyorActivityOptions) {
  const missing = trainingFileProblems(options.factory);
  if (missing.length > 0) throw new FactoryDefinitionError(missing);
  const settings = options.settings ?? loadSettings();
  const dataDir = options.dataDir ?? settings.dataDir;
  // The learning registry's promoted, canary and shadow models serve the small tier of learnable stations.
  const live = new LiveModels(dataDir, { databaseUrl: settings.databaseUrl });
  const ownClaims = options.claims ? undefined : openClaimStore({ databaseUrl: settings.databaseUrl, dataDir, encryption: settings.encryption });
  const claims = options.claims ?? ownClaims!;
  const engine = createActivities({ gateway: options.gateway, outbox: options.outbox, claims, catalogue: builtinCatalogue, live });
  const factoryActivities = createFactoryActivities({ factory: options.factory, gateway: options.gateway, outbox: options.outbox, live, ...(options.env ? { env: options.env } : {}) });
  const reviewerKeys = createReviewerKeyActivities({ dataDir, keysFile: settings.reviewerKeysFile });
  const learning = createLearningActivities({ factory: options.factory, dataDir, live, exampleStore: options.exampleStore, databaseUrl: settings.databaseUrl });
  const activities = {
    ...engine,
    ...factoryActivities,
    ...createJobStartActivity({
      loadJobDefinition: (request) => factoryActivities.loadJobDefinition(request),
      loadReviewerKeys: () => reviewerKeys.loadReviewerKeys(),
      loadModelCatalog: () => engine.loadModelCatalog(),
      screenInput: (request) => engine.screenInput(request),
      callStation: (request) => factoryActivities.callStation(request),
    }),
    ...createEvaluationActivities({ factory: options.factory }),
    ...learning,
    ...reviewerKeys,
  };
  return {
    activities,
    /** Closes what the activities opened; calls made after it open them again. */
    async close(): Promise<void> {
      await closeAll([{ close: () => closeLearningActivities(learning) }, live, ownClaims]);
    },
  };
}

/**
 * The factory a worker or the CLI uses: the module CONVEYOR_FACTORY (or --factory) names, checked when it
 * loads (a broken factory stops the worker with every problem named), else the built-in support factory.
 */
export function factoryFromSettings(settings: ConveyorSettings, modulePath = settings.factoryModule): Factory {
  if (!modulePath) return settings.actionsWebhookUrl ? withWebhookActions(supportFactory, { url: settings.actionsWebhookUrl, secretEnv: settings.actionsWebhookSecretEnv }) : supportFactory;
  const loaded = loadFactoryModule(modulePath);
  if (loaded.problems) throw new FactoryDefinitionError(loaded.problems);
  return loaded.factory;
}

/**
 * The modules of Conveyor's workflows that every workflow of a worker thread shares (the bundler's
 * `preloadModules`): the engine's entry and the factory job's interpreter with every module it imports
 * (workflows/factory-job.ts), the definition and catalogue interning (workflows/interned.ts) and the JSON
 * Schema → zod cache (workflows/schemas.ts, with zod itself). None keeps per-job state at module level:
 * a job's state lives in the objects its run creates, and a shared module holds only code, frozen
 * constants and content-keyed caches, so sharing them changes no result. Without them every cached
 * workflow re-evaluates each module and keeps its own copy (bench/results/engine-memory.md). The SDK
 * deep-freezes a shared module's exports, so these export no zod schema as a value (domain/job-request.ts
 * builds them on first use). A team bundling its own workflows with the primitives passes the same list.
 */
export const conveyorPreloadModules: readonly string[] = [
  'zod',
  ...['interned', 'schemas', 'index', 'factory-job'].map((module) => path.resolve(__dirname, '..', 'workflows', `${module}${sourceExtension}`)),
];

/** Bundles the workflows once (tests share a bundle per file): the built-in bundle unless `engineOnly`. */
export function bundleConveyorWorkflows(options: { engineOnly?: boolean } = {}): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({
    workflowsPath: options.engineOnly ? workflowsPath : builtinWorkflowsPath,
    preloadModules: [...conveyorPreloadModules],
    logger: { trace() {}, debug() {}, info() {}, warn() {}, error: console.error } as never,
  });
}

/**
 * The worker's action receipts: PostgreSQL with CONVEYOR_DATABASE_URL (shared by every worker host), else
 * the SQLite outbox at CONVEYOR_OUTBOX_FILE or outbox.sqlite in the data dir; sealed with the payload keys.
 */
export function defaultOutbox(settings: ConveyorSettings, keyring = keyringFromSettings(settings)): ActionReceiptStore {
  if (settings.databaseUrl) return new PostgresOutbox(settings.databaseUrl, keyring);
  return new Outbox(settings.outboxFile ?? path.join(settings.dataDir, 'outbox.sqlite'), keyring);
}

/** Runs a worker until SIGINT/SIGTERM. */
export async function runWorker(settings: ConveyorSettings = loadSettings(), log = (line: string) => console.log(line), factory = factoryFromSettings(settings)): Promise<void> {
  installRuntimeLogging(process.env, { metricsAddress: settings.metricsAddress });
  const tracing = settings.otlpTracesUrl ? installTracing(settings.otlpTracesUrl, 'conveyor-worker') : undefined;
  const metricsDedupe = settings.metricsRedisUrl ? createSharedRedis({ url: settings.metricsRedisUrl, closedMessage: 'the metrics dedupe store is closed' }) : undefined;
  // Read the keyring first, so a bad key fails before any server is started.
  const payloadCodec = payloadCodecFromSettings(settings) ?? null;
  const endpoint = await ensureTemporal(settings);
  const connection = await connectWorkerConnection(settings, endpoint.address);
  // With a shared database the fleet's workers hold each model's limits together (providers/README.md).
  const rateLimiter = openRateLimiter(settings);
  const gateway = createModelGateway({ rateLimiter });
  const outbox = defaultOutbox(settings);
  const claims = openClaimStore(settings);
  const worker = await createConveyorWorker({ connection, namespace: settings.namespace, taskQueue: settings.taskQueue, gateway, outbox, claims, payloadCodec, dataDir: settings.dataDir, factory, settings, maxCachedWorkflows: settings.maxCachedWorkflows, ...(settings.nonStickyPollRatio !== undefined ? { nonStickyToStickyPollRatio: settings.nonStickyPollRatio } : {}), ...(tracing ? { tracing } : {}), ...(metricsDedupe ? { metricsDedupe } : {}) });
  const encryption = payloadCodec ? `payloads encrypted with key "${payloadCodec.currentKeyId}"` : 'payloads not encrypted';
  const waiting = settings.metricsAddress ? await reportWaitingJobs(settings, endpoint.address) : undefined;
  log(`conveyor worker: factory ${factory.name} ${factory.version} (${[...factory.jobTypes.keys()].join(', ')}), task queue "${settings.taskQueue}" on ${endpoint.address} (namespace ${settings.namespace}, ${encryption})${settings.metricsAddress ? `, metrics on http://${settings.metricsAddress}/metrics` : ''}${tracing ? `, traces to ${settings.otlpTracesUrl}` : ''}`);
  try {
    await worker.run();
  } finally {
    await waiting?.stop();
    await tracing?.shutdown();
    await metricsDedupe?.close();
    await gateway.close();
    await rateLimiter.close();
    await outbox.close();
    await claims.close();
    await connection.close();
    await endpoint.stop();
  }
}

/** How often a worker with metrics counts the jobs that wait for a person. */
const WAITING_JOBS_INTERVAL_MS = 5_000;

/**
 * The gauge `conveyor_jobs_waiting{status, task_queue}`: running jobs of this task queue that wait for a
 * person (status `awaiting_approval` or `action_failed`), counted through visibility every few seconds —
 * the fleet's state, not this worker's, so every worker reports the same value (take `max` across them).
 */
async function reportWaitingJobs(settings: ConveyorSettings, address: string): Promise<{ stop(): Promise<void> }> {
  const client = await connectClient(settings, address);
  const gauge = Runtime.instance().metricMeter.createGauge('conveyor_jobs_waiting', 'int', 'job', 'Running jobs waiting for a person (an approval or a failed action), from visibility');
  const count = async () => {
    for (const status of ['awaiting_approval', 'action_failed'] as const) {
      const { count: value } = await client.workflow.count(`ConveyorStatus = "${status}" AND ExecutionStatus = "Running" AND TaskQueue = "${settings.taskQueue.replace(/"/g, '')}"`);
      gauge.set(value, { status, task_queue: settings.taskQueue });
    }
  };
  await count().catch(() => undefined);
  const timer = setInterval(() => void count().catch(() => undefined), WAITING_JOBS_INTERVAL_MS);
  return {
    async stop() {
      clearInterval(timer);
      await client.connection.close();
    },
  };
}

if (require.main === module) {
  runWorker().catch((error: unknown) => {
    console.error(error instanceof Error ? `${error.name}: ${error.message}` : error);
    process.exit(1);
  });
}
