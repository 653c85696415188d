/**
 * A production-like Temporal cluster without Docker: PostgreSQL 15 from Debian's packages
 * (platform/postgres-server.ts) and the Temporal Server itself (not the dev server), built once from
 * the Go module proxy into the per-user cache at the version docker-compose.yml runs. Its schemas are
 * set up with Temporal's own temporal-sql-tool, it reads the dynamic config docker-compose mounts
 * (deploy/dynamicconfig/development-sql.yaml), and the namespace and Conveyor's search attributes are
 * registered before it is handed out. Conveyor's own stores get a database (`conveyor`) on the same
 * PostgreSQL. Everything lives under one folder (by default $CONVEYOR_DATA_DIR/cluster): the
 * PostgreSQL data, the server's config, log and pid, and the ports chosen on the first start.
 *
 * The server and PostgreSQL run as processes of their own, so `conveyor cluster up` can return while
 * they keep running; the handle can kill and restart either (the chaos suite does).
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { freePort, isPortFree, registerSearchAttributes } from './embedded-server';
import { conveyorCacheDir, findGo, GoBuildError, goInstall, isExecutable } from './go-build';
import { redactDatabaseUrl } from './postgres';
import { postgresPid, postgresUrl, startPostgres, stopPostgres, type PostgresServer } from './postgres-server';
import { isRunning, procCommandLine } from './proc';
import { settingsSchema } from './settings';

/** The Temporal Server release the cluster builds and docker-compose.yml runs (test/compose.test.ts keeps them equal). */
export const TEMPORAL_SERVER_VERSION = 'v1.29.1';
const SERVER_MODULE = 'go.temporal.io/server';
/** Fixed for the life of a cluster's database: Temporal cannot change it after the first start. */
const HISTORY_SHARDS = 4;
const NAMESPACE_RETENTION_SECONDS = 72 * 3600;
const SERVICES = ['frontend', 'history', 'matching', 'worker'] as const;
/** gRPC's ALREADY_EXISTS: registering a namespace that is there. */
const GRPC_ALREADY_EXISTS = 6;

export class ClusterError extends Error {
  override readonly name = 'ClusterError';
}

export interface TemporalServerBinaries {
  /** temporal-server */
  server: string;
  /** temporal-sql-tool */
  sqlTool: string;
  source: 'cache' | 'built';
}

export function temporalServerCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return conveyorCacheDir(`temporal-server-${TEMPORAL_SERVER_VERSION}`, env);
}

/** The cached binaries, without building anything. */
export function findTemporalServer(env: NodeJS.ProcessEnv = process.env): TemporalServerBinaries | undefined {
  const dir = temporalServerCacheDir(env);
  const binaries = { server: path.join(dir, 'temporal-server'), sqlTool: path.join(dir, 'temporal-sql-tool') };
  return isExecutable(binaries.server) && isExecutable(binaries.sqlTool) ? { ...binaries, source: 'cache' } : undefined;
}

/** Finds the Temporal Server and its SQL tool in the per-user cache, building both with Go when missing. */
export async function ensureTemporalServer(options: { env?: NodeJS.ProcessEnv; log?: (line: string) => void } = {}): Promise<TemporalServerBinaries> {
  const env = options.env ?? process.env;
  const found = findTemporalServer(env);
  if (found) return found;
  if (!findGo(env)) {
    throw new ClusterError(
      `No Temporal Server ${TEMPORAL_SERVER_VERSION} in ${temporalServerCacheDir(env)} and no Go toolchain to build it. ` +
        `Install Go >= 1.25 (https://go.dev/dl) so Conveyor can build ${SERVER_MODULE}/cmd/server@${TEMPORAL_SERVER_VERSION}, or run the cluster with docker compose.`,
    );
  }
  try {
    await goInstall({
      what: `the Temporal Server ${TEMPORAL_SERVER_VERSION} and temporal-sql-tool`,
      packages: [`${SERVER_MODULE}/cmd/server`, `${SERVER_MODULE}/cmd/tools/sql`],
      version: TEMPORAL_SERVER_VERSION,
      cacheDir: temporalServerCacheDir(env),
      binaries: { server: 'temporal-server', sql: 'temporal-sql-tool' },
      env,
      ...(options.log ? { log: options.log } : {}),
    });
  } catch (error) {
    if (error instanceof GoBuildError) throw new ClusterError(error.message);
    throw error;
  }
  return { ...findTemporalServer(env)!, source: 'built' };
}

