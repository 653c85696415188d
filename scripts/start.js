#!/usr/bin/env node
// `npm start`: the main job on the embedded default. Installs what is missing, finds or builds the
// Temporal CLI, then hands over to `conveyor demo` (server, worker, demo batch, summary, UI address).
'use strict';
const { spawn } = require('node:child_process');
const path = require('node:path');
const { ensureDependencies, ensureTemporalCli, root } = require('./bootstrap');

ensureDependencies();
ensureTemporalCli();
const demo = spawn(path.join(root, 'node_modules', '.bin', 'tsx'), [path.join(root, 'cli', 'main.ts'), 'demo', ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit',
});
// Ctrl-C reaches the demo, which stops its worker and server cleanly before we exit with its code.
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => demo.kill(signal));
demo.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
