/**
 * The chaos suite's machinery: a real embedded Temporal server per scenario that can be SIGKILLed and
 * started again on the same SQLite file, a fleet of worker processes (chaos/worker-process.ts) that can
 * be SIGKILLed and restarted, a fake OpenAI-protocol model server that injects seeded faults and records
 * which calls were paid, and the accounting that turns what the server, the outbox and the provider saw
 * into the numbers of one result row. Everything listens on 127.0.0.1 and every process is stopped.
 * In cluster mode the server is platform/cluster.ts's (the real Temporal Server on PostgreSQL), each
 * worker has a data dir of its own, as on a host of its own, and the shared state (action receipts, the
 * model cache, claims…) is in PostgreSQL, where the accounting reads the receipts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure, WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import { Outbox, type ActionReceiptStore } from '../activities/outbox';
import { ConveyorClient } from '../client';
import type { JobResult } from '../domain/job';
import type { ModelSpec } from '../domain/models';
import { startCluster, type Cluster } from '../platform/cluster';
import { freePort, startEmbeddedServer, type TemporalEndpoint } from '../platform/embedded-server';
import { childProcesses, procCommandLine } from '../platform/proc';
import { loadSettings, type ConveyorSettings } from '../platform/settings';
import { loadRegistry } from '../providers/registry';
import { bundleConveyorWorkflows, defaultOutbox } from '../workers/worker';
import type { BatchResult } from '../workflows/batch';
import { answers, contentOf, startScriptedServer, type FakeAnswer, type RecordedRequest } from '../fakes/scripted-server';
import { supportTicketAnswer } from '../fakes/station-answers';
import { jobTokenPattern, repairMarker, stepKeyOf, type ChaosWorkerConfig, type ExecutionLogLine, type ReceivedLogLine, type WorkerStatsFile } from './evidence';

const repoRoot = path.resolve(__dirname, '..');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- the Temporal server ---------------------------------------------------------------------------

export interface ChaosTemporal {
  settings: ConveyorSettings;
  address: string;
  /** SIGKILLs the server process (no shutdown of any kind). */
  kill(): Promise<void>;
  /** Starts the server again on the same SQLite file and ports. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** Child processes of this process whose command line mentions `needle` (the server's SQLite file). */
