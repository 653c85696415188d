/**
 * The engine benchmark (`npm run bench`): what Conveyor costs on top of Temporal, measured side by side in
 * one run against an embedded Temporal server started for the run (fresh SQLite database in a temporary
 * directory, free ports). Sections: the SQLite cache store (lookup latency, hit rate, false hits), durable
 * overhead per step (factory vs in-process calls vs a raw workflow), batch throughput (factory vs raw
 * children), growth with batch size (time and peak memory), and worker memory per cached waiting workflow.
 * Every Conveyor job uses a no-op model provider, so the figures are the engine's, not a model's. Prints a
 * table and writes bench/results/engine.json and engine.md.
 * A remote-like section compares a job of 200 ms calls to a local OpenAI-protocol server with a raw workflow
 * making the same calls. Then, on the cluster (platform/cluster.ts: the real Temporal Server on PostgreSQL,
 * fsync on, started for the run in the run's folder; workers on the shared stores with CONVEYOR_DATABASE_URL),
 * the overhead and throughput yardsticks run again, and the table shows both servers' figures side by side.
 * Options: --quick (smaller sizes, a smoke run), --sizes 100,1000,10000 (growth batch sizes),
 * --sections cache,overhead,remote,throughput,growth,memory (a subset), --servers embedded,cluster (default:
 * both when the Temporal Server is built, embedded only with --quick), --preload zod,… (try the factory's
 * workflows with those modules shared across workflows, the bundler's preloadModules; the default is the
 * worker's bundle).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { ConveyorClient } from '../client';
import { findTemporalServer, startCluster, temporalServerCacheDir, TEMPORAL_SERVER_VERSION, type Cluster } from '../platform/cluster';
import { freePort, startEmbeddedServer, type TemporalEndpoint } from '../platform/embedded-server';
import { POSTGRES_MAJOR } from '../platform/postgres-server';
import { loadSettings } from '../platform/settings';
import { findTemporalCli } from '../platform/temporal-cli';
import { bundleConveyorWorkflows, builtinWorkflowsPath } from '../workers/worker';
import { runCacheSection } from './engine/cache';
import type { BenchContext, BenchOptions, BenchServer, SectionOutcome } from './engine/figures';
import { runGrowthSection } from './engine/growth';
import { embeddedServerPid, loadAverage } from './engine/measure';
import { runMemorySection } from './engine/memory';
import { runOverheadSection } from './engine/overhead';
import { runRemoteSection } from './engine/remote';
import { buildReport, machineInfo, printTable, writeReport } from './engine/report';
import { runThroughputSection } from './engine/throughput';

const sectionRunners = {
  cache: runCacheSection,
  overhead: runOverheadSection,
  remote: runRemoteSection,
  throughput: runThroughputSection,
  growth: runGrowthSection,
  memory: runMemorySection,
} as const;
type SectionName = keyof typeof sectionRunners;
const sectionNames = Object.keys(sectionRunners) as SectionName[];
/** The yardsticks that run on both servers: per-step overhead and batch throughput against raw Temporal. */
const clusterSections: readonly SectionName[] = ['overhead', 'throughput'];
const serverNames: readonly BenchServer[] = ['embedded', 'cluster'];

const resultsDir = path.resolve(__dirname, 'results');
const usage = 'usage: npm run bench -- [--quick] [--sizes 100,1000,10000] [--sections cache,overhead,remote,throughput,growth,memory] [--servers embedded,cluster] [--preload zod,…]';

class UsageError extends Error {
  override readonly name = 'UsageError';
}

function parseArguments(argv: readonly string[]): { options: BenchOptions; sections: SectionName[]; servers?: BenchServer[] } {
  const quick = argv.includes('--quick');
  let preloadModules: string[] = [];
  let servers: BenchServer[] | undefined;
  let sizes = quick ? [100, 1000] : [100, 1000, 10_000];
  let sections = sectionNames;
  for (let index = 0; index < argv.length; index++) {
    const argument = argv[index];
    if (argument === '--quick') continue;
    const value = argv[index + 1];
    if (argument === '--sizes' && value) {
      sizes = value.split(',').map(Number);
      if (sizes.length === 0 || sizes.some((size) => !Number.isInteger(size) || size <= 0)) {
        throw new UsageError(`--sizes: "${value}" is not a list of positive whole numbers, e.g. --sizes 100,1000,10000`);
      }
      index++;
    } else if (argument === '--sections' && value) {
      const wanted = value.split(',');
      const unknown = wanted.filter((name) => !sectionNames.includes(name as SectionName));
      if (unknown.length) throw new UsageError(`--sections: unknown ${unknown.join(', ')}; choose from ${sectionNames.join(', ')}`);
      sections = sectionNames.filter((name) => wanted.includes(name));
      index++;
    } else if (argument === '--servers' && value) {
      const wanted = value.split(',');
      const unknown = wanted.filter((name) => !serverNames.includes(name as BenchServer));
      if (unknown.length) throw new UsageError(`--servers: unknown ${unknown.join(', ')}; choose from ${serverNames.join(', ')}`);
      servers = serverNames.filter((name) => wanted.includes(name));
      index++;
    } else if (argument === '--preload' && value) {
      preloadModules = value.split(',').filter(Boolean);
      index++;
    } else {
      throw new UsageError(`unknown argument "${argument ?? ''}"\n${usage}`);
    }
  }
  return {
    sections,
    ...(servers ? { servers } : {}),
    options: {
      quick,
      sizes,
      overheadJobs: quick ? 10 : 50,
      remoteJobs: quick ? 5 : 20,
      throughputJobs: quick ? 200 : 500,
      throughputRounds: quick ? 1 : 3,
      batchConcurrency: 200,
      memoryWorkflows: quick ? 200 : 1000,
      cacheLookups: quick ? 10_000 : 50_000,
      preloadModules,
    },
  };
}

