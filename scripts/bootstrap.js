// Shared by `npm start`, `npm test` and the `conveyor` command: makes a fresh clone runnable with no
// other step. Plain JavaScript with no dependencies, because it runs before node_modules exists and on
// whatever Node.js the machine has.
//
// Conveyor runs on Node.js 24 LTS. On a machine whose Node is another major, the pinned 24.x comes
// from the npm registry's `node-<platform>-<arch>` package into a per-user cache (shared by every clone,
// like the Temporal CLI), and the calling script re-runs itself on it, with that Node first on PATH and
// its headers as npm's `nodedir` — so install, native builds (better-sqlite3) and tests use one runtime.
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');

/** The Node.js major Conveyor supports and CI tests, and the release fetched when the machine has another. */
const NODE_MAJOR = 24;
const PINNED_NODE_VERSION = '24.22.3';

class NodeRuntimeError extends Error {
  constructor(message) {
    super(message);
    this.name = 'NodeRuntimeError';
  }
}

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', ...options });
  if (result.error) throw result.error;
  return result.status ?? 1;
}

function runOrExit(command, args, options) {
  const status = run(command, args, options);
  if (status !== 0) process.exit(status);
}

function majorOf(version) {
  return Number(String(version).replace(/^v/, '').split('.')[0]);
}

/** The folder whose include/node holds the headers of the Node at `nodeBinary`, if it ships them. */
function headersDirOf(nodeBinary) {
  for (const candidate of [path.resolve(path.dirname(nodeBinary), '..'), '/usr']) {
    if (fs.existsSync(path.join(candidate, 'include', 'node', 'node_version.h'))) {
      const header = fs.readFileSync(path.join(candidate, 'include', 'node', 'node_version.h'), 'utf8');
      const major = /#define NODE_MAJOR_VERSION (\d+)/.exec(header);
      if (major && Number(major[1]) === majorOf(versionOf(nodeBinary))) return candidate;
    }
  }
  return undefined;
}