/** The dynamic config docker-compose.yml mounts into its server: one file for both. */
export function clusterDynamicConfigFile(): string {
  for (const root of [path.resolve(__dirname, '..'), path.resolve(__dirname, '..', '..')]) {
    const file = path.join(root, 'deploy', 'dynamicconfig', 'development-sql.yaml');
    if (fs.existsSync(file)) return file;
  }
  throw new ClusterError('deploy/dynamicconfig/development-sql.yaml is missing: the cluster runs from a checkout of Conveyor (the file ships with the repository).');
}

type ServiceName = (typeof SERVICES)[number];

/** What a cluster folder remembers between starts: the ports (so addresses stay the same) and the namespace. */
interface ClusterState {
  serverVersion: string;
  namespace: string;
  postgresPort: number;
  ports: Record<ServiceName, { grpc: number; membership: number }>;
}

export interface StartClusterOptions {
  /** The cluster's folder; created on the first start, reused after (same data, same ports). */
  dir: string;
  /** The namespace to register (default `default`); fixed by the first start. */
  namespace?: string;
  /** The frontend's port on the first start (default: a free one). */
  frontendPort?: number;
  /**
   * PostgreSQL without fsync and with asynchronous commits (tests): fast, but a power loss could corrupt
   * the data, and a SIGKILL of PostgreSQL loses the last commits (a namespace registered a moment before):
   * leave it off where PostgreSQL is killed.
   */
  fast?: boolean;
  env?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
}

export interface Cluster {
  /** host:port of the frontend (TEMPORAL_ADDRESS). */
  temporalAddress: string;
  namespace: string;
  /** Conveyor's stores' database (CONVEYOR_DATABASE_URL): holds the password, never print it (use `databaseLabel`). */
  databaseUrl: string;
  databaseLabel: string;
  postgres: PostgresServer;
  dir: string;
  /** The Temporal Server's log file. */
  serverLog: string;
  /** The Temporal Server's process id while it runs. */
  temporalPid(): number | undefined;
  /** Kills the Temporal Server at once (SIGKILL, no shutdown) and waits until it is gone. */
  killTemporal(): Promise<void>;
  /** Stops the Temporal Server gracefully (SIGTERM). */
  stopTemporal(): Promise<void>;
  /** Starts the Temporal Server again (after a kill or a stop) and waits until it serves the namespace. */
  startTemporal(): Promise<void>;
  /** Stops the server gracefully and starts it again. */
  restartTemporal(): Promise<void>;
  /** Kills PostgreSQL's postmaster at once (SIGKILL) and waits until it is gone; `postgres.start()` brings it back. */
  killPostgres(): Promise<void>;
  /** Stops the Temporal Server, then PostgreSQL. */
  stop(): Promise<void>;
}

const paths = (dir: string) => ({
  state: path.join(dir, 'cluster.json'),
  postgres: path.join(dir, 'postgres'),
  serverRoot: path.join(dir, 'temporal'),
  serverConfig: path.join(dir, 'temporal', 'config', 'conveyor.yaml'),
  serverLog: path.join(dir, 'temporal', 'server.log'),
  serverPid: path.join(dir, 'temporal', 'server.pid'),
});

function readState(dir: string): ClusterState | undefined {
  const file = paths(dir).state;
  if (!fs.existsSync(file)) return undefined;
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as ClusterState;
  } catch (error) {
    throw new ClusterError(`${file} is not valid JSON (${(error as Error).message}); remove the cluster folder ${dir} to start afresh`);
  }
}

async function newState(options: StartClusterOptions): Promise<ClusterState> {
  const taken = new Set<number>(options.frontendPort ? [options.frontendPort] : []);
  const ports = {} as ClusterState['ports'];
  for (const service of SERVICES) {
    ports[service] = {
      grpc: service === 'frontend' && options.frontendPort ? options.frontendPort : await freePort(taken),
      membership: await freePort(taken),
    };
  }
  return { serverVersion: TEMPORAL_SERVER_VERSION, namespace: options.namespace ?? 'default', postgresPort: await freePort(taken), ports };
}