const quietLogger = { trace() {}, debug() {}, info() {}, warn() {}, error: console.error } as never;

async function bundleRawWorkflows(): Promise<string> {
  const bundle = await bundleWorkflowCode({ workflowsPath: path.join(__dirname, 'engine', 'raw-workflow.ts'), logger: quietLogger });
  return bundle.code;
}

/** The worker's own bundle, or — to try a change — the same workflows with modules shared across workflows. */
async function bundleFactoryWorkflows(preloadModules: string[]): Promise<string> {
  if (preloadModules.length === 0) return (await bundleConveyorWorkflows()).code;
  return (await bundleWorkflowCode({ workflowsPath: builtinWorkflowsPath, preloadModules, logger: quietLogger })).code;
}

function sdkVersion(): string {
  const manifest = path.join(path.dirname(require.resolve('@temporalio/worker')), '..', 'package.json');
  return (JSON.parse(fs.readFileSync(manifest, 'utf8')) as { version: string }).version;
}

function gitCommit(): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: __dirname, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

function cliVersion(): string | undefined {
  const cli = findTemporalCli();
  if (!cli) return undefined;
  try {
    return execFileSync(cli.path, ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

/** The servers to run on: as asked, else both when the Temporal Server is built (embedded only with --quick), saying why. */
function chooseServers(asked: BenchServer[] | undefined, quick: boolean, log: (line: string) => void): BenchServer[] {
  if (asked) return asked;
  if (quick) {
    log('servers: embedded only (--quick); add --servers embedded,cluster for the cluster too');
    return ['embedded'];
  }
  if (findTemporalServer()) return ['embedded', 'cluster'];
  log(`servers: embedded only: no Temporal Server ${TEMPORAL_SERVER_VERSION} in ${temporalServerCacheDir()} (\`npx conveyor cluster up\` builds it; --servers embedded,cluster builds it for this run)`);
  return ['embedded'];
}

async function main(): Promise<number> {
  const parsed = parseArguments(process.argv.slice(2));
  const { options, sections } = parsed;
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const log = (line: string) => console.log(line);
  const servers = chooseServers(parsed.servers, options.quick, log);
  const sectionsOn = (server: BenchServer) => (server === 'cluster' ? sections.filter((name) => clusterSections.includes(name)) : sections);
  if (servers.includes('cluster') && sectionsOn('cluster').length === 0) log(`servers: the cluster runs only ${clusterSections.join(', ')}; none of them is among --sections`);
  const startedAt = Date.now();
  const commit = gitCommit();
  const loadAverageStart = loadAverage();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'conveyor-bench-'));
  const runId = Date.now().toString(36);

  let endpoint: TemporalEndpoint | undefined;
  let cluster: Cluster | undefined;
  let client: ConveyorClient | undefined;
  const outcomes: SectionOutcome[] = [];
  const stopServers = async () => {
    await client?.close().catch(() => undefined);
    client = undefined;
    await endpoint?.stop();
    endpoint = undefined;
    await cluster?.stop();
    cluster = undefined;
  };
  const stop = async () => {
    await stopServers();
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  const interrupted = (signal: NodeJS.Signals) => {
    log(`\n${signal}: stopping the benchmark's servers and workers`);
    void stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);

  const runSections = async (context: BenchContext) => {
    for (const name of sectionsOn(context.server)) {
      const start = Date.now();
      const sectionLoad = loadAverage();
      const tag = context.server === 'embedded' ? name : `${name} on the cluster`;
      log(`\n[${tag}] load average ${sectionLoad.join(' / ')}`);
      const server = context.server;
      try {
        const outcome = await sectionRunners[name](context);
        outcomes.push({
          ...outcome,
          server,
          figures: outcome.figures.map((item) => ({ ...item, server })),
          loadAverage: { start: sectionLoad, end: loadAverage() },
          durationSeconds: (Date.now() - start) / 1000,
        });
      } catch (error) {
        const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        log(`[${tag}] failed: ${message}`);
        outcomes.push({ section: name, server, figures: [], details: {}, loadAverage: { start: sectionLoad, end: loadAverage() }, durationSeconds: (Date.now() - start) / 1000, error: message });
      }
      log(`[${tag}] done in ${((Date.now() - start) / 1000).toFixed(1)} s`);
    }
  };

  let clusterStartSeconds: number | undefined;
  try {
    log(`conveyor engine benchmark${options.quick ? ' (quick)' : ''}: sections ${sections.join(', ')} on ${servers.join(' and ')}; load average ${loadAverageStart.join(' / ')}`);
    const [conveyorCode, rawCode] = await Promise.all([bundleFactoryWorkflows(options.preloadModules), bundleRawWorkflows()]);
    const conveyorBundleFile = path.join(dataDir, 'conveyor-workflows.js');
    const rawBundleFile = path.join(dataDir, 'raw-workflows.js');
    fs.writeFileSync(conveyorBundleFile, conveyorCode);
    fs.writeFileSync(rawBundleFile, rawCode);
    const contextOn = (server: BenchServer, connected: ConveyorClient, fields: Pick<BenchContext, 'address' | 'namespace' | 'databaseUrl' | 'serverPid'>): BenchContext => {
      const temporal = connected.temporal;
      return { options, temporal, clientOn: (taskQueue) => new ConveyorClient(temporal, taskQueue), server, ...fields, dataDir, conveyorBundleFile, rawBundleFile, runId, log };
    };

    if (servers.includes('embedded')) {
      const grpcPort = await freePort();
      let uiPort = await freePort();
      while (uiPort === grpcPort) uiPort = await freePort();
      const settings = loadSettings({ CONVEYOR_DATA_DIR: dataDir, CONVEYOR_GRPC_PORT: String(grpcPort), CONVEYOR_UI_PORT: String(uiPort) });
      log(`starting an embedded Temporal server on 127.0.0.1:${grpcPort} (data in ${dataDir})`);
      endpoint = await startEmbeddedServer(settings, { log });
      client = await ConveyorClient.connect({ settings, address: endpoint.address });
      await runSections(contextOn('embedded', client, { address: endpoint.address, namespace: settings.namespace, serverPid: embeddedServerPid() }));
      await stopServers();
    }

    if (servers.includes('cluster') && sectionsOn('cluster').length > 0) {
      const clusterDir = path.join(dataDir, 'cluster');
      log(`\nstarting the cluster: Temporal Server ${TEMPORAL_SERVER_VERSION} on PostgreSQL ${POSTGRES_MAJOR}, fsync on (in ${clusterDir})`);
      const clusterStart = Date.now();
      try {
        cluster = await startCluster({ dir: clusterDir, fast: false, log });
      } catch (error) {
        const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        log(`the cluster did not start: ${message}`);
        for (const name of sectionsOn('cluster')) outcomes.push({ section: name, server: 'cluster', figures: [], details: {}, loadAverage: { start: loadAverage(), end: loadAverage() }, durationSeconds: 0, error: `the cluster did not start: ${message}` });
      }
      if (cluster) {
        clusterStartSeconds = (Date.now() - clusterStart) / 1000;
        const settings = loadSettings({ CONVEYOR_DATA_DIR: dataDir, TEMPORAL_ADDRESS: cluster.temporalAddress, TEMPORAL_NAMESPACE: cluster.namespace, CONVEYOR_DATABASE_URL: cluster.databaseUrl });
        client = await ConveyorClient.connect({ settings, address: cluster.temporalAddress });
        log(`the client and workers keep their stores in ${cluster.databaseLabel} (CONVEYOR_DATABASE_URL)`);
        await runSections(contextOn('cluster', client, { address: cluster.temporalAddress, namespace: cluster.namespace, databaseUrl: cluster.databaseUrl, serverPid: cluster.temporalPid() }));
      }
    }
  } finally {
    await stop();
    process.removeListener('SIGINT', interrupted);
    process.removeListener('SIGTERM', interrupted);
  }

  const report = buildReport({
    command,
    ...(commit ? { commit } : {}),
    date: new Date(startedAt).toISOString(),
    durationSeconds: (Date.now() - startedAt) / 1000,
    machine: machineInfo(),
    node: process.version,
    temporal: {
      sdk: sdkVersion(),
      cli: cliVersion(),
      ...(servers.includes('cluster') ? { cluster: { server: TEMPORAL_SERVER_VERSION, postgres: POSTGRES_MAJOR, fsync: true, ...(clusterStartSeconds !== undefined ? { startSeconds: clusterStartSeconds } : {}) } } : {}),
    },
    servers,
    loadAverageStart,
    options,
    sections: outcomes,
  });
  printTable(report, log);
  const written = writeReport(report, resultsDir);
  log(`\nwrote ${path.relative(process.cwd(), written.json)} and ${path.relative(process.cwd(), written.md)}`);
  return outcomes.some((outcome) => outcome.error) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof UsageError ? error.message : error instanceof Error ? `${error.name}: ${error.message}` : error);
    process.exit(error instanceof UsageError ? 2 : 1);
  },
);
