/**
 * The runtime the README promises: the suite runs on Node 24 with native modules built for it, and the
 * `conveyor` command started by an older Node re-runs itself on the cached Node 24 instead of crashing.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';

const repoRoot = path.resolve(__dirname, '..');
const bootstrap = createRequire(__filename)('../scripts/bootstrap.js') as {
  NODE_MAJOR: number;
  PINNED_NODE_VERSION: string;
  findNodeRuntime(options?: { fetch?: boolean }): string | undefined;
};

/** Node binaries on this machine other than the one running the suite (e.g. the system's Node 20). */
function otherNodes(): string[] {
  const found = new Set<string>();
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, 'node');
    if (dir && fs.existsSync(candidate) && fs.realpathSync(candidate) !== fs.realpathSync(process.execPath)) found.add(fs.realpathSync(candidate));
  }
  return [...found];
}

describe('the Node.js runtime', () => {
  it('is the major the README and package.json name', () => {
    expect(Number(process.versions.node.split('.')[0])).toBe(bootstrap.NODE_MAJOR);
    const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { engines: { node: string } };
    expect(pkg.engines.node).toBe(`>=${bootstrap.NODE_MAJOR}.0.0 <${bootstrap.NODE_MAJOR + 1}`);
    expect(bootstrap.PINNED_NODE_VERSION.startsWith(`${bootstrap.NODE_MAJOR}.`)).toBe(true);
    const readme = fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
    expect(readme).toContain(`**Supported Node.js: ${bootstrap.NODE_MAJOR} LTS**`);
  });

  it('loads the native modules built for it', () => {
    const db = new Database(':memory:');
    expect(db.prepare('select 1 + 1 as two').get()).toEqual({ two: 2 });
    db.close();
    const marker = JSON.parse(fs.readFileSync(path.join(repoRoot, 'node_modules', '.conveyor-runtime.json'), 'utf8')) as { modules: string };
    expect(marker.modules).toBe(process.versions.modules);
  });

  const others = otherNodes().filter((node) => {
    const version = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
    return Number(version.replace(/^v/, '').split('.')[0]) !== bootstrap.NODE_MAJOR;
  });
  // Only a machine that has another Node (this one's system Node 20, on PATH after the fetched 24) can show the re-run.
  it.skipIf(others.length === 0)('runs `conveyor` started by another Node on the supported one', () => {
    for (const node of others) {
      const result = spawnSync(node, [path.join(repoRoot, 'bin', 'conveyor.js'), '--help'], { encoding: 'utf8', timeout: 60_000 });
      expect(result.stderr).not.toMatch(/NODE_MODULE_VERSION|Segmentation|ERR_DLOPEN/);
      expect(result.status, result.stderr).toBe(0);
      expect(result.stdout).toContain('conveyor worker');
    }
  });
});
