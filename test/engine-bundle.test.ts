/**
 * The engine stands without the built-in factory (issue 15): with factories/ and legacy/ removed from a
 * copy of the repository, the engine's workflow bundle (workflows/index.ts) still builds and holds neither.
 * (test/own-factory.test.ts runs a factory of its own on that same engine-only bundle.)
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { repoRoot } from './support/cli';
import { tempDir } from './support/temporal';

const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error: console.error } as never;

describe('the engine without the built-in factory', () => {
  it('bundles its workflows with factories/ and legacy/ absent', { timeout: 120_000 }, async () => {
    const copy = tempDir('engine-only');
    const files = execFileSync('git', ['ls-files'], { cwd: repoRoot, encoding: 'utf8' })
      .split('\n')
      .filter((file) => file.endsWith('.ts') && !/^(factories|legacy|test|bench|chaos|cli|scripts)\//.test(file));
    for (const file of files) {
      fs.mkdirSync(path.join(copy, path.dirname(file)), { recursive: true });
      fs.copyFileSync(path.join(repoRoot, file), path.join(copy, file));
    }
    fs.symlinkSync(path.join(repoRoot, 'node_modules'), path.join(copy, 'node_modules'));
    expect(fs.existsSync(path.join(copy, 'factories'))).toBe(false);
    const bundle = await bundleWorkflowCode({ workflowsPath: path.join(copy, 'workflows', 'index.ts'), logger: quiet });
    expect(bundle.code).toContain('factoryJobWorkflow');
    expect(bundle.code).not.toContain('legacy/job-workflow');
    expect(bundle.code).not.toMatch(/factories[\\/]support/);
  });
});
