/**
 * A real PostgreSQL server from Debian's packages (`postgresql-15`, installed by scripts/system-deps.sh),
 * started by Conveyor's own code: its own data directory, a free loopback port, a password login for the
 * `conveyor` role, and a clean stop. Tests start one per file; the cluster script starts the long-lived
 * one Temporal Server and Conveyor's stores share. Started as root, it runs as the `postgres` system user
 * (PostgreSQL refuses root), which then owns the data directory.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { freePort } from './embedded-server';

/** The PostgreSQL major version Conveyor's scripts start and test (Debian 12's package); compose pins the same. */
export const POSTGRES_MAJOR = 15;

export class PostgresUnavailableError extends Error {
  override readonly name = 'PostgresUnavailableError';
}

export interface PostgresServer {
  /** postgres://conveyor:<password>@127.0.0.1:<port>/conveyor — holds the password: never print it (use `label`). */
  url: string;
  label: string;
  port: number;
  dataDir: string;
  /** A URL for another database on this server (created by `createDatabase`). */
  urlFor(database: string): string;
  createDatabase(name: string): Promise<string>;
  /** Stops the server (fast shutdown) and waits until its process is gone. */
  stop(): Promise<void>;
  /** Starts it again on the same data directory and port (after `stop`, or after it was killed). */
  start(): Promise<void>;
  /** The postmaster's process id while it runs. */
  pid(): number | undefined;
}

export interface StartPostgresOptions {
  /** Where the cluster lives; created (initdb) when empty. */
  dataDir: string;
  /** Default: a free port. */
  port?: number;
  /** Skips fsync (tests): fast, but a power loss could corrupt the data. Never for data you keep. */
  fast?: boolean;
  /** The folder holding initdb and postgres; default Debian's /usr/lib/postgresql/15/bin. */
  binDir?: string;
  log?: (line: string) => void;
}

export function postgresBinDir(binDir?: string): string {
  const dir = binDir ?? `/usr/lib/postgresql/${POSTGRES_MAJOR}/bin`;
  if (!fs.existsSync(path.join(dir, 'postgres'))) {
    throw new PostgresUnavailableError(
      `PostgreSQL ${POSTGRES_MAJOR} is not installed (no ${path.join(dir, 'postgres')}); run scripts/system-deps.sh, or apt-get install postgresql-${POSTGRES_MAJOR}`,
    );
  }
  return dir;
}

/** The uid/gid to run PostgreSQL as: this process's own, or the `postgres` system user when this is root. */
function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith('postgres:'));
  if (!line) throw new PostgresUnavailableError('running as root, PostgreSQL needs the `postgres` system user (created by the postgresql package)');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

function chownTree(target: string, user: { uid: number; gid: number }): void {
  fs.chownSync(target, user.uid, user.gid);
  if (fs.statSync(target).isDirectory()) for (const entry of fs.readdirSync(target)) chownTree(path.join(target, entry), user);
}

/**
 * The postgres user must reach the data directory: as root, the folders above it get the search bit for
 * others where they lack it (traverse only: nobody gains the right to list or read them).
 */
function letServerTraverse(dataDir: string): void {
  for (let dir = path.dirname(dataDir); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const mode = fs.statSync(dir).mode;
    if ((mode & 0o001) === 0) fs.chmodSync(dir, (mode & 0o7777) | 0o001);
  }
}

const passwordFile = (dataDir: string) => path.join(dataDir, '..', `${path.basename(dataDir)}.password`);

function initialise(binDir: string, dataDir: string, user: { uid: number; gid: number } | undefined): string {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const password = randomBytes(18).toString('base64url');
  const pwfile = path.join(dataDir, '..', `.${path.basename(dataDir)}.initpw`);
  if (user) letServerTraverse(dataDir);
  fs.writeFileSync(pwfile, password, { mode: 0o600 });
  try {
    if (user) {
      chownTree(dataDir, user);
      fs.chownSync(pwfile, user.uid, user.gid);
    }
    execFileSync(path.join(binDir, 'initdb'), ['-D', dataDir, '-U', 'conveyor', '--auth=scram-sha-256', `--pwfile=${pwfile}`, '-E', 'UTF8', '--no-instructions'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      ...(user ?? {}),
    });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
    throw new PostgresUnavailableError(`initdb failed for ${dataDir}: ${stderr || (error as Error).message}`);
  } finally {
    fs.rmSync(pwfile, { force: true });
  }
  fs.writeFileSync(passwordFile(dataDir), password, { mode: 0o600 });
  return password;
}

