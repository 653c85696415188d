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
// Two projects, run one after the other (sequence.groupOrder): the suite, then the 10,000-job scale test
// alone, so its time is its own and not the suite's on a shared 2-core machine. Each starts its own Temporal
// server in test/global-setup.ts; the scale test's keeps its database in memory.
const shared = {
  pool: 'forks' as const,
  globalSetup: ['test/global-setup.ts'],
  testTimeout: 120_000,
  hookTimeout: 600_000,
  fileParallelism: true,
  maxWorkers: 2,
};
const scaleTest = 'test/scale.test.ts';
export default defineConfig({
  test: {
    projects: [
      { test: { ...shared, name: 'suite', include: ['test/**/*.test.ts'], exclude: [scaleTest], sequence: { groupOrder: 0 } } },
      { test: { ...shared, name: 'scale', include: [scaleTest], sequence: { groupOrder: 1 } } },
    ],
  },
});
