#!/usr/bin/env node
// `npm test`: runs on Node 24 (fetched when the machine has another), sets up what the tests need
// (npm packages, the Temporal CLI, the Temporal Server for the cluster, Docker Compose to validate
// docker-compose.yml, Redis, Chromium), then runs lint, typecheck and the test suite
// against a real Temporal server.
'use strict';
const { ensureNodeRuntime, ensureDependencies, ensureSystemPackages, ensureTemporalCli, ensureTemporalServer, ensureDockerCompose, runOrExit } = require('./bootstrap');

if (ensureNodeRuntime()) {
  ensureDependencies();
  ensureTemporalCli();
  ensureTemporalServer();
  ensureDockerCompose();
  ensureSystemPackages();
  runOrExit('npm', ['run', '--silent', 'lint']);
  runOrExit('npm', ['run', '--silent', 'typecheck']);
  runOrExit('npx', ['vitest', 'run', ...process.argv.slice(2)]);
}
