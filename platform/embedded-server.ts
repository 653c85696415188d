/**
 * The embedded default: a Temporal dev server (SQLite under the data dir, Web UI included) that
 * starts itself when no TEMPORAL_ADDRESS is configured, registers Conveyor's search attributes
 * and stops cleanly. With TEMPORAL_ADDRESS set, the configured cluster is used and nothing starts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { conveyorSearchAttributes } from '../domain/search-attributes';
import { connectionOptions } from './connection';
import type { ConveyorSettings } from './settings';
import { ensureTemporalCli } from './temporal-cli';

export class TemporalUnavailableError extends Error {
  override readonly name = 'TemporalUnavailableError';
}

/** freePort found no port to give: the range it draws from is full. */
export class NoFreePortError extends Error {
  override readonly name = 'NoFreePortError';
}

export interface TemporalEndpoint {
  /** gRPC host:port of the frontend. */
  address: string;
  namespace: string;
  /** Base URL of the Web UI, when known. */
  uiUrl?: string;
  /** True when this process started the server (and `stop` will stop it). */
  started: boolean;
  /** The SQLite file, for the embedded server. */
  dbFile?: string;
  stop(): Promise<void>;
}

export interface EnsureTemporalOptions {
  log?: (line: string) => void;
  /** Only start the embedded server, never reuse one already listening (used by tests). */
  fresh?: boolean;
  /**
   * The codec endpoint the Web UI calls to show encrypted payloads in clear (platform/codec-server.ts);
   * default the settings' uiCodecEndpoint (CONVEYOR_UI_CODEC_ENDPOINT). Applies only when this call starts the server.
   */
  uiCodecEndpoint?: string;
  /**
   * Keep the server's database in memory (no `--db-filename`): nothing survives the server, and nothing
   * is written to disk. For a run that needs no durability across server restarts, e.g. the scale test.
   */
  ephemeral?: boolean;
}

/** Uses the configured cluster, or a running embedded server, or starts one. */
export async function ensureTemporal(settings: ConveyorSettings, options: EnsureTemporalOptions = {}): Promise<TemporalEndpoint> {
  const noop = async () => {};
  if (settings.address) {
    if (!(await isReachable(settings, settings.address))) {
      throw new TemporalUnavailableError(
        `TEMPORAL_ADDRESS=${settings.address} is not reachable. Start that cluster, or unset TEMPORAL_ADDRESS to use the embedded server.`,
      );
    }
    return { address: settings.address, namespace: settings.namespace, uiUrl: settings.uiUrl, started: false, stop: noop };
  }
  const address = `127.0.0.1:${settings.embeddedGrpcPort}`;
  const uiUrl = `http://localhost:${settings.embeddedUiPort}`;
  if (!options.fresh && (await isReachable(settings, address))) {
    await registerSearchAttributes(settings, address);
    return { address, namespace: settings.namespace, uiUrl, started: false, dbFile: dbFileFor(settings), stop: noop };
  }
  return startEmbeddedServer(settings, options);
}

function dbFileFor(settings: ConveyorSettings): string {
  return path.join(settings.dataDir, 'temporal.sqlite');
}

