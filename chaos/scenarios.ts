/**
 * The chaos scenarios: each runs a batch of support-ticket jobs on its own embedded Temporal server,
 * with worker processes and a fake OpenAI-protocol model server (small and medium tiers), breaks one
 * thing on purpose while the batch runs, and returns one row of counts: what was submitted, completed,
 * failed with a typed error or lost, whether any action ran twice, and whether any completed model step
 * was paid twice. The scenario functions are what `chaos/run.ts` and `test/chaos.test.ts` both call.
 * The cluster suite runs the same accounting on platform/cluster.ts's cluster (the real Temporal Server
 * on PostgreSQL), with workers that share nothing but CONVEYOR_DATABASE_URL.
 */
import fs from 'node:fs';
import path from 'node:path';
import { TEMPORAL_SERVER_VERSION } from '../platform/cluster';
import type { BatchResult } from '../workflows/batch';
import { startRedis, type TestRedis } from '../fakes/redis-server';
import {
  accountFor,
  cacheStatsOf,
  chaosTempDir,
  connectChaosClient,
  jobOutcome,
  startChaosCluster,
  startChaosModelServer,
  startChaosTemporal,
  startWorkerFleet,
  supportTickets,
  waitForBatch,
  waitUntil,
  writeRegistry,
  writeWorkflowBundle,
  type Accounting,
  type ChaosCluster,
  type ChaosModelServer,
  type ChaosTemporal,
  type FaultPlan,
  type JobOutcome,
  type WorkerFleet,
} from './harness';

export type ChaosSize = 'small' | 'full';

export const sizes: Record<ChaosSize, { jobs: number; concurrency: number; deadlineMs: number }> = {
  small: { jobs: 30, concurrency: 15, deadlineMs: 180_000 },
  full: { jobs: 200, concurrency: 25, deadlineMs: 1_200_000 },
};

/** Model calls per support-ticket job: intent, entities, risk, reply, action (all on the fake tiers). */
const callsPerJob = 5;

export interface ScenarioRow extends Accounting {
  scenario: string;
  description: string;
  size: ChaosSize;
  /** What was broken, and when (model calls answered so far). */
  events: string[];
  notes: string[];
  unplannedWorkerExits: number;
  cache: { hits: number; misses: number; cacheErrors: number };
  batch: Pick<BatchResult, 'completed' | 'failed' | 'rejected' | 'duplicates'> | null;
  /** Ledger entries of the finished jobs whose model call ran as a local activity (an in-process model). */
  localModelSteps: number;
  /** Cluster scenarios: the server, the shared database (its label) and the SQLite files found in the workers' own data dirs (none: nothing shared lives in a file). */
  cluster?: { serverVersion: string; databaseLabel: string; workerSqliteFiles: string[] };
  durationMs: number;
  /** Kept when something is wrong, for the logs (worker, server). */
  dataDir?: string;
}

export interface ChaosRunContext {
  size: ChaosSize;
  bundleFile: string;
  log?: (line: string) => void;
}

interface Disruption {
  temporal: ChaosTemporal;
  /** The cluster, in cluster scenarios. */
  cluster?: ChaosCluster['cluster'];
  fleet: WorkerFleet;
  model: ChaosModelServer;
  redis?: TestRedis;
  /** Resolves when the model server has answered this share of the batch's expected calls (false at the deadline). */
  reached(share: number): Promise<boolean>;
  /** Model calls answered (paid) so far, and how many the batch needs without faults. */
  answered(): number;
  expectedCalls: number;
  /** Resolves when this share of the batch's jobs has completed, as the server's visibility counts them (false at the deadline). */
  jobsDone(share: number): Promise<boolean>;
  event(text: string): void;
  note(text: string): void;
  /** Records a time PostgreSQL was down (epoch ms), for the accounting's answers lost with the database. */
  databaseOutage(from: number, to: number): void;
}

/** SIGKILLs w1, then w2, then w1 … as the model server reaches each share of the batch's calls, restarting each at once. */
async function killInTurn(chaos: Disruption, kills: number[]): Promise<void> {
  for (const [index, share] of kills.entries()) {
    if (!(await chaos.reached(share))) return;
    const name = index % 2 === 0 ? 'w1' : 'w2';
    await chaos.fleet.kill(name);
    chaos.event(`SIGKILL ${name}`);
    chaos.fleet.start(name);
  }
}

