#!/usr/bin/env node
// The `conveyor` command: runs the TypeScript CLI through tsx, so no build step is needed.
'use strict';
const path = require('node:path');
require('tsx/cjs');
require(path.join(__dirname, '..', 'cli', 'main.ts'));
