import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const { NODE_MAJOR, PINNED_NODE_VERSION } = createRequire(import.meta.url)('./scripts/bootstrap.js') as { NODE_MAJOR: number; PINNED_NODE_VERSION: string };
if (Number(process.versions.node.split('.')[0]) !== NODE_MAJOR) {
  // Native modules are built for Node 24: on another Node they crash the test processes without a word.
  throw new Error(
    `The tests run on Node.js ${NODE_MAJOR}; this is ${process.version}. Use \`npm test -- <files>\` (it runs on the cached ` +
      `Node ${PINNED_NODE_VERSION}), or put ~/.cache/conveyor/node-v${PINNED_NODE_VERSION}-${process.platform}-${process.arch}/bin first on PATH.`,
  );
}

// The Temporal core bridge is a native module: it needs forked processes, not worker threads.
export default defineConfig({
  test: {
    pool: 'forks',
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 600_000,
    fileParallelism: true,
    maxWorkers: 2,
  },
});