/** SIGKILLs the Temporal server as the model server reaches each share of the batch's calls, and starts it again on its store 2 s later. */
async function killServerInTurn(chaos: Disruption, kills: number[], store: string): Promise<void> {
  for (const share of kills) {
    if (!(await chaos.reached(share))) return;
    await chaos.temporal.kill();
    chaos.event('SIGKILL temporal server');
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const restarting = Date.now();
    await chaos.temporal.restart();
    chaos.note(`server restarted on the same ${store} in ${((Date.now() - restarting) / 1000).toFixed(1)} s`);
  }
}

interface ScenarioPlan {
  name: string;
  description: string;
  workers: string[];
  faults?: Omit<FaultPlan, 'modelTimeoutMs' | 'latencyMs'>;
  /** How long each model answer takes (default 150 ms), so a disruption finds calls in flight. */
  modelLatencyMs?: number;
  modelTimeoutMs?: number;
  redis?: boolean;
  /** The small tier is the built-in local model (its calls run as local activities), not the fake server. */
  localSmallTier?: boolean;
  /**
   * Runs on platform/cluster.ts's cluster (the Temporal Server on PostgreSQL) instead of the embedded dev
   * server; each worker has a data dir of its own and the workers share CONVEYOR_DATABASE_URL.
   */
  cluster?: boolean;
  /** The cluster's PostgreSQL with fsync and synchronous commit (PostgreSQL's defaults), not the fast mode: for a scenario that SIGKILLs it. */
  durablePostgres?: boolean;
  /** The scenario takes PostgreSQL down: the accounting counts answers lost with the database apart. */
  takesDatabaseDown?: boolean;
  disrupt?(chaos: Disruption): Promise<void>;
  /** Adds notes from what the workers logged and counted. */
  inspect?(row: ScenarioRow, fleet: WorkerFleet): void;
}