function childPidsMentioning(needle: string): number[] {
  return childProcesses()
    .filter((child) => procCommandLine(child.pid)?.includes(needle))
    .map((child) => child.pid);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function startChaosTemporal(dataDir: string): Promise<ChaosTemporal> {
  const settings = loadSettings({
    CONVEYOR_DATA_DIR: dataDir,
    CONVEYOR_GRPC_PORT: String(await freePort()),
    CONVEYOR_UI_PORT: String(await freePort()),
  });
  const quiet = () => {};
  let endpoint: TemporalEndpoint = await startEmbeddedServer(settings, { log: quiet });
  const dbFile = endpoint.dbFile ?? path.join(dataDir, 'temporal.sqlite');
  return {
    settings,
    address: endpoint.address,
    async kill() {
      // startEmbeddedServer keeps its child to itself; the server is this process's child running on dbFile.
      const pids = childPidsMentioning(dbFile);
      if (pids.length === 0) throw new Error(`no Temporal server process found for ${dbFile}`);
      for (const pid of pids) process.kill(pid, 'SIGKILL');
      const deadline = Date.now() + 10_000;
      while (pids.some(isAlive) && Date.now() < deadline) await sleep(50);
      await endpoint.stop();
    },
    async restart() {
      // Same gRPC address (clients and workers reconnect to it), a fresh UI port: while the server was
      // down another process may have taken the old one, and nothing in a chaos run reads the UI.
      endpoint = await startEmbeddedServer({ ...settings, embeddedUiPort: await freePort() }, { log: quiet });
    },
    stop: () => endpoint.stop(),
  };
}

export interface ChaosCluster extends ChaosTemporal {
  cluster: Cluster;
}

/**
 * The cluster of platform/cluster.ts in `dir` as a chaos server: `kill` SIGKILLs the Temporal Server
 * process, `restart` starts it again on the same PostgreSQL. PostgreSQL runs in the cluster's fast mode
 * (no fsync, asynchronous commit), which a clean PostgreSQL restart keeps every commit through and a
 * SIGKILL of PostgreSQL does not (the last commits the server acknowledged are gone); `durable` keeps
 * PostgreSQL's defaults (fsync, synchronous commit) for a scenario that SIGKILLs it.
 */
export async function startChaosCluster(dir: string, options: { durable?: boolean } = {}): Promise<ChaosCluster> {
  const cluster = await startCluster({ dir, fast: !options.durable, log: () => {} });
  return {
    cluster,
    settings: loadSettings({ TEMPORAL_ADDRESS: cluster.temporalAddress, TEMPORAL_NAMESPACE: cluster.namespace, CONVEYOR_DATA_DIR: dir }),
    address: cluster.temporalAddress,
    kill: () => cluster.killTemporal(),
    restart: () => cluster.startTemporal(),
    stop: () => cluster.stop(),
  };
}

// ---- the workflow bundle ---------------------------------------------------------------------------

/** Bundles the workflows once per run; every worker process loads the same file. */
export async function writeWorkflowBundle(dir: string): Promise<string> {
  const bundle = await bundleConveyorWorkflows();
  const file = path.join(dir, 'workflows.bundle.js');
  fs.writeFileSync(file, bundle.code);
  return file;
}

// ---- worker processes ------------------------------------------------------------------------------

export interface WorkerFleet {
  start(name: string): void;
  /** SIGKILLs the named worker and waits until it is gone. */
  kill(name: string): Promise<void>;
  /** Exits nobody asked for (each is restarted, as a process supervisor would). */
  unplannedExits(): number;
  logs(): string;
  stop(): Promise<void>;
}

export function startWorkerFleet(options: {
  names: string[];
  temporal: ChaosTemporal;
  taskQueue: string;
  dataDir: string;
  bundleFile: string;
  registryFile: string;
  extraEnv?: Record<string, string>;
  /** Each worker's CONVEYOR_DATA_DIR is a folder of its own under dataDir/hosts (the evidence logs stay shared). */
  ownDataDirs?: boolean;
}): WorkerFleet {
  const running = new Map<string, ChildProcess>();
  const plannedExit = new Set<ChildProcess>();
  let unplanned = 0;
  let stopping = false;
  const logFile = path.join(options.dataDir, 'workers.log');
  const env: NodeJS.ProcessEnv = { ...process.env, CONVEYOR_MODELS_FILE: options.registryFile, CONVEYOR_DATA_DIR: options.dataDir, ...options.extraEnv };
  // Only the registry file decides the models: no remote model may join from the environment.
  // Nor a shared store the scenario did not choose (CONVEYOR_DATABASE_URL is the cluster's, given in extraEnv).
  for (const variable of ['OPENAI_BASE_URL', 'ANTHROPIC_API_KEY', 'CONVEYOR_CACHE_REDIS_URL', 'CONVEYOR_CACHE', 'TEMPORAL_ADDRESS', 'CONVEYOR_DATABASE_URL', 'CONVEYOR_OUTBOX_FILE']) {
    if (!options.extraEnv?.[variable]) delete env[variable];
  }

  const start = (name: string) => {
    const workerDataDir = options.ownDataDirs ? path.join(options.dataDir, 'hosts', name) : options.dataDir;
    fs.mkdirSync(workerDataDir, { recursive: true });
    const config: ChaosWorkerConfig = {
      name,
      address: options.temporal.address,
      namespace: options.temporal.settings.namespace,
      taskQueue: options.taskQueue,
      dataDir: workerDataDir,
      bundleFile: options.bundleFile,
      executionsLog: path.join(options.dataDir, 'executions.log'),
      receivedLog: path.join(options.dataDir, 'received.log'),
      statsFile: path.join(options.dataDir, `stats-${name}-${Date.now()}.json`),
    };
    const log = fs.openSync(logFile, 'a');
    // `node --import tsx`, not the tsx CLI: the CLI runs the script in a child process of its own, so a
    // SIGKILL would kill only the wrapper and leave the real worker running as an orphan.
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'worker-process.ts'), JSON.stringify(config)], {
      cwd: repoRoot,
      env: { ...env, CONVEYOR_DATA_DIR: workerDataDir },
      stdio: ['ignore', log, log],
    });
    fs.closeSync(log);
    running.set(name, child);
    child.once('exit', () => {
      if (plannedExit.has(child) || stopping) return;
      unplanned++;
      if (running.get(name) === child) setTimeout(() => !stopping && start(name), 1_000);
    });
  };

  const exited = (child: ChildProcess) =>
    child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise<void>((resolve) => child.once('exit', () => resolve()));

  for (const name of options.names) start(name);
  return {
    start,
    async kill(name) {
      const child = running.get(name);
      if (!child) throw new Error(`no worker named ${name}`);
      plannedExit.add(child);
      child.kill('SIGKILL');
      await exited(child);
    },
    unplannedExits: () => unplanned,
    logs: () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : ''),
    async stop() {
      stopping = true;
      const children = [...running.values()];
      for (const child of children) {
        plannedExit.add(child);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      }
      const forceKill = setTimeout(() => children.forEach((child) => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL')), 10_000);
      await Promise.all(children.map(exited));
      clearTimeout(forceKill);
    },
  };
}

