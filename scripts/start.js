#!/usr/bin/env node
// `npm start`: the main job on the embedded default. Runs on Node 24 (fetched when the machine has
// another), installs what is missing, finds or builds the Temporal CLI, then hands over to
// `conveyor demo` (server, worker, demo batch, summary, UI address).
'use strict';
const { spawn } = require('node:child_process');
const path = require('node:path');
const { ensureNodeRuntime, ensureDependencies, ensureTemporalCli, root } = require('./bootstrap');

if (ensureNodeRuntime()) {
  ensureDependencies();
  ensureTemporalCli();
  const demo = spawn(process.execPath, [path.join(root, 'bin', 'conveyor.js'), 'demo', ...process.argv.slice(2)], {
    cwd: root,
    stdio: 'inherit',
  });
  // Ctrl-C reaches the demo, which stops its worker and server cleanly before we exit with its code.
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => demo.kill(signal));
  demo.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}