export async function startEmbeddedServer(settings: ConveyorSettings, options: EnsureTemporalOptions = {}): Promise<TemporalEndpoint> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const cli = await ensureTemporalCli({ log });
  fs.mkdirSync(settings.dataDir, { recursive: true });
  const dbFile = options.ephemeral ? undefined : dbFileFor(settings);
  const logFile = path.join(settings.dataDir, 'temporal-server.log');
  const address = `127.0.0.1:${settings.embeddedGrpcPort}`;
  const uiCodecEndpoint = options.uiCodecEndpoint ?? settings.uiCodecEndpoint;
  if (uiCodecEndpoint && !/^https?:\/\/[^\s/]+(\/\S*)?$/.test(uiCodecEndpoint)) {
    throw new TemporalUnavailableError(`CONVEYOR_UI_CODEC_ENDPOINT=${uiCodecEndpoint} is not an http(s) URL, e.g. http://127.0.0.1:8888`);
  }
  for (const port of [settings.embeddedGrpcPort, settings.embeddedUiPort]) {
    if (!(await isPortFree(port))) {
      throw new TemporalUnavailableError(
        `Port ${port} on 127.0.0.1 is taken by something that is not a Temporal server. Free it, or set CONVEYOR_GRPC_PORT / CONVEYOR_UI_PORT.`,
      );
    }
  }
  const logStream = fs.openSync(logFile, 'a');
  const args = [
    'server', 'start-dev',
    '--ip', '127.0.0.1',
    '--port', String(settings.embeddedGrpcPort),
    '--ui-port', String(settings.embeddedUiPort),
    ...(dbFile ? ['--db-filename', dbFile] : []),
    '--namespace', settings.namespace,
    '--log-level', 'warn',
    // WAL with synchronous=NORMAL stays consistent through a crash of any process and is much faster
    // than the default rollback journal; only a power cut can lose the last transactions.
    '--sqlite-pragma', 'journal_mode=wal',
    '--sqlite-pragma', 'synchronous=normal',
    // A worker that schedules an activity may start it at once, without a round trip through the matcher.
    '--dynamic-config-value', 'system.enableActivityEagerExecution=true',
    ...(uiCodecEndpoint ? ['--ui-codec-endpoint', uiCodecEndpoint] : []),
  ];
  const child = spawn(cli.path, args, { stdio: ['ignore', logStream, logStream], detached: false });
  fs.closeSync(logStream);
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });

  const deadline = Date.now() + 90_000;
  while (!(await isReachable(settings, address))) {
    if (exited) {
      throw new TemporalUnavailableError(`The embedded Temporal server exited while starting. Its log (${logFile}):\n${tail(logFile)}`);
    }
    if (Date.now() > deadline) {
      await stopProcess(child);
      throw new TemporalUnavailableError(`The embedded Temporal server did not become healthy in 90 s. Its log (${logFile}):\n${tail(logFile)}`);
    }
    await sleep(250);
  }
  await registerSearchAttributes(settings, address);
  await waitForUi(settings.embeddedUiPort, deadline);
  return {
    address,
    namespace: settings.namespace,
    uiUrl: `http://localhost:${settings.embeddedUiPort}`,
    started: true,
    dbFile,
    stop: () => stopProcess(child),
  };
}

async function isReachable(settings: ConveyorSettings, address: string): Promise<boolean> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ ...connectionOptions(settings, address), connectTimeout: 1000 });
    await connection.workflowService.getSystemInfo({}, );
    return true;
  } catch {
    return false;
  } finally {
    await connection?.close().catch(() => undefined);
  }
}

/** Adds Conveyor's search attributes through the operator API, so existing databases get them too. */
export async function registerSearchAttributes(settings: ConveyorSettings, address: string): Promise<void> {
  const { IndexedValueType } = temporal.api.enums.v1;
  const typeOf: Record<string, temporal.api.enums.v1.IndexedValueType> = {
    KEYWORD: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    DOUBLE: IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
    INT: IndexedValueType.INDEXED_VALUE_TYPE_INT,
    TEXT: IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
    BOOL: IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
    DATETIME: IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
    KEYWORD_LIST: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
  };
  const connection = await Connection.connect(connectionOptions(settings, address));
  try {
    const existing = await connection.operatorService.listSearchAttributes({ namespace: settings.namespace });
    const missing = Object.fromEntries(
      conveyorSearchAttributes
        .filter((key) => !(key.name in (existing.customAttributes ?? {})))
        .map((key) => [key.name, typeOf[key.type]!]),
    );
    if (Object.keys(missing).length > 0) {
      await connection.operatorService.addSearchAttributes({ namespace: settings.namespace, searchAttributes: missing });
    }
  } finally {
    await connection.close();
  }
}

async function waitForUi(port: number, deadline: number): Promise<void> {
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(250);
  }
}

export function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A free TCP port on 127.0.0.1 between 20000 and 32000 (for tests, parallel servers and the cluster's
 * services), not in `taken`, which it joins. Below the kernel's ephemeral range (32768 and up here): a port
 * the kernel handed out for `listen(0)` and took back may be handed to the next process that binds port 0
 * (the dev server's own internal services do) before its user binds it — a restarted dev server failed to
 * start that way, its UI's port taken by one of its own services. Temporal's cluster_membership table also
 * keeps ports as smallint.
 */
export async function freePort(taken: Set<number> = new Set()): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (!taken.has(port) && (await isPortFree(port))) {
      taken.add(port);
      return port;
    }
  }
  throw new NoFreePortError(
    `Found no free port on 127.0.0.1 between 20000 and 32000 in 200 tries (${taken.size} already taken by this process). Stop the servers an earlier run left listening there (\`ss -ltnp\` lists them).`,
  );
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const forceKill = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(forceKill);
}

function tail(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-30).join('\n');
  } catch {
    return '(no log)';
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
