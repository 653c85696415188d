#!/usr/bin/env node
// The `conveyor` command. In a checkout it runs the TypeScript CLI through tsx, so no build step is
// needed; installed as a package it runs the compiled CLI in dist/. Conveyor runs on Node 24: started
// by another Node, it re-runs itself on the Node 24 that `npm start` / `npm test` fetched into the
// per-user cache, or says how to get one.
'use strict';
const path = require('node:path');
const { NODE_MAJOR, findNodeRuntime, runtimeEnv } = require('../scripts/bootstrap');

if (Number(process.versions.node.split('.')[0]) !== NODE_MAJOR) {
  const node = findNodeRuntime({ fetch: false });
  if (!node) {
    console.error(
      `conveyor: Conveyor runs on Node.js ${NODE_MAJOR}; this is ${process.version}. Run \`npm start\` or \`npm test\` once ` +
        `(they fetch Node ${NODE_MAJOR} into ~/.cache/conveyor), or install Node.js ${NODE_MAJOR}.`,
    );
    process.exit(2);
  }
  const { spawn } = require('node:child_process');
  const child = spawn(node, [__filename, ...process.argv.slice(2)], { stdio: 'inherit', env: runtimeEnv(node) });
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
} else {
  const source = path.join(__dirname, '..', 'cli', 'main.ts');
  if (require('node:fs').existsSync(source)) {
    require('tsx/cjs');
    require(source);
  } else {
    require(path.join(__dirname, '..', 'dist', 'cli', 'main.js'));
  }
}
