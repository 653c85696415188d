/**
 * The engine benchmark (`npm run bench`): what Conveyor costs on top of Temporal, measured side by side in
 * one run against an embedded Temporal server started for the run (fresh SQLite database in a temporary
 * directory, free ports). Sections: the SQLite cache store (lookup latency, hit rate, false hits), durable
 * overhead per step (factory vs in-process calls vs a raw workflow), batch throughput (factory vs raw
 * children), growth with batch size (time and peak memory), and worker memory per cached waiting workflow.
 * Every Conveyor job uses a no-op model provider, so the figures are the engine's, not a model's. Prints a
 * table and writes bench/results/engine.json and engine.md.
 * A remote-like section compares a job of 200 ms calls to a local OpenAI-protocol server with a raw workflow
 * making the same calls. Options: --quick (smaller sizes, a smoke run), --sizes 100,1000,10000 (growth batch sizes),
 * --sections cache,overhead,remote,throughput,growth,memory (a subset), --preload zod,… (try the factory's workflows
 * with those modules shared across workflows, the bundler's preloadModules; the default is the worker's bundle).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { ConveyorClient } from '../client';
import { freePort, startEmbeddedServer, type TemporalEndpoint } from '../platform/embedded-server';
import { loadSettings } from '../platform/settings';
import { findTemporalCli } from '../platform/temporal-cli';
import { bundleConveyorWorkflows, builtinWorkflowsPath } from '../workers/worker';
import { runCacheSection } from './engine/cache';
import type { BenchContext, BenchOptions, SectionOutcome } from './engine/figures';
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

const resultsDir = path.resolve(__dirname, 'results');
const usage = 'usage: npm run bench -- [--quick] [--sizes 100,1000,10000] [--sections cache,overhead,remote,throughput,growth,memory] [--preload zod,…]';

class UsageError extends Error {
  override readonly name = 'UsageError';
}

function parseArguments(argv: readonly string[]): { options: BenchOptions; sections: SectionName[] } {
  const quick = argv.includes('--quick');
  let preloadModules: string[] = [];
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
    } else if (argument === '--preload' && value) {
      preloadModules = value.split(',').filter(Boolean);
      index++;
    } else {
      throw new UsageError(`unknown argument "${argument ?? ''}"\n${usage}`);
    }
  }
  return {
    sections,
    options: {
      quick,
      sizes,
      overheadJobs: quick ? 10 : 50,
      remoteJobs: quick ? 5 : 20,
      throughputJobs: quick ? 200 : 500,
      throughputRounds: quick ? 1 : 2,
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

function cliVersion(): string | undefined {
  const cli = findTemporalCli();
  if (!cli) return undefined;
  try {
    return execFileSync(cli.path, ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

async function main(): Promise<number> {
  const { options, sections } = parseArguments(process.argv.slice(2));
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const log = (line: string) => console.log(line);
  const startedAt = Date.now();
  const loadAverageStart = loadAverage();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'conveyor-bench-'));
  const runId = Date.now().toString(36);
  const grpcPort = await freePort();
  let uiPort = await freePort();
  while (uiPort === grpcPort) uiPort = await freePort();
  const settings = loadSettings({
    CONVEYOR_DATA_DIR: dataDir,
    CONVEYOR_GRPC_PORT: String(grpcPort),
    CONVEYOR_UI_PORT: String(uiPort),
  });

  let endpoint: TemporalEndpoint | undefined;
  let client: ConveyorClient | undefined;
  const outcomes: SectionOutcome[] = [];
  const stop = async () => {
    await client?.close().catch(() => undefined);
    client = undefined;
    await endpoint?.stop();
    endpoint = undefined;
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  const interrupted = (signal: NodeJS.Signals) => {
    log(`\n${signal}: stopping the benchmark's server and workers`);
    void stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);

  try {
    log(`conveyor engine benchmark${options.quick ? ' (quick)' : ''}: sections ${sections.join(', ')}; load average ${loadAverageStart.join(' / ')}`);
    log(`starting an embedded Temporal server on 127.0.0.1:${grpcPort} (data in ${dataDir})`);
    endpoint = await startEmbeddedServer(settings, { log });
    const [conveyorCode, rawCode] = await Promise.all([bundleFactoryWorkflows(options.preloadModules), bundleRawWorkflows()]);
    const conveyorBundleFile = path.join(dataDir, 'conveyor-workflows.js');
    const rawBundleFile = path.join(dataDir, 'raw-workflows.js');
    fs.writeFileSync(conveyorBundleFile, conveyorCode);
    fs.writeFileSync(rawBundleFile, rawCode);
    client = await ConveyorClient.connect({ settings, address: endpoint.address });
    const temporal = client.temporal;
    const context: BenchContext = {
      options,
      temporal,
      clientOn: (taskQueue) => new ConveyorClient(temporal, taskQueue),
      address: endpoint.address,
      namespace: settings.namespace,
      dataDir,
      conveyorBundleFile,
      rawBundleFile,
      runId,
      serverPid: embeddedServerPid(),
      log,
    };

    for (const name of sections) {
      const start = Date.now();
      const sectionLoad = loadAverage();
      log(`\n[${name}] load average ${sectionLoad.join(' / ')}`);
      try {
        const outcome = await sectionRunners[name](context);
        outcomes.push({ ...outcome, loadAverage: { start: sectionLoad, end: loadAverage() }, durationSeconds: (Date.now() - start) / 1000 });
      } catch (error) {
        const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        log(`[${name}] failed: ${message}`);
        outcomes.push({ section: name, figures: [], details: {}, loadAverage: { start: sectionLoad, end: loadAverage() }, durationSeconds: (Date.now() - start) / 1000, error: message });
      }
      log(`[${name}] done in ${((Date.now() - start) / 1000).toFixed(1)} s`);
    }
  } finally {
    await stop();
    process.removeListener('SIGINT', interrupted);
    process.removeListener('SIGTERM', interrupted);
  }

  const report = buildReport({
    command,
    date: new Date(startedAt).toISOString(),
    durationSeconds: (Date.now() - startedAt) / 1000,
    machine: machineInfo(),
    node: process.version,
    temporal: { sdk: sdkVersion(), cli: cliVersion() },
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