/**
 * The server's config, in the shape of the server's own config/development-postgres12.yaml: PostgreSQL
 * persistence and SQL visibility (postgres12 plugin), the four services in one process on loopback
 * ports, no archival. JSON is YAML; the password comes from the server's environment through the
 * config loader's template support, so it is not written to the file.
 */
function serverConfig(state: ClusterState, dynamicConfigFile: string): string {
  const store = (databaseName: string, maxConns: number) => ({
    sql: {
      pluginName: 'postgres12',
      databaseName,
      connectAddr: `127.0.0.1:${state.postgresPort}`,
      connectProtocol: 'tcp',
      user: 'conveyor',
      password: '{{ env `POSTGRES_PWD` }}',
      maxConns,
      maxIdleConns: maxConns,
      maxConnLifetime: '1h',
    },
  });
  const config = {
    log: { stdout: true, level: 'warn' },
    persistence: {
      defaultStore: 'postgres-default',
      visibilityStore: 'postgres-visibility',
      numHistoryShards: HISTORY_SHARDS,
      datastores: { 'postgres-default': store('temporal', 20), 'postgres-visibility': store('temporal_visibility', 4) },
    },
    global: { membership: { maxJoinDuration: '30s', broadcastAddress: '127.0.0.1' } },
    services: Object.fromEntries(
      SERVICES.map((service) => [service, { rpc: { grpcPort: state.ports[service].grpc, membershipPort: state.ports[service].membership, bindOnIP: '127.0.0.1' } }]),
    ),
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: 'active',
      currentClusterName: 'active',
      clusterInformation: { active: { enabled: true, initialFailoverVersion: 1, rpcName: 'frontend', rpcAddress: `127.0.0.1:${state.ports.frontend.grpc}` } },
    },
    dcRedirectionPolicy: { policy: 'noop' },
    archival: { history: { state: 'disabled' }, visibility: { state: 'disabled' } },
    namespaceDefaults: { archival: { history: { state: 'disabled' }, visibility: { state: 'disabled' } } },
    dynamicConfigClient: { filepath: dynamicConfigFile, pollInterval: '10s' },
  };
  return `# enable-template\n# Written by Conveyor's cluster (platform/cluster.ts) on each start; edits are overwritten.\n${JSON.stringify(config, null, 2)}\n`;
}

/** temporal-sql-tool: create the database, set up the versioned schema, apply every update (each step idempotent). */
function setUpSchemas(sqlTool: string, postgres: PostgresServer, password: string): void {
  const schemas = [
    ['temporal', 'postgresql/v12/temporal'],
    ['temporal_visibility', 'postgresql/v12/visibility'],
  ] as const;
  for (const [database, schemaName] of schemas) {
    for (const step of [['create-database'], ['setup-schema', '-v', '0.0'], ['update-schema', '--schema-name', schemaName]]) {
      const args = ['--plugin', 'postgres12', '--ep', '127.0.0.1', '-p', String(postgres.port), '-u', 'conveyor', '--db', database, ...step];
      const result = spawnSyncQuiet(sqlTool, args, { SQL_PASSWORD: password });
      if (result.status !== 0) throw new ClusterError(`temporal-sql-tool ${step[0]} for ${database} failed (exit ${result.status}):\n${result.output.slice(-3000)}`);
    }
  }
}