// ---- the model endpoint ----------------------------------------------------------------------------

export type ProviderAnswerKind = 'answer' | 'rate-limited' | 'server-error' | 'reset' | 'slow' | 'malformed' | 'refused';

export interface ProviderCall {
  model: string;
  station: string;
  /** The job's order number, which every prompt of the job carries. */
  jobToken: string | undefined;
  repair: boolean;
  promptKey: string;
  /** What the server was told to answer. */
  kind: ProviderAnswerKind;
  /** A complete 200 completion was written to a client still listening: a call the provider bills. */
  paid: boolean;
  receivedAt: number;
}

export interface FaultPlan {
  /** Share of calls that get a fault (0 for none). */
  rate: number;
  seed: number;
  /** The fake models' timeout; a "slow" answer takes longer than this. */
  modelTimeoutMs: number;
  /** Every answer takes this long, so a SIGKILL finds calls in flight. */
  latencyMs?: number;
}

export interface ChaosModelServer {
  url: string;
  calls: ProviderCall[];
  close(): Promise<void>;
}

const faultKinds: Exclude<ProviderAnswerKind, 'answer' | 'refused'>[] = ['rate-limited', 'server-error', 'reset', 'slow', 'malformed'];

/** A number in [0, 1) from a hash: the same seed and call get the same fault whatever the call order. */
function unitHash(...parts: (string | number)[]): number {
  return createHash('sha256').update(parts.join('\u0000')).digest().readUInt32BE(0) / 2 ** 32;
}

function describeRequest(request: RecordedRequest) {
  const body = request.body as { model?: string; messages?: { role: string; content: string }[]; response_format?: { json_schema?: { name?: string } } };
  const messages = body.messages ?? [];
  const user = messages.filter((message) => message.role === 'user').map((message) => message.content).join('\n');
  return {
    model: body.model ?? '',
    station: body.response_format?.json_schema?.name ?? (messages[0]?.content ?? '').slice(0, 24),
    jobToken: jobTokenPattern.exec(user)?.[1],
    repair: user.includes(repairMarker),
    promptKey: `${body.model ?? ''}\u0000${JSON.stringify(messages)}`,
  };
}

/**
 * The OpenAI chat-completions protocol of fakes/openai-server.ts, on the shared scripted server;
 * `success` runs only when a completion is actually written, which is what marks a call as paid.
 */