async function runScenario(plan: ScenarioPlan, context: ChaosRunContext): Promise<ScenarioRow> {
  const size = sizes[context.size];
  const log = context.log ?? (() => {});
  const started = Date.now();
  const deadline = started + size.deadlineMs;
  const dataDir = chaosTempDir(plan.name);
  const modelTimeoutMs = plan.modelTimeoutMs ?? 5_000;
  const events: string[] = [];
  const notes: string[] = [];
  const cleanup: (() => Promise<void> | void)[] = [];
  const databaseOutages: { from: number; to: number }[] = [];
  let keep = false;
  try {
    const model = await startChaosModelServer({ rate: plan.faults?.rate ?? 0, seed: plan.faults?.seed ?? 0, modelTimeoutMs, latencyMs: plan.modelLatencyMs ?? 150 });
    cleanup.push(() => model.close());
    const registryFile = path.join(dataDir, 'models.json');
    writeRegistry(registryFile, model.url, modelTimeoutMs, { localSmall: plan.localSmallTier ?? false });
    const clustered = plan.cluster ? await startChaosCluster(path.join(dataDir, 'cluster'), { durable: plan.durablePostgres ?? false }) : undefined;
    const temporal = clustered ?? (await startChaosTemporal(path.join(dataDir, 'temporal')));
    cleanup.push(() => temporal.stop());
    const databaseUrl = clustered?.cluster.databaseUrl;
    const redis = plan.redis ? await startRedis() : undefined;
    if (redis) cleanup.push(() => redis.stop());
    const taskQueue = `chaos-${plan.name}`;
    const fleet = startWorkerFleet({
      names: plan.workers,
      temporal,
      taskQueue,
      dataDir,
      bundleFile: context.bundleFile,
      registryFile,
      extraEnv: { ...(redis ? { CONVEYOR_CACHE_REDIS_URL: redis.url } : {}), ...(databaseUrl ? { CONVEYOR_DATABASE_URL: databaseUrl } : {}) },
      ownDataDirs: Boolean(clustered),
    });
    cleanup.push(() => fleet.stop());
    const client = await connectChaosClient(temporal, taskQueue);
    cleanup.push(() => client.close());

    const batchId = `${plan.name}-${Date.now().toString(36)}`;
    const jobs = supportTickets(batchId, size.jobs);
    await client.startBatch({ batchId, jobs, concurrency: size.concurrency });
    log(`${plan.name}: ${jobs.length} jobs submitted`);

    const answered = () => model.calls.filter((call) => call.paid).length;
    const disruption: Disruption = {
      temporal,
      ...(clustered ? { cluster: clustered.cluster } : {}),
      fleet,
      model,
      redis,
      answered,
      expectedCalls: callsPerJob * jobs.length,
      reached: (share) => waitUntil(() => answered() >= Math.ceil(share * callsPerJob * jobs.length), deadline),
      async jobsDone(share) {
        const query = `ConveyorBatchId = "${batchId}" AND ExecutionStatus = "Completed" AND WorkflowType = "factoryJobWorkflow"`;
        while (Date.now() < deadline) {
          const { count } = await client.temporal.workflow.count(query).catch(() => ({ count: 0 }));
          if (count >= Math.ceil(share * jobs.length)) return true;
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
        return false;
      },
      event(text) {
        const inFlight = model.calls.filter((call) => !call.paid && call.kind === 'answer' && Date.now() - call.receivedAt < (plan.modelLatencyMs ?? 150) + 50).length;
        const line = `${text} at ${((Date.now() - started) / 1000).toFixed(1)} s, ${answered()}/${callsPerJob * jobs.length} calls answered, ${inFlight} in flight`;
        events.push(line);
        log(`${plan.name}: ${line}`);
      },
      note: (text) => notes.push(text),
      databaseOutage: (from, to) => databaseOutages.push({ from, to }),
    };
    await plan.disrupt?.(disruption);
    const batch = await waitForBatch(client, batchId, deadline);
    if (!batch) notes.push(`the batch did not finish within ${size.deadlineMs / 1000} s`);

    const outcomes = new Map<string, JobOutcome>();
    const checkDeadline = Math.max(deadline, Date.now() + 60_000);
    for (let index = 0; index < jobs.length; index += 10) {
      const slice = jobs.slice(index, index + 10);
      const results = await Promise.all(slice.map((job) => jobOutcome(client, job.id, checkDeadline)));
      slice.forEach((job, offset) => outcomes.set(job.id, results[offset]!));
    }
    const accounting = await accountFor({
      jobs,
      outcomes,
      receipts: databaseUrl ? { databaseUrl } : { outboxFile: path.join(dataDir, 'outbox.sqlite') },
      executionsLog: path.join(dataDir, 'executions.log'),
      receivedLog: path.join(dataDir, 'received.log'),
      calls: model.calls,
      ...(plan.takesDatabaseDown ? { databaseOutages } : {}),
    });
    const row: ScenarioRow = {
      scenario: plan.name,
      description: plan.description,
      size: context.size,
      ...accounting,
      events,
      notes,
      unplannedWorkerExits: fleet.unplannedExits(),
      cache: cacheStatsOf(dataDir),
      batch: batch ? { completed: batch.completed, failed: batch.failed, rejected: batch.rejected, duplicates: batch.duplicates } : null,
      localModelSteps: [...outcomes.values()].reduce((sum, outcome) => sum + ('result' in outcome ? outcome.result.ledger.filter((entry) => entry.execution === 'local').length : 0), 0),
      durationMs: 0,
    };
    if (row.unplannedWorkerExits > 0) notes.push(`${row.unplannedWorkerExits} worker exit(s) nobody asked for (restarted by the fleet)`);
    if (clustered) {
      const hosts = path.join(dataDir, 'hosts');
      const workerSqliteFiles = fs.existsSync(hosts) ? fs.readdirSync(hosts, { recursive: true, encoding: 'utf8' }).filter((file) => /\.sqlite$/.test(file)) : [];
      row.cluster = { serverVersion: TEMPORAL_SERVER_VERSION, databaseLabel: clustered.cluster.databaseLabel, workerSqliteFiles };
      notes.push(
        `Temporal Server ${TEMPORAL_SERVER_VERSION} on PostgreSQL (${clustered.cluster.databaseLabel}); ${plan.workers.length} worker(s), each with a data dir of its own; ${row.receiptRows} action receipt(s) read from PostgreSQL; SQLite files in the workers' data dirs: ${workerSqliteFiles.length ? workerSqliteFiles.join(', ') : 'none'}`,
      );
    }
    if (row.missingActions > 0) notes.push(`${row.missingActions} completed job(s) without their outbox row`);
    if (batch && batch.completed + batch.failed + batch.rejected + batch.duplicates !== jobs.length) {
      notes.push(`batch totals (${batch.completed}+${batch.failed}+${batch.rejected}+${batch.duplicates}) do not add up to ${jobs.length}`);
    }
    for (const lost of row.lostJobs.slice(0, 5)) notes.push(`lost ${lost.jobId}: ${lost.why}`);
    plan.inspect?.(row, fleet);
    // eslint-disable-next-line no-restricted-syntax -- the chaos tool's own switch (keep every run's data), not a Conveyor setting
    keep = row.lost > 0 || row.duplicateActions > 0 || row.repeatedPaidCalls > 0 || process.env.CHAOS_KEEP === '1';
    if (keep) {
      row.dataDir = dataDir;
      fs.writeFileSync(path.join(dataDir, 'provider-calls.json'), JSON.stringify(model.calls, null, 1));
      fs.writeFileSync(path.join(dataDir, 'outcomes.json'), JSON.stringify([...outcomes], null, 1));
    }
    row.durationMs = Date.now() - started;
    log(`${plan.name}: done in ${Math.round(row.durationMs / 1000)} s`);
    return row;
  } finally {
    for (const release of cleanup.reverse()) {
      try {
        await release();
      } catch (error) {
        log(`${plan.name}: cleanup failed: ${String(error)}`);
      }
    }
    if (!keep) fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

// ---- the scenarios ---------------------------------------------------------------------------------

export function workerKills(context: ChaosRunContext): Promise<ScenarioRow> {
  const kills = context.size === 'small' ? [0.2, 0.45, 0.7] : [0.12, 0.3, 0.48, 0.66, 0.84];
  return runScenario(
    {
      name: 'worker-sigkill',
      description: 'two worker processes on one task queue; SIGKILL one, then the other, restarting each at once',
      workers: ['w1', 'w2'],
      modelLatencyMs: 400,
      disrupt: (chaos) => killInTurn(chaos, kills),
    },
    context,
  );
}

export function workerKillsMidLocalSteps(context: ChaosRunContext): Promise<ScenarioRow> {
  const kills = context.size === 'small' ? [0.15, 0.45] : [0.1, 0.3, 0.5, 0.7];
  return runScenario(
    {
      name: 'worker-sigkill-local',
      description: 'two worker processes whose small tier is the built-in local model (local activities, in the workflow task); SIGKILL one, then the other, mid-batch',
      workers: ['w1', 'w2'],
      localSmallTier: true,
      async disrupt(chaos) {
        for (const [index, share] of kills.entries()) {
          if (!(await chaos.jobsDone(share))) return;
          const name = index % 2 === 0 ? 'w1' : 'w2';
          await chaos.fleet.kill(name);
          chaos.event(`SIGKILL ${name} (${Math.round(share * 100)}% of jobs done)`);
          chaos.fleet.start(name);
        }
      },
      inspect(row) {
        row.notes.push(`${row.localModelSteps} model steps ran as local activities`);
      },
    },
    context,
  );
}

export function serverKill(context: ChaosRunContext): Promise<ScenarioRow> {
  const kills = context.size === 'small' ? [0.35] : [0.3, 0.65];
  return runScenario(
    {
      name: 'temporal-sigkill',
      description: 'the Temporal dev server SIGKILLed mid-batch and started again on the same SQLite file; workers and client reconnect',
      workers: ['w1'],
      modelLatencyMs: 300,
      disrupt: (chaos) => killServerInTurn(chaos, kills, 'SQLite file'),
    },
    context,
  );
}

export function flakyModel(context: ChaosRunContext): Promise<ScenarioRow> {
  return runScenario(
    {
      name: 'flaky-model',
      description: '30% of model calls (seeded): 429 + Retry-After 1 s, 500, connection reset, slower than the 2 s timeout, malformed JSON',
      workers: ['w1'],
      faults: { rate: 0.3, seed: 20_250_101 },
      modelTimeoutMs: 2_000,
      inspect(row) {
        const faults = Object.entries(row.faultsInjected).map(([kind, count]) => `${kind} ${count}`);
        row.notes.push(`faults injected: ${faults.join(', ') || 'none'}`);
      },
    },
    context,
  );
}

export function cacheOutage(context: ChaosRunContext): Promise<ScenarioRow> {
  return runScenario(
    {
      name: 'cache-store-down',
      description: 'the shared Redis cache store (a real redis-server) stopped mid-run; jobs go on without it',
      workers: ['w1'],
      redis: true,
      async disrupt(chaos) {
        if (!(await chaos.reached(0.4))) return;
        await chaos.redis?.stop();
        chaos.event('redis-server stopped');
      },
      inspect(row, fleet) {
        const said = fleet.logs().split('\n').find((line) => line.includes('model cache is unavailable'));
        row.notes.push(`gateway cache counters: ${row.cache.cacheErrors} error(s), ${row.cache.misses} miss(es), ${row.cache.hits} hit(s)`);
        row.notes.push(said ? `worker log: ${said.trim().slice(0, 160)}` : 'the workers logged nothing about the cache');
      },
    },
    context,
  );
}

// ---- the cluster scenarios: the real Temporal Server on PostgreSQL, workers sharing only the database ----

export function clusterWorkerKills(context: ChaosRunContext): Promise<ScenarioRow> {
  const kills = context.size === 'small' ? [0.25, 0.55] : [0.12, 0.3, 0.48, 0.66, 0.84];
  return runScenario(
    {
      name: 'cluster-worker-sigkill',
      description: 'two worker processes, each with a data dir of its own, sharing CONVEYOR_DATABASE_URL; SIGKILL one, then the other, mid-batch, restarting each at once',
      workers: ['w1', 'w2'],
      cluster: true,
      modelLatencyMs: 400,
      disrupt: (chaos) => killInTurn(chaos, kills),
    },
    context,
  );
}

export function clusterServerKill(context: ChaosRunContext): Promise<ScenarioRow> {
  const kills = context.size === 'small' ? [0.35] : [0.3, 0.65];
  return runScenario(
    {
      name: 'cluster-temporal-sigkill',
      description: 'the Temporal Server process SIGKILLed mid-batch and started again on the same PostgreSQL; workers and client reconnect',
      workers: ['w1', 'w2'],
      cluster: true,
      modelLatencyMs: 300,
      disrupt: (chaos) => killServerInTurn(chaos, kills, 'PostgreSQL'),
    },
    context,
  );
}

/** How long PostgreSQL stays down in the restart scenario. */
const postgresDownMs = 5_000;

export function clusterPostgresRestart(context: ChaosRunContext): Promise<ScenarioRow> {
  const restarts = context.size === 'small' ? [0.35] : [0.3, 0.65];
  return runScenario(
    {
      name: 'cluster-postgres-restart',
      description: `PostgreSQL (the Temporal Server's persistence and visibility, and Conveyor's shared stores) shut down mid-batch (a fast shutdown: sessions cut, every commit kept), down ${postgresDownMs / 1000} s, started again on the same data`,
      workers: ['w1', 'w2'],
      cluster: true,
      takesDatabaseDown: true,
      modelLatencyMs: 300,
      async disrupt(chaos) {
        const cluster = chaos.cluster!;
        for (const share of restarts) {
          if (!(await chaos.reached(share))) return;
          const down = Date.now();
          await cluster.postgres.stop();
          chaos.event('PostgreSQL stopped');
          const answeredBefore = chaos.answered();
          await new Promise((resolve) => setTimeout(resolve, postgresDownMs));
          const answeredDuring = chaos.answered() - answeredBefore;
          const restarting = Date.now();
          await cluster.postgres.start();
          chaos.databaseOutage(down, Date.now());
          chaos.note(`PostgreSQL started again on the same data dir in ${((Date.now() - restarting) / 1000).toFixed(1)} s; ${answeredDuring} model call(s) answered while it was down`);
          const resumed = Date.now();
          if (await chaos.reached(Math.min(1, chaos.answered() / chaos.expectedCalls + 0.05))) {
            chaos.note(`the batch moved on (5% more of its model calls answered) ${((Date.now() - resumed) / 1000).toFixed(1)} s after PostgreSQL was back`);
          }
          // The server rides the outage out on its own; should it have exited instead, say so and start it.
          if (!cluster.temporalPid()) {
            chaos.note('the Temporal Server exited while PostgreSQL was down; started again');
            await cluster.startTemporal();
          }
        }
      },
      inspect(row, fleet) {
        const said = fleet.logs().split('\n').filter((line) => /ECONNREFUSED|terminating connection|Connection terminated|database/i.test(line));
        row.notes.push(`worker log lines about the database: ${said.length}${said[0] ? ` (first: ${said[0].trim().slice(0, 160)})` : ''}`);
      },
    },
    context,
  );
}

export function clusterPostgresKill(context: ChaosRunContext): Promise<ScenarioRow> {
  return runScenario(
    {
      name: 'cluster-postgres-sigkill',
      description:
        "PostgreSQL's postmaster SIGKILLed mid-batch (no shutdown: crash recovery from the WAL on the next start), on a cluster whose PostgreSQL keeps its default fsync and synchronous commit — the fast mode would lose the last acknowledged commits to a SIGKILL",
      workers: ['w1', 'w2'],
      cluster: true,
      durablePostgres: true,
      takesDatabaseDown: true,
      modelLatencyMs: 300,
      async disrupt(chaos) {
        const cluster = chaos.cluster!;
        if (!(await chaos.reached(0.35))) return;
        const down = Date.now();
        await cluster.killPostgres();
        chaos.event('SIGKILL PostgreSQL');
        await new Promise((resolve) => setTimeout(resolve, 2_000));
        const restarting = Date.now();
        // The killed postmaster's backends linger until they notice it is gone, and a new postmaster
        // refuses to start while they hold its shared memory: try again for a while, as a supervisor would.
        for (let attempt = 1; ; attempt++) {
          try {
            await cluster.postgres.start();
            break;
          } catch (error) {
            if (attempt >= 10) throw error;
            await new Promise((resolve) => setTimeout(resolve, 1_000));
          }
        }
        chaos.databaseOutage(down, Date.now());
        chaos.note(`PostgreSQL recovered and started again on the same data dir in ${((Date.now() - restarting) / 1000).toFixed(1)} s`);
        if (!cluster.temporalPid()) {
          chaos.note('the Temporal Server exited while PostgreSQL was down; started again');
          await cluster.startTemporal();
        }
      },
    },
    context,
  );
}

export const clusterScenarios = { 'cluster-worker-sigkill': clusterWorkerKills, 'cluster-temporal-sigkill': clusterServerKill, 'cluster-postgres-restart': clusterPostgresRestart, 'cluster-postgres-sigkill': clusterPostgresKill } as const;
export type ClusterScenarioName = keyof typeof clusterScenarios;

export const scenarios = { 'worker-sigkill': workerKills, 'worker-sigkill-local': workerKillsMidLocalSteps, 'temporal-sigkill': serverKill, 'flaky-model': flakyModel, 'cache-store-down': cacheOutage } as const;
export type ScenarioName = keyof typeof scenarios;

export type ChaosSuite = 'embedded' | 'cluster';

/** Bundles the workflows once, then runs the chosen scenarios one after another: the embedded-server suite, or the cluster suite. */
export async function runChaosSuite(options: { size: ChaosSize; suite?: ChaosSuite; only?: (ScenarioName | ClusterScenarioName)[]; log?: (line: string) => void }): Promise<ScenarioRow[]> {
  const suite: Record<string, (context: ChaosRunContext) => Promise<ScenarioRow>> = options.suite === 'cluster' ? clusterScenarios : scenarios;
  const bundleDir = chaosTempDir('bundle');
  try {
    const bundleFile = await writeWorkflowBundle(bundleDir);
    const rows: ScenarioRow[] = [];
    for (const name of options.only ?? Object.keys(suite)) {
      const scenario = suite[name];
      if (!scenario) throw new Error(`no scenario ${name} in the ${options.suite ?? 'embedded'} suite; it has ${Object.keys(suite).join(', ')}`);
      rows.push(await scenario({ size: options.size, bundleFile, log: options.log }));
    }
    return rows;
  } finally {
    fs.rmSync(bundleDir, { recursive: true, force: true });
  }
}