function spawnSyncQuiet(command: string, args: string[], extraEnv: Record<string, string>): { status: number | null; output: string } {
  // Not the caller's environment: the tool reads SQL_* variables, and only those given here should count.
  const result = spawnSync(command, args, { env: { PATH: '/usr/bin:/bin', ...extraEnv }, encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout ?? ''}${result.stderr ?? ''}${result.error ? String(result.error) : ''}` };
}

/** The pid in the pid file, when that process is alive and is a temporal-server. */
function runningServerPid(dir: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(paths(dir).serverPid, 'utf8').trim() || 'NaN');
    if (!Number.isInteger(pid)) return undefined;
    return procCommandLine(pid)?.includes('temporal-server') && isRunning(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

async function waitForExit(dir: string, pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (runningServerPid(dir) === pid) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

async function stopServerProcess(dir: string, signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
  const pid = runningServerPid(dir);
  if (!pid) return;
  process.kill(pid, signal);
  if (!(await waitForExit(dir, pid, signal === 'SIGKILL' ? 10_000 : 30_000))) {
    process.kill(pid, 'SIGKILL');
    await waitForExit(dir, pid, 10_000);
  }
}

function tail(file: string, lines = 30): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Registers the namespace when missing (the real server, unlike the dev server, creates none). */
async function registerNamespace(connection: Connection, namespace: string): Promise<void> {
  try {
    await connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs(NAMESPACE_RETENTION_SECONDS * 1000) });
  } catch (error) {
    if ((error as { code?: number }).code !== GRPC_ALREADY_EXISTS) throw error;
  }
}

async function untilSucceeds<T>(what: string, deadline: number, attempt: () => Promise<T>, logFile: string, alive: () => boolean): Promise<T> {
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (!alive()) throw new ClusterError(`The Temporal Server exited while ${what}. Its log (${logFile}) ends:\n${tail(logFile)}`);
      if (Date.now() > deadline) throw new ClusterError(`Timed out ${what}: ${(error as Error).message}. The server's log (${logFile}) ends:\n${tail(logFile)}`);
      await sleep(250);
    }
  }
}

/** Starts (creating on the first call) the cluster in `options.dir`; resolves once the namespace serves workflows. */
export async function startCluster(options: StartClusterOptions): Promise<Cluster> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const dir = path.resolve(options.dir);
  const files = paths(dir);
  fs.mkdirSync(path.dirname(files.serverConfig), { recursive: true });
  if (runningServerPid(dir)) throw new ClusterError(`a Temporal Server already runs for ${dir} (pid ${runningServerPid(dir)}); stop it first (conveyor cluster down)`);

  const binaries = await ensureTemporalServer({ ...(options.env ? { env: options.env } : {}), log });
  const dynamicConfigFile = clusterDynamicConfigFile();
  const state = readState(dir) ?? (await newState(options));
  if (options.frontendPort && options.frontendPort !== state.ports.frontend.grpc) {
    throw new ClusterError(`the cluster in ${dir} serves on port ${state.ports.frontend.grpc}, not ${options.frontendPort}; drop --port or use another folder`);
  }
  if (options.namespace && options.namespace !== state.namespace) {
    throw new ClusterError(`the cluster in ${dir} serves namespace "${state.namespace}", not "${options.namespace}"; use that one or another folder`);
  }
  for (const port of [state.postgresPort, ...SERVICES.flatMap((service) => [state.ports[service].grpc, state.ports[service].membership])]) {
    if (!(await isPortFree(port))) throw new ClusterError(`port ${port} on 127.0.0.1, which the cluster in ${dir} uses, is taken; free it or remove ${files.state} to choose new ports`);
  }
  fs.writeFileSync(files.state, `${JSON.stringify(state, null, 2)}\n`);

  const postgres = await startPostgres({ dataDir: files.postgres, port: state.postgresPort, ...(options.fast ? { fast: true } : {}), log });
  const password = decodeURIComponent(new URL(postgres.url).password);
  const databaseUrl = postgres.url; // the `conveyor` database startPostgres creates, for Conveyor's stores
  try {
    setUpSchemas(binaries.sqlTool, postgres, password);
  } catch (error) {
    await postgres.stop();
    throw error;
  }
  fs.writeFileSync(files.serverConfig, serverConfig(state, dynamicConfigFile));

  const temporalAddress = `127.0.0.1:${state.ports.frontend.grpc}`;
  const settings = settingsSchema.parse({ dataDir: dir, namespace: state.namespace, address: temporalAddress });

  const startTemporal = async () => {
    if (runningServerPid(dir)) return;
    const startedAt = Date.now();
    const out = fs.openSync(files.serverLog, 'a');
    const child = spawn(binaries.server, ['--root', files.serverRoot, '--config', 'config', '--env', 'conveyor', '--allow-no-auth', 'start'], {
      cwd: files.serverRoot,
      // POSTGRES_PWD, as the server's Docker image names it; the config file reads it through its template.
      env: { PATH: '/usr/bin:/bin', POSTGRES_PWD: password },
      stdio: ['ignore', out, out],
      detached: true,
    });
    fs.closeSync(out);
    child.unref();
    fs.writeFileSync(files.serverPid, `${child.pid}\n`);
    let exited = false;
    child.once('exit', () => {
      exited = true;
    });
    const alive = () => !exited;
    const deadline = Date.now() + 90_000;
    const connection = await untilSucceeds('starting', deadline, () => Connection.connect({ address: temporalAddress, connectTimeout: 1000 }), files.serverLog, alive);
    try {
      await untilSucceeds('waiting for the frontend', deadline, () => connection.workflowService.getSystemInfo({}), files.serverLog, alive);
      await untilSucceeds(`registering namespace ${state.namespace}`, deadline, () => registerNamespace(connection, state.namespace), files.serverLog, alive);
      // A namespace reaches the frontend's cache a moment after it is registered.
      await untilSucceeds(`waiting for namespace ${state.namespace}`, deadline, () => connection.workflowService.describeNamespace({ namespace: state.namespace }), files.serverLog, alive);
      await untilSucceeds('registering search attributes', deadline, () => registerSearchAttributes(settings, temporalAddress), files.serverLog, alive);
    } finally {
      await connection.close();
    }
    log(`Temporal Server ${TEMPORAL_SERVER_VERSION} on ${temporalAddress}, namespace ${state.namespace} (ready in ${((Date.now() - startedAt) / 1000).toFixed(1)} s; log ${files.serverLog})`);
  };

  try {
    await startTemporal();
  } catch (error) {
    await stopServerProcess(dir, 'SIGKILL');
    await postgres.stop();
    throw error;
  }

  return {
    temporalAddress,
    namespace: state.namespace,
    databaseUrl,
    databaseLabel: postgres.label,
    postgres,
    dir,
    serverLog: files.serverLog,
    temporalPid: () => runningServerPid(dir),
    killTemporal: () => stopServerProcess(dir, 'SIGKILL'),
    stopTemporal: () => stopServerProcess(dir, 'SIGTERM'),
    startTemporal,
    restartTemporal: async () => {
      await stopServerProcess(dir, 'SIGTERM');
      await startTemporal();
    },
    killPostgres: async () => {
      const pid = postgres.pid();
      if (!pid) return;
      process.kill(pid, 'SIGKILL');
      while (postgres.pid() === pid) await sleep(50);
    },
    stop: async () => {
      await stopServerProcess(dir, 'SIGTERM');
      await postgres.stop();
    },
  };
}

