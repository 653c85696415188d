/**
 * The layering that `npm run lint` enforces: the folder-cycle check (scripts/import-cycles.ts) on the
 * real import graph and on a small tree with cycles, and the ESLint import and settings rules
 * (eslint.config.js) on real files given a forbidden line.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';
import { describeCycles } from '../scripts/import-cycles';
import { tempDir } from './support/temporal';

const repoRoot = path.resolve(__dirname, '..');

function writeTree(files: Record<string, string>): string {
  const root = tempDir('layering');
  for (const [file, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    fs.writeFileSync(path.join(root, file), text);
  }
  return root;
}

describe('folder import cycles', () => {
  it('finds none between the source folders', () => {
    expect(describeCycles(repoRoot)).toEqual([]);
  });

  it('names each cycle and the imports that close it, type-only and dynamic imports included', () => {
    const root = writeTree({
      'tsconfig.json': JSON.stringify({ compilerOptions: { module: 'node16', moduleResolution: 'node16', strict: true }, include: ['alpha', 'beta', 'gamma', 'delta'] }),
      'alpha/a.ts': "import { b } from '../beta/b';\nexport const a = b;\n",
      'alpha/types.ts': 'export type Shape = { kind: string };\n',
      'beta/b.ts': "import type { Shape } from '../alpha/types';\nexport const b: Shape = { kind: 'b' };\n",
      'gamma/g.ts': "export async function later() { return import('../delta/d'); }\n",
      'delta/d.ts': "import { later } from '../gamma/g';\nexport const d = later;\n",
    });
    expect(describeCycles(root)).toEqual([
      'import cycle between folders alpha, beta: alpha → beta → alpha\n    alpha/a.ts imports beta/b.ts\n    beta/b.ts imports alpha/types.ts (type only)',
      'import cycle between folders delta, gamma: delta → gamma → delta\n    delta/d.ts imports gamma/g.ts\n    gamma/g.ts imports delta/d.ts',
    ]);
  });
});

describe('lint rules', () => {
  const eslint = new ESLint({ cwd: repoRoot });

  /** The rule messages ESLint reports for a real file with `line` put on top. */
  async function messagesFor(file: string, line: string): Promise<string[]> {
    const text = `${line}\n${fs.readFileSync(path.join(repoRoot, file), 'utf8')}`;
    const [result] = await eslint.lintText(text, { filePath: path.join(repoRoot, file) });
    return (result?.messages ?? []).filter((message) => message.line === 1).map((message) => `${message.ruleId}: ${message.message}`);
  }

  it.each([
    ['workflows/batch.ts', "import { createActivities } from '../activities';", /Workflow code imports only pure modules/],
    ['domain/budget.ts', "import { loadSettings } from '../platform/settings';", /Workflow code imports only pure modules/],
    ['providers/port.ts', "import type { ConveyorClient } from '../client';", /providers\/ and platform\/ are the bottom I\/O layer/],
    ['activities/outbox.ts', "import { ConveyorClient } from '../client';", /Activities never import client\//],
    ['evaluation/eval/metrics.ts', "import { createConveyorWorker } from '../../workers/worker';", /Only the composition roots \(workers\/, cli\/\)/],
    ['client/audit.ts', "import { runAsScript } from '../cli/output';", /Only the composition roots \(workers\/, cli\/\)/],
    ['cli/output.ts', "import { startRedis } from '../fakes/redis-server';", /Engine code never imports the tools/],
    ['learning/live.ts', 'export const probe = process.env.CONVEYOR_PROBE;', /Read environment variables in platform\/settings\.ts/],
    ['learning/live.ts', "export const probe = (env: NodeJS.ProcessEnv) => env['CONVEYOR_PROBE'];", /Conveyor's variables \(CONVEYOR_\*, TEMPORAL_\*\) are read in platform\/settings\.ts/],
  ])('%s may not have: %s', async (file, line, rule) => {
    const messages = await messagesFor(file, line);
    expect(messages.some((message) => rule.test(message)), messages.join('\n')).toBe(true);
  });

  it.each([
    ['workflows/batch.ts', "import type { createActivities } from '../activities';"],
    ['activities/outbox.ts', "import { loadSettings } from '../platform/settings';"],
    ['providers/cache/index.ts', 'export const probe = (env: NodeJS.ProcessEnv = process.env) => env.CONVEYOR_CACHE;'],
  ])('%s may have: %s', async (file, line) => {
    const messages = await messagesFor(file, line);
    expect(messages.filter((message) => /restricted-(imports|syntax)/.test(message))).toEqual([]);
  });
});

