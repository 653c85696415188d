#!/usr/bin/env node
// `npm start`: the main job on the embedded default. Installs what is missing, finds or builds the
// Temporal CLI, then hands over to `conveyor demo` (server, worker, demo batch, summary, UI address).
'use strict';
const path = require('node:path');
const { ensureDependencies, ensureTemporalCli, root, run } = require('./bootstrap');

ensureDependencies();
ensureTemporalCli();
process.exit(run(path.join(root, 'node_modules', '.bin', 'tsx'), [path.join(root, 'cli', 'main.ts'), 'demo', ...process.argv.slice(2)]));