export interface ClusterStatus {
  dir: string;
  /** No cluster was ever started in this folder. */
  exists: boolean;
  temporalAddress?: string;
  namespace?: string;
  temporalPid?: number;
  postgresPid?: number;
  /** Conveyor's stores' database, without the password. */
  databaseLabel?: string;
}

/** What runs for the cluster in `dir`, read from its folder (starts nothing). */
export function clusterStatus(dir: string): ClusterStatus {
  const resolved = path.resolve(dir);
  const state = readState(resolved);
  if (!state) return { dir: resolved, exists: false };
  const postgresRunning = postgresPid(paths(resolved).postgres);
  return {
    dir: resolved,
    exists: true,
    temporalAddress: `127.0.0.1:${state.ports.frontend.grpc}`,
    namespace: state.namespace,
    ...(runningServerPid(resolved) ? { temporalPid: runningServerPid(resolved) } : {}),
    ...(postgresRunning ? { postgresPid: postgresRunning } : {}),
    databaseLabel: redactDatabaseUrl(clusterDatabaseUrl(resolved)),
  };
}

/** CONVEYOR_DATABASE_URL of the cluster in `dir` (holds the password: for the operator's export line only). */
export function clusterDatabaseUrl(dir: string): string {
  const resolved = path.resolve(dir);
  const state = readState(resolved);
  if (!state) throw new ClusterError(`no cluster in ${resolved}; start one with conveyor cluster up`);
  return postgresUrl(paths(resolved).postgres, state.postgresPort);
}

/** Stops whatever runs for the cluster in `dir` (the server, then PostgreSQL); the data stays. */
export async function stopCluster(dir: string): Promise<void> {
  const resolved = path.resolve(dir);
  await stopServerProcess(resolved, 'SIGTERM');
  await stopPostgres(paths(resolved).postgres);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