describe('the engine speaks no factory’s vocabulary', () => {
  // The built-in support factory is one factory among others: its words live in factories/support (and
  // in the frozen legacy/ workflow), never in the engine folders a team's factory runs on.
  const engineFolders = ['domain', 'workflows', 'activities', 'providers', 'factory', 'learning', 'evaluation'];
  const supportWords = /\b\w*(refund|ticket|transcript)\w*\b/gi;

  function filesUnder(folder: string): string[] {
    return fs.readdirSync(path.join(repoRoot, folder), { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile() && /\.(ts|md|json)$/.test(entry.name))
      .map((entry) => path.relative(repoRoot, path.join(entry.parentPath, entry.name)));
  }

  it('finds no support-ticket word in domain/, workflows/, activities/, providers/, factory/, learning/ or evaluation/', () => {
    const files = engineFolders.flatMap(filesUnder);
    expect(files.length).toBeGreaterThan(50);
    const found = files.flatMap((file) =>
      fs.readFileSync(path.join(repoRoot, file), 'utf8').split('\n').flatMap((line, index) => (line.match(supportWords) ?? []).map((word) => `${file}:${index + 1}: ${word}`)),
    );
    expect(found).toEqual([]);
  });

  it('would find one', () => {
    expect('the refunds of a ticket'.match(supportWords)).toEqual(['refunds', 'ticket']);
  });

  // Evaluation, distill and policy replay take the factory they measure as an argument.
  const factoryImport = /from '(\.\.\/)+factories\//;
  it('imports nothing from factories/ in the engine folders', () => {
    const found = engineFolders
      .flatMap(filesUnder)
      .filter((file) => file.endsWith('.ts'))
      .flatMap((file) => fs.readFileSync(path.join(repoRoot, file), 'utf8').split('\n').flatMap((line, index) => (factoryImport.test(line) ? [`${file}:${index + 1}: ${line.trim()}`] : [])));
    expect(found).toEqual([]);
    expect(factoryImport.test("import { supportFactory } from '../../factories/support';")).toBe(true);
  });
});

describe('one place for each helper', () => {
  // A second copy of a parser or a statistic drifts from the first; each exists once and is imported.
  const sourceFolders = ['activities', 'bench', 'chaos', 'cli', 'client', 'domain', 'evaluation', 'factories', 'factory', 'fakes', 'learning', 'legacy', 'platform', 'providers', 'scripts', 'workers', 'workflows'];
  const definitions = (pattern: RegExp) =>
    sourceFolders
      .flatMap((folder) => fs.readdirSync(path.join(repoRoot, folder), { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile() && entry.name.endsWith('.ts')).map((entry) => path.join(entry.parentPath, entry.name)))
      .filter((file) => pattern.test(fs.readFileSync(file, 'utf8')))
      .map((file) => path.relative(repoRoot, file));

  it('has one CSV parser (providers/local/csv.ts) and one percentile (domain/stats.ts)', () => {
    expect(definitions(/function\s+parseCsv\w*\s*\(|const\s+parseCsv\w*\s*=/)).toEqual(['providers/local/csv.ts']);
    expect(definitions(/function\s+(percentile|quantile)\w*\s*\(|const\s+(percentile|quantile)\w*\s*=/i)).toEqual(['domain/stats.ts']);
  });
});