export async function startChaosModelServer(faults: FaultPlan): Promise<ChaosModelServer> {
  const calls: ProviderCall[] = [];
  const callOf = new WeakMap<RecordedRequest, ProviderCall>();
  const attemptsByPrompt = new Map<string, number>();
  let completion = 0;
  const script = (request: RecordedRequest): FakeAnswer => {
    const described = describeRequest(request);
    const attempt = (attemptsByPrompt.get(described.promptKey) ?? 0) + 1;
    attemptsByPrompt.set(described.promptKey, attempt);
    let kind: ProviderAnswerKind = 'answer';
    if (faults.rate > 0 && unitHash(faults.seed, described.promptKey, attempt) < faults.rate) {
      kind = faultKinds[Math.floor(unitHash(faults.seed, 'kind', described.promptKey, attempt) * faultKinds.length)] ?? 'server-error';
    }
    let answer: FakeAnswer;
    switch (kind) {
      case 'rate-limited':
        answer = answers.rateLimited('1');
        break;
      case 'server-error':
        answer = answers.serverError(500);
        break;
      case 'reset':
        answer = answers.reset();
        break;
      case 'malformed':
        answer = answers.malformed();
        break;
      case 'slow':
        // Longer than the model timeout: the client gives up first, and nothing is delivered.
        answer = answers.delay(faults.modelTimeoutMs + 1_500, supportTicketAnswer(request));
        break;
      default:
        answer = supportTicketAnswer(request);
        if (answer.kind === 'error') kind = 'refused';
    }
    const call: ProviderCall = { ...described, kind, paid: false, receivedAt: Date.now() };
    calls.push(call);
    callOf.set(request, call);
    return faults.latencyMs ? answers.delay(faults.latencyMs, answer) : answer;
  };
  const server = await startScriptedServer(script, {
    success(answer, request) {
      const call = callOf.get(request);
      if (call) call.paid = true;
      const usage = answer.usage ?? { inputTokens: 11, outputTokens: 7 };
      return {
        id: `chatcmpl-${++completion}`,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model: call?.model ?? 'fake-model',
        choices: [{ index: 0, message: { role: 'assistant', content: contentOf(answer) }, finish_reason: 'stop' }],
        usage: { prompt_tokens: usage.inputTokens, completion_tokens: usage.outputTokens, total_tokens: usage.inputTokens + usage.outputTokens },
      };
    },
    errorBody: (answer) => ({
      error: { message: answer.message ?? `HTTP ${answer.status}`, type: answer.status === 429 ? 'rate_limit_exceeded' : 'invalid_request_error', code: answer.code ?? null },
    }),
  });
  return { url: server.url, calls, close: () => server.close() };
}

/** The default local registry with the small and medium tiers served by the chaos model server. */
/**
 * The scenario's model registry: the small and medium tiers on the fake server, the large tier local. With
 * `localSmall`, the small tier is the built-in local model instead (answered in the worker's process, as
 * local activities) and only escalations reach the fake server.
 */
export function writeRegistry(file: string, baseUrl: string, modelTimeoutMs: number, options: { localSmall?: boolean } = {}): void {
  const fakeModel = (tier: 'small' | 'medium'): ModelSpec => ({
    id: `fake-${tier}`,
    provider: 'openai-compatible',
    providerModel: `fake-${tier}`,
    tier,
    description: `fake ${tier} model on the chaos suite's OpenAI-protocol server`,
    inputPricePerMTokUsd: tier === 'small' ? 1 : 3,
    outputPricePerMTokUsd: tier === 'small' ? 2 : 6,
    contextWindow: 100_000,
    structuredOutput: true,
    rateLimit: {},
    timeoutMs: modelTimeoutMs,
    options: { baseUrl },
  });
  const builtin = loadRegistry({}).models;
  const local = builtin.filter((model) => model.tier === 'large' || (options.localSmall && model.tier === 'small'));
  fs.writeFileSync(file, JSON.stringify({ models: [...(options.localSmall ? [] : [fakeModel('small')]), fakeModel('medium'), ...local] }, null, 2));
}

// ---- jobs and the client ---------------------------------------------------------------------------

export interface ChaosJob {
  id: string;
  type: 'support-ticket';
  input: { text: string };
}

export function supportTickets(prefix: string, count: number): ChaosJob[] {
  return Array.from({ length: count }, (_, index) => ({
    id: `${prefix}-${index}`,
    type: 'support-ticket',
    input: { text: `Please cancel my order #D${100_000 + index}, I ordered it by mistake.` },
  }));
}

/** Retries a client call through a server outage until the deadline. */
export async function throughOutages<T>(operation: () => Promise<T>, deadline: number): Promise<T> {
  for (;;) {
    try {
      return await operation();
    } catch (error) {
      if (error instanceof WorkflowFailedError || error instanceof WorkflowNotFoundError || Date.now() > deadline) throw error;
      await sleep(1_000);
    }
  }
}

