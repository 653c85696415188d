// Shared by `npm start` and `npm test`: makes a fresh clone runnable with no other step.
// Plain JavaScript with no dependencies, because it runs before node_modules exists.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', ...options });
  if (result.error) throw result.error;
  return result.status ?? 1;
}

function runOrExit(command, args, options) {
  const status = run(command, args, options);
  if (status !== 0) process.exit(status);
}

/** Installs npm dependencies when they are missing or older than the lockfile. */
function ensureDependencies() {
  const marker = path.join(root, 'node_modules', '.package-lock.json');
  const lock = path.join(root, 'package-lock.json');
  if (fs.existsSync(marker) && fs.statSync(marker).mtimeMs >= fs.statSync(lock).mtimeMs) return;
  console.error('conveyor: installing npm dependencies (npm ci)…');
  runOrExit('npm', ['ci', '--no-audit', '--no-fund']);
}

/** Finds or builds the Temporal CLI (prints progress while building). */
function ensureTemporalCli() {
  runOrExit(path.join(root, 'node_modules', '.bin', 'tsx'), [path.join(root, 'scripts', 'ensure-temporal-cli.ts')]);
}

/** Redis and Chromium for the tests, from Debian packages when missing. */
function ensureSystemPackages() {
  runOrExit('bash', [path.join(root, 'scripts', 'system-deps.sh')]);
}

module.exports = { root, run, runOrExit, ensureDependencies, ensureTemporalCli, ensureSystemPackages };
