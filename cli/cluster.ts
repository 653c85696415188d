/**
 * `conveyor cluster`: the production-like local cluster (platform/cluster.ts) — the Temporal Server on
 * PostgreSQL, with a database for Conveyor's stores. `up` starts it in the background and prints the
 * export lines the workers and clients need; `down` stops it; `status` says what runs. Without a verb
 * (`npm run cluster`) it runs in the foreground until Ctrl-C and then stops cleanly.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { clusterDatabaseUrl, ClusterError, clusterStatus, startCluster, stopCluster, TEMPORAL_SERVER_VERSION, type Cluster } from '../platform/cluster';
import { POSTGRES_MAJOR, PostgresUnavailableError } from '../platform/postgres-server';
import { loadSettings } from '../platform/settings';
import type { CommandOutput } from './eval';

export const clusterUsage = 'conveyor cluster [up|down|status] [--dir DIR] [--port N] [--json]   (= npm run cluster; no verb: foreground until Ctrl-C)';

const usage =
  `usage: ${clusterUsage}\n` +
  `  up      start the Temporal Server ${TEMPORAL_SERVER_VERSION} on PostgreSQL ${POSTGRES_MAJOR} in the background and print\n` +
  '          export lines (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, CONVEYOR_DATABASE_URL): eval "$(conveyor cluster up)"\n' +
  '  down    stop it (the data stays in the folder)\n' +
  '  status  what runs, and where\n' +
  '  --dir   the cluster folder (default $CONVEYOR_DATA_DIR/cluster); --port the frontend port on the first start';

/** Single quotes for a POSIX shell: the URL's password may hold any character. */
const shellQuote = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`;

function exportLines(temporalAddress: string, namespace: string, databaseUrl: string): string[] {
  return [`export TEMPORAL_ADDRESS=${temporalAddress}`, `export TEMPORAL_NAMESPACE=${shellQuote(namespace)}`, `export CONVEYOR_DATABASE_URL=${shellQuote(databaseUrl)}`];
}

export async function clusterCommand(argv: string[], io: CommandOutput): Promise<number> {
  const fail = (message: string) => {
    io.stderr(`conveyor cluster: ${message}\n${usage}`);
    return 2;
  };
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { dir: { type: 'string' }, port: { type: 'string' }, json: { type: 'boolean' } }, allowPositionals: true, strict: true });
  } catch (error) {
    return fail((error as Error).message);
  }
  const [verb = 'run', ...extra] = parsed.positionals;
  if (!['run', 'up', 'down', 'status'].includes(verb)) return fail(`unknown verb "${verb}" (up, down, status)`);
  if (extra.length > 0) return fail(`unexpected argument "${extra[0]}"`);
  const port = parsed.values.port;
  if (port !== undefined && (!/^\d+$/.test(port) || Number(port) < 1 || Number(port) > 32_767)) {
    return fail(`--port must be a port number from 1 to 32767 (Temporal keeps cluster ports as smallint), not "${port}"`);
  }
  if (port !== undefined && verb !== 'up' && verb !== 'run') return fail('--port applies to up (and the foreground run) only');
  const settings = loadSettings();
  const dir = path.resolve(parsed.values.dir ?? path.join(settings.dataDir, 'cluster'));

  try {
    if (verb === 'status') {
      const status = clusterStatus(dir);
      if (parsed.values.json) io.stdout(JSON.stringify(status, null, 2));
      else if (!status.exists) io.stdout(`No cluster in ${dir} (conveyor cluster up starts one).`);
      else {
        io.stdout(`Temporal Server ${status.temporalAddress} (namespace ${status.namespace}): ${status.temporalPid ? `running, pid ${status.temporalPid}` : 'stopped'}`);
        io.stdout(`PostgreSQL ${status.databaseLabel}: ${status.postgresPid ? `running, pid ${status.postgresPid}` : 'stopped'}`);
        io.stdout(`Folder: ${dir}`);
      }
      return 0;
    }
    if (verb === 'down') {
      const before = clusterStatus(dir);
      await stopCluster(dir);
      io.stderr(before.temporalPid || before.postgresPid ? `Cluster in ${dir} stopped (its data stays there).` : `Nothing ran for the cluster in ${dir}.`);
      return 0;
    }

    const running = clusterStatus(dir);
    if (running.temporalPid && running.postgresPid) {
      if (verb === 'run') return fail(`the cluster in ${dir} already runs in the background (conveyor cluster down stops it)`);
      io.stderr(`The cluster in ${dir} already runs.`);
      for (const line of exportLines(running.temporalAddress!, running.namespace!, clusterDatabaseUrl(dir))) io.stdout(line);
      return 0;
    }
    if (running.temporalPid || running.postgresPid) await stopCluster(dir); // half up: start both afresh

    const cluster: Cluster = await startCluster({ dir, namespace: settings.namespace, ...(port ? { frontendPort: Number(port) } : {}), log: io.stderr });
    if (verb === 'up') {
      // The URL holds the password: printed only here, as the export line the operator asked for.
      for (const line of exportLines(cluster.temporalAddress, cluster.namespace, cluster.databaseUrl)) io.stdout(line);
      io.stderr(`Cluster up in ${dir}; conveyor cluster down stops it.`);
      return 0;
    }
    for (const line of exportLines(cluster.temporalAddress, cluster.namespace, cluster.databaseUrl)) io.stdout(line);
    io.stderr('Ctrl-C stops the cluster.');
    // The server and PostgreSQL are processes of their own (unref'd): this timer is what keeps the foreground run alive.
    const keepAlive = setInterval(() => {}, 60_000);
    // Ctrl-C reaches npm, tsx and this process, and the first two pass it on again: the handlers stay
    // installed until the cluster has stopped, so a repeated signal cannot cut the stop short.
    let stopRequested!: () => void;
    const requested = new Promise<void>((resolve) => (stopRequested = resolve));
    const onSignal = () => stopRequested();
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    await requested;
    clearInterval(keepAlive);
    try {
      await cluster.stop();
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    io.stderr('Cluster stopped.');
    return 0;
  } catch (error) {
    if (error instanceof ClusterError || error instanceof PostgresUnavailableError) {
      io.stderr(`conveyor cluster ${verb}: ${error.message}`);
      return 2;
    }
    throw error;
  }
}
