#!/usr/bin/env node
// `npm run build`: the package others install. dist/ mirrors the repository root: the compiled
// JavaScript with type declarations and source maps, and the data files the sources read beside
// them (the models file, the built-in factory's labelled demo data, the demo jobs, the screening set).
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.resolve(__dirname, '..');
const dist = path.join(root, 'dist');
const assets = [
  'conveyor.models.json',
  'data/demo/SOURCE.md',
  'data/demo/support-intents.csv',
  'data/demo/call-snippets.csv',
  'data/jobs',
  'data/screening/SOURCE.md',
  'data/screening/prompt-injection.csv',
];

fs.rmSync(dist, { recursive: true, force: true });
const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.build.json')], { cwd: root, stdio: 'inherit' });
if (tsc.status !== 0) {
  console.error('build: the TypeScript compiler failed (see above); dist/ is incomplete');
  process.exit(tsc.status ?? 1);
}
for (const asset of assets) fs.cpSync(path.join(root, asset), path.join(dist, asset), { recursive: true });
console.log(`build: wrote ${path.relative(root, dist)}/ (JavaScript, declarations, ${assets.length} data files and folders)`);