function versionOf(nodeBinary) {
  if (nodeBinary === process.execPath) return process.version;
  const result = spawnSync(nodeBinary, ['--version'], { encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim() : '';
}

/** Per-user cache of the pinned Node, e.g. ~/.cache/conveyor/node-v24.22.3-linux-x64. */
function nodeCacheDir(env = process.env) {
  const cacheRoot = env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(cacheRoot, 'conveyor', `node-v${PINNED_NODE_VERSION}-${process.platform}-${process.arch}`);
}

function cachedNode(env = process.env) {
  const binary = path.join(nodeCacheDir(env), 'bin', 'node');
  return fs.existsSync(binary) && majorOf(versionOf(binary)) === NODE_MAJOR ? binary : undefined;
}

/** Fetches `node-<platform>-<arch>@PINNED` from the npm registry into the cache (atomic rename). */
function fetchPinnedNode(env = process.env) {
  const packageName = `node-${process.platform}-${process.arch}`;
  const dir = nodeCacheDir(env);
  const staging = `${dir}.partial-${process.pid}`;
  console.error(`conveyor: this machine's Node is ${process.version}; fetching Node ${PINNED_NODE_VERSION} (${packageName} from the npm registry) into ${dir}…`);
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(staging, { recursive: true });
  try {
    const pack = spawnSync('npm', ['pack', `${packageName}@${PINNED_NODE_VERSION}`, '--silent', '--pack-destination', staging], { encoding: 'utf8', cwd: staging });
    if (pack.status !== 0) {
      throw new NodeRuntimeError(
        `npm pack ${packageName}@${PINNED_NODE_VERSION} failed (exit ${pack.status}): ${(pack.stderr || '').trim().slice(-2000)}\n` +
          `Install Node.js ${NODE_MAJOR} yourself (https://nodejs.org) and run the command again.`,
      );
    }
    const tarball = path.join(staging, pack.stdout.trim().split('\n').pop());
    const untar = spawnSync('tar', ['-xzf', tarball, '-C', staging, '--strip-components=1'], { encoding: 'utf8' });
    if (untar.status !== 0) throw new NodeRuntimeError(`could not unpack ${tarball}: ${untar.stderr}`);
    fs.rmSync(tarball);
    fs.mkdirSync(path.dirname(dir), { recursive: true });
    try {
      fs.renameSync(staging, dir);
    } catch (error) {
      // Another clone fetched it at the same time: theirs is as good as ours.
      if (!cachedNode(env)) throw error;
    }
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
  const binary = cachedNode(env);
  if (!binary) throw new NodeRuntimeError(`fetched ${packageName}@${PINNED_NODE_VERSION} but ${path.join(dir, 'bin', 'node')} does not run.`);
  return binary;
}

/** A Node 24 elsewhere on PATH (the machine may have several Nodes). */
function nodeOnPath(env = process.env) {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    const candidate = dir && path.join(dir, 'node');
    if (candidate && fs.existsSync(candidate) && majorOf(versionOf(candidate)) === NODE_MAJOR) return candidate;
  }
  return undefined;
}

/**
 * The Node 24 to run on: this process's own when it is 24, else one on PATH, else the cached (or
 * freshly fetched) pinned one.
 */
function findNodeRuntime(options = {}) {
  const env = options.env ?? process.env;
  if (majorOf(process.version) === NODE_MAJOR) return process.execPath;
  return nodeOnPath(env) ?? cachedNode(env) ?? (options.fetch === false ? undefined : fetchPinnedNode(env));
}

/** The environment children inherit: that Node first on PATH, its headers for node-gyp. */
function runtimeEnv(nodeBinary, env = process.env) {
  const next = { ...env, PATH: `${path.dirname(nodeBinary)}${path.delimiter}${env.PATH ?? ''}` };
  const headers = headersDirOf(nodeBinary);
  if (headers) next.npm_config_nodedir = headers;
  return next;
}

/**
 * Makes the rest of the calling script run on Node 24. On Node 24 it only sets PATH and nodedir for
 * children and returns true. Otherwise it re-runs the script on Node 24 (forwarding Ctrl-C, exiting with
 * its code) and returns false: the caller must do nothing more.
 */
function ensureNodeRuntime() {
  let nodeBinary;
  try {
    nodeBinary = findNodeRuntime();
  } catch (error) {
    console.error(`conveyor: ${error.name}: ${error.message}`);
    process.exit(1);
  }
  const env = runtimeEnv(nodeBinary);
  if (nodeBinary === process.execPath) {
    Object.assign(process.env, env);
    return true;
  }
  const child = spawn(nodeBinary, [...process.execArgv, process.argv[1], ...process.argv.slice(2)], { stdio: 'inherit', env });
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
  return false;
}

/** What node_modules was installed for: native modules only load on the ABI they were built for. */
const runtimeMarker = path.join(root, 'node_modules', '.conveyor-runtime.json');

function installedFor() {
  try {
    return JSON.parse(fs.readFileSync(runtimeMarker, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Installs npm dependencies (npm ci) when missing, older than the lockfile, or built for another Node ABI. */
function ensureDependencies() {
  const marker = path.join(root, 'node_modules', '.package-lock.json');
  const lock = path.join(root, 'package-lock.json');
  const installed = installedFor();
  const upToDate = fs.existsSync(marker) && fs.statSync(marker).mtimeMs >= fs.statSync(lock).mtimeMs;
  if (upToDate && installed?.modules === process.versions.modules) return;
  const why = !upToDate ? '' : installed ? ` (node_modules was built for Node ${installed.node})` : ' (node_modules records no Node it was built for)';
  console.error(`conveyor: installing npm dependencies (npm ci) on Node ${process.version}${why}…`);
  runOrExit('npm', ['ci', '--no-audit', '--no-fund']);
  fs.writeFileSync(runtimeMarker, `${JSON.stringify({ node: process.version, modules: process.versions.modules })}\n`);
}

/** Finds or builds the Temporal CLI (prints progress while building). */
function ensureTemporalCli() {
  runOrExit(path.join(root, 'node_modules', '.bin', 'tsx'), [path.join(root, 'scripts', 'ensure-temporal-cli.ts')]);
}

/** Finds or builds the Temporal Server and temporal-sql-tool the cluster runs (prints progress while building). */
function ensureTemporalServer() {
  runOrExit(path.join(root, 'node_modules', '.bin', 'tsx'), [path.join(root, 'scripts', 'ensure-temporal-server.ts')]);
}

/** Finds or builds Docker Compose, which the compose tests validate docker-compose.yml with (no engine needed). */
function ensureDockerCompose() {
  runOrExit(path.join(root, 'node_modules', '.bin', 'tsx'), [path.join(root, 'scripts', 'ensure-docker-compose.ts')]);
}

/** Redis and Chromium for the tests, from Debian packages when missing. */
function ensureSystemPackages() {
  runOrExit('bash', [path.join(root, 'scripts', 'system-deps.sh')]);
}

module.exports = {
  root,
  run,
  runOrExit,
  NODE_MAJOR,
  PINNED_NODE_VERSION,
  findNodeRuntime,
  runtimeEnv,
  ensureNodeRuntime,
  ensureDependencies,
  ensureTemporalCli,
  ensureTemporalServer,
  ensureDockerCompose,
  ensureSystemPackages,
};