/** Waits for the batch's result, through server outages; undefined when the deadline passes first. */
export async function waitForBatch(client: ConveyorClient, batchId: string, deadline: number): Promise<BatchResult | undefined> {
  try {
    return await throughOutages(() => client.getBatchResult(batchId), deadline);
  } catch {
    return undefined;
  }
}

export async function waitUntil(check: () => boolean, deadline: number): Promise<boolean> {
  while (!check()) {
    if (Date.now() > deadline) return false;
    await sleep(100);
  }
  return true;
}

// ---- accounting ------------------------------------------------------------------------------------

export type JobOutcome =
  | { kind: 'completed'; result: JobResult }
  | { kind: 'rejected'; result: JobResult }
  | { kind: 'failed-typed'; type: string; message: string }
  | { kind: 'unaccounted'; why: string };

export async function jobOutcome(client: ConveyorClient, jobId: string, deadline: number): Promise<JobOutcome> {
  const handle = client.temporal.workflow.getHandle<(request: unknown) => Promise<JobResult>>(jobId);
  let status: string;
  try {
    status = (await throughOutages(() => handle.describe(), deadline)).status.name;
  } catch (error) {
    return { kind: 'unaccounted', why: error instanceof WorkflowNotFoundError ? 'no such workflow' : String(error) };
  }
  if (status === 'RUNNING') return { kind: 'unaccounted', why: 'still running' };
  try {
    const result = await throughOutages(() => handle.result(), deadline);
    return result.status === 'rejected' ? { kind: 'rejected', result } : { kind: 'completed', result };
  } catch (error) {
    const cause = error instanceof WorkflowFailedError ? error.cause : undefined;
    if (cause instanceof ApplicationFailure && cause.type) return { kind: 'failed-typed', type: cause.type, message: cause.message };
    return { kind: 'unaccounted', why: `${status}: ${cause?.name ?? ''} ${cause?.message ?? String(error)}` };
  }
}

export interface Accounting {
  submitted: number;
  completed: number;
  rejected: number;
  failedTyped: number;
  failureTypes: Record<string, number>;
  lost: number;
  lostJobs: { jobId: string; why: string }[];
  /** Outbox rows beyond one per idempotency key, plus executeAction attempts that inserted a row for a key already inserted. */
  duplicateActions: number;
  /** executeAction attempts that found their row already written (a retry the outbox absorbed). */
  absorbedActionRetries: number;
  /** Completed jobs whose action is not in the outbox. */
  missingActions: number;
  /** Paid provider calls beyond the first for a ledger step (any outcome, cache hits and schema repairs included), made after a worker held an earlier paid answer. */
  repeatedPaidCalls: number;
  /** Paid calls beyond the first whose earlier answers no worker ever kept: delivered to a worker killed before its gateway call returned. */
  answersLostWithWorker: number;
  /** Cluster scenarios that take PostgreSQL down: paid calls beyond the first whose earlier answers a worker kept only as the database went down (see definitions). */
  answersLostWithDatabase?: number;
  providerCalls: number;
  paidCalls: number;
  faultsInjected: Record<string, number>;
  /** Ledger steps accepted from the cache (cacheHit true). */
  cacheHitSteps: number;
  /** Where the action receipts were read from, and how many rows it held. */
  receiptStore: ActionReceiptStore['kind'];
  receiptRows: number;
}

/** The store the scenario's workers wrote their action receipts to: the outbox file (when there is one), or the database the workers share. */
function openReceipts(receipts: { outboxFile: string } | { databaseUrl: string }): ActionReceiptStore | undefined {
  if ('databaseUrl' in receipts) return defaultOutbox(loadSettings({ CONVEYOR_DATABASE_URL: receipts.databaseUrl }));
  return fs.existsSync(receipts.outboxFile) ? new Outbox(receipts.outboxFile) : undefined;
}