async function acceptsLogins(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/** The postmaster's pid for a data directory, while that server runs. */
export function postgresPid(dataDir: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    if (!pid) return undefined;
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

/** Starts (initialising if needed) a PostgreSQL server on 127.0.0.1; the `conveyor` database exists when it resolves. */
export async function startPostgres(options: StartPostgresOptions): Promise<PostgresServer> {
  const binDir = postgresBinDir(options.binDir);
  const dataDir = path.resolve(options.dataDir);
  const user = serverUser();
  const fresh = !fs.existsSync(path.join(dataDir, 'PG_VERSION'));
  const password = fresh ? initialise(binDir, dataDir, user) : fs.readFileSync(passwordFile(dataDir), 'utf8').trim();
  const port = options.port ?? (await freePort());
  const urlFor = (database: string) => `postgres://conveyor:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
  const label = `postgres://conveyor:***@127.0.0.1:${port}/conveyor`;
  const logFile = path.join(dataDir, 'server.log');

  const launch = async () => {
    if (postgresPid(dataDir)) throw new PostgresUnavailableError(`a PostgreSQL server already runs on ${dataDir} (postmaster.pid); stop it first`);
    const settings = ['-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=`, '-p', String(port), '-c', 'max_connections=200'];
    if (options.fast) settings.push('-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off');
    const out = fs.openSync(logFile, 'a');
    if (user) fs.chownSync(logFile, user.uid, user.gid);
    const child = spawn(path.join(binDir, 'postgres'), ['-D', dataDir, ...settings], { stdio: ['ignore', out, out], detached: true, ...(user ?? {}) });
    fs.closeSync(out);
    child.unref();
    const deadline = Date.now() + 30_000;
    while (!(await acceptsLogins(urlFor('postgres')))) {
      if (child.exitCode !== null || Date.now() > deadline) {
        const tail = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').split('\n').slice(-8).join('\n') : '';
        throw new PostgresUnavailableError(`PostgreSQL did not start on 127.0.0.1:${port} (data dir ${dataDir}); its log ends:\n${tail}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    options.log?.(`PostgreSQL ${POSTGRES_MAJOR} on 127.0.0.1:${port} (data dir ${dataDir})`);
  };

  const createDatabase = async (name: string) => {
    if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new PostgresUnavailableError(`database names are lower-case letters, digits and _, not ${JSON.stringify(name)}`);
    const admin = new pg.Client({ connectionString: urlFor('postgres') });
    await admin.connect();
    try {
      const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
      if (exists.rowCount === 0) await admin.query(`CREATE DATABASE ${name}`);
    } finally {
      await admin.end();
    }
    return urlFor(name);
  };

  await launch();
  await createDatabase('conveyor');
  return { url: urlFor('conveyor'), label, port, dataDir, urlFor, createDatabase, stop: () => stopPostgres(dataDir), start: launch, pid: () => postgresPid(dataDir) };
}

/** The URL of a database on the server a data directory belongs to (its saved password, its port): holds the password, never print it. */
export function postgresUrl(dataDir: string, port: number, database = 'conveyor'): string {
  const password = fs.readFileSync(passwordFile(path.resolve(dataDir)), 'utf8').trim();
  return `postgres://conveyor:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
}

/** Stops the server running on a data directory (fast shutdown), if any, and waits until its process is gone. */
export async function stopPostgres(dataDir: string): Promise<void> {
  const pid = postgresPid(path.resolve(dataDir));
  if (!pid) return;
  process.kill(pid, 'SIGINT');
  const deadline = Date.now() + 30_000;
  while (postgresPid(path.resolve(dataDir)) === pid && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  if (postgresPid(path.resolve(dataDir)) === pid) process.kill(pid, 'SIGKILL');
}