export const definitions = {
  lost: 'submitted − (completed + rejected + failed with a typed ApplicationFailure); a job still running at the deadline, missing, or failed without a type is lost',
  duplicateActions:
    'outbox rows beyond one per job, plus executeAction attempts that inserted a row (the outbox said firstExecution) for an idempotency key another attempt had already inserted',
  repeatedPaidCalls:
    'for each ledger step on a fake-provider model — whatever its outcome (accepted, escalated, …), answered from the cache or not — take the provider calls for the same job, station and model that were paid, schema-repair prompts counted apart from first prompts — answered 200 with a complete completion written to a listening client. Every paid call after the first is a repeat; it counts here when, before it was made, a worker had already kept an earlier paid answer for that step — the gateway call that paid for it had returned with it, so the cache or the workflow history should have kept it. Faulted calls (429, 500, reset, malformed body) and answers the client abandoned at its timeout are not paid (a real provider may still bill an abandoned generation)',
  answersLostWithDatabase:
    "cluster scenarios only: repeats of a paid call whose earlier answers a worker kept only while PostgreSQL was down, or in the second before it went down — the worker held the answer, but the one database behind both the model cache and the Temporal Server's history was gone, so its cache write failed and its activity completion could not be recorded (the SDK gives up on it), and the retry had to ask again. Not counted as repeated paid calls; a cache store apart from the database (CONVEYOR_CACHE_REDIS_URL) would keep them",
  answersLostWithWorker:
    'repeats of a paid call whose earlier answer no worker ever kept: the provider wrote it, the worker was SIGKILLed before its gateway call returned with it (before reading it, validating it, repairing it or caching it), and the retry had to ask again — no client can keep an answer it died holding',
};

/** Answers kept this long before PostgreSQL went down count as caught by the outage: their cache write and activity completion were still on their way. */
export const databaseOutageLeadMs = 1_000;

export async function accountFor(options: {
  jobs: ChaosJob[];
  outcomes: Map<string, JobOutcome>;
  /** Where the workers recorded actions: the embedded SQLite outbox file, or the shared database (cluster mode). */
  receipts: { outboxFile: string } | { databaseUrl: string };
  executionsLog: string;
  receivedLog: string;
  calls: ProviderCall[];
  /** When the scenario's PostgreSQL was down (from the stop or SIGKILL until it accepted connections again), epoch ms. */
  databaseOutages?: { from: number; to: number }[];
}): Promise<Accounting> {
  const { jobs, outcomes, calls } = options;
  const accounting: Accounting = {
    submitted: jobs.length,
    completed: 0,
    rejected: 0,
    failedTyped: 0,
    failureTypes: {},
    lost: 0,
    lostJobs: [],
    duplicateActions: 0,
    absorbedActionRetries: 0,
    missingActions: 0,
    repeatedPaidCalls: 0,
    answersLostWithWorker: 0,
    providerCalls: calls.length,
    paidCalls: calls.filter((call) => call.paid).length,
    faultsInjected: {},
    cacheHitSteps: 0,
    receiptStore: 'sqlite',
    receiptRows: 0,
    ...(options.databaseOutages ? { answersLostWithDatabase: 0 } : {}),
  };
  const outages = options.databaseOutages ?? [];
  const duringOutage = (at: number) => outages.some((outage) => at >= outage.from - databaseOutageLeadMs && at <= outage.to);
  for (const call of calls) {
    if (call.kind !== 'answer') accounting.faultsInjected[call.kind] = (accounting.faultsInjected[call.kind] ?? 0) + 1;
  }

  const outbox = openReceipts(options.receipts);
  const rows = (await outbox?.rows()) ?? [];
  await outbox?.close();
  accounting.receiptStore = 'databaseUrl' in options.receipts ? 'postgres' : 'sqlite';
  accounting.receiptRows = rows.length;
  const rowsByJob = new Map<string, number>();
  for (const row of rows) rowsByJob.set(row.jobId, (rowsByJob.get(row.jobId) ?? 0) + 1);
  for (const count of rowsByJob.values()) accounting.duplicateActions += Math.max(0, count - 1);
  const executions = readJsonLines<ExecutionLogLine>(options.executionsLog);
  const inserted = new Set<string>();
  for (const execution of executions) {
    if (!execution.firstExecution) accounting.absorbedActionRetries++;
    else if (inserted.has(execution.idempotencyKey)) accounting.duplicateActions++;
    else inserted.add(execution.idempotencyKey);
  }

  // A schema repair is a call kind of its own: its repeats are counted against earlier repairs of the step.
  const callKey = (stepKey: string, repair: boolean) => (repair ? `${stepKey}#repair` : stepKey);
  const paidByStep = new Map<string, ProviderCall[]>();
  for (const call of calls) {
    if (!call.paid) continue;
    const key = callKey(stepKeyOf(call.jobToken, call.station, call.model), call.repair);
    paidByStep.set(key, [...(paidByStep.get(key) ?? []), call]);
  }
  const receivedByStep = new Map<string, number[]>();
  for (const line of readJsonLines<ReceivedLogLine>(options.receivedLog)) {
    const key = callKey(line.stepKey, Boolean(line.repair));
    receivedByStep.set(key, [...(receivedByStep.get(key) ?? []), line.at]);
  }

  jobs.forEach((job, index) => {
    const outcome = outcomes.get(job.id) ?? { kind: 'unaccounted', why: 'not checked' };
    const jobToken = String(100_000 + index);
    switch (outcome.kind) {
      case 'completed':
      case 'rejected': {
        if (outcome.kind === 'completed') accounting.completed++;
        else accounting.rejected++;
        if (outcome.kind === 'completed' && outcome.result.actions.length > 0 && !rowsByJob.has(job.id)) accounting.missingActions++;
        const counted = new Set<string>();
        for (const entry of outcome.result.ledger) {
          if (entry.cacheHit) accounting.cacheHitSteps++;
          if (!entry.modelId.startsWith('fake-')) continue;
          const stepKey = stepKeyOf(jobToken, entry.station, entry.modelId);
          for (const key of [callKey(stepKey, false), callKey(stepKey, true)]) {
            if (counted.has(key)) continue;
            counted.add(key);
            const received = receivedByStep.get(key) ?? [];
            for (const repeat of (paidByStep.get(key) ?? []).sort((a, b) => a.receivedAt - b.receivedAt).slice(1)) {
              const keptBefore = received.filter((at) => at <= repeat.receivedAt);
              if (keptBefore.length === 0) accounting.answersLostWithWorker++;
              else if (outages.length > 0 && keptBefore.every(duringOutage)) accounting.answersLostWithDatabase = (accounting.answersLostWithDatabase ?? 0) + 1;
              else accounting.repeatedPaidCalls++;
            }
          }
        }
        break;
      }
      case 'failed-typed':
        accounting.failedTyped++;
        accounting.failureTypes[outcome.type] = (accounting.failureTypes[outcome.type] ?? 0) + 1;
        break;
      default:
        accounting.lostJobs.push({ jobId: job.id, why: outcome.why });
    }
  });
  accounting.lost = accounting.submitted - (accounting.completed + accounting.failedTyped + accounting.rejected);
  return accounting;
}

/** A log of JSON lines; a last line cut short by a SIGKILL is skipped. */
function readJsonLines<T>(file: string): T[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .flatMap((line) => {
      try {
        return line ? [JSON.parse(line) as T] : [];
      } catch {
        return [];
      }
    });
}

/** The workers' latest cache counters, summed over every worker process that ran. */
export function cacheStatsOf(dataDir: string): { hits: number; misses: number; cacheErrors: number } {
  const total = { hits: 0, misses: 0, cacheErrors: 0 };
  for (const file of fs.readdirSync(dataDir).filter((name) => name.startsWith('stats-') && name.endsWith('.json'))) {
    try {
      const stats = JSON.parse(fs.readFileSync(path.join(dataDir, file), 'utf8')) as WorkerStatsFile;
      total.hits += stats.hits;
      total.misses += stats.misses;
      total.cacheErrors += stats.cacheErrors;
    } catch {
      // a file caught mid-write by a SIGKILL: its worker's last counters are lost, not invented
    }
  }
  return total;
}

export function chaosTempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `conveyor-chaos-${prefix}-`));
}

export async function connectChaosClient(temporal: ChaosTemporal, taskQueue: string): Promise<ConveyorClient> {
  return ConveyorClient.connect({ settings: { ...temporal.settings, address: temporal.address, taskQueue } });
}
