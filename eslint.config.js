// Lint rules. Three kinds of rule carry the architecture:
// - determinism: workflow code (workflows/, domain/, legacy/, factory/) runs inside Temporal's sandbox and
//   replays, so it may not reach Node built-ins or any I/O module;
// - layering: which top-level folders each folder may import (below); scripts/import-cycles.ts, run
//   after ESLint by `npm run lint`, checks that no folders import each other in a cycle;
// - settings: Conveyor's variables are read in platform/settings.ts and passed in from there.
const js = require('@eslint/js');
const tseslint = require('typescript-eslint');
const { builtinModules } = require('node:module');

const nodeBuiltins = builtinModules.flatMap((name) => [name, `node:${name}`]);
const ioModules = [
  'better-sqlite3',
  'ai',
  '@ai-sdk/*',
  'playwright-core',
  'yaml',
  'tsx',
  '@temporalio/activity',
  '@temporalio/client',
  '@temporalio/worker',
  '@temporalio/testing',
];

const workflowFolders = ['workflows', 'domain', 'legacy', 'factory'];
const compositionRoots = ['workers', 'cli'];
const tools = ['bench', 'chaos', 'test', 'fakes', 'scripts'];

// The layers, as what each folder may not import. `typesOnly`: imported as types only (erased at runtime,
// so the workflow bundle never loads them); `never`: not even types.
const toolsRule = { folders: tools, message: 'Engine code never imports the tools (bench/, chaos/, test/, fakes/, scripts/).' };
const rootsRule = {
  folders: compositionRoots,
  message: 'Only the composition roots (workers/, cli/) and the tools import workers/ or cli/: have the root pass what you need in.',
};
const layers = [
  {
    folders: workflowFolders,
    deterministic: true,
    typesOnly: {
      folders: ['activities', 'providers', 'platform', 'client', 'learning', 'evaluation'],
      message: 'Workflow code imports only pure modules: take activity-side code (activities, providers, platform, client, learning, evaluation) as `import type`, and reach I/O through activities.',
    },
    never: [rootsRule, toolsRule],
  },
  {
    folders: ['providers', 'platform'],
    never: [
      {
        folders: ['workflows', 'legacy', 'activities', 'client', 'learning', 'evaluation'],
        message: 'providers/ and platform/ are the bottom I/O layer: they import domain/ and each other, never workflows, activities, client, learning or evaluation.',
      },
      rootsRule,
      toolsRule,
    ],
  },
  {
    folders: ['activities'],
    never: [{ folders: ['client'], message: 'Activities never import client/: what an activity needs is passed in by the worker.' }, rootsRule, toolsRule],
  },
  { folders: ['client', 'learning', 'evaluation', 'factories', 'data'], never: [rootsRule, toolsRule] },
  { folders: compositionRoots, never: [toolsRule] },
];

// A relative import reaches the top-level folder F from a file d folders deep as ('../' × d)F; the
// rules are generated per depth so that a subfolder that shares a top-level folder's name never matches.
const deepestFolder = 6;
const reaching = (folders, depth) => `^(\\.\\./){${depth}}(${folders.join('|')})(/|$)`;

function importRules(layer, depth) {
  const paths = layer.deterministic ? nodeBuiltins.map((name) => ({ name, message: 'Workflow code is deterministic: no Node built-ins.' })) : [];
  const patterns = layer.deterministic ? [{ group: ioModules, message: 'Workflow code is deterministic: no I/O modules.' }] : [];
  if (layer.typesOnly) patterns.push({ regex: reaching(layer.typesOnly.folders, depth), allowTypeImports: true, message: layer.typesOnly.message });
  for (const rule of layer.never) patterns.push({ regex: reaching(rule.folders, depth), message: rule.message });
  return ['error', { paths, patterns }];
}

const layering = layers.flatMap((layer) =>
  Array.from({ length: deepestFolder }, (_, index) => ({
    files: layer.folders.map((folder) => `${folder}/${'*/'.repeat(index)}*.ts`),
    rules: { '@typescript-eslint/no-restricted-imports': importRules(layer, index + 1) },
  })),
);

// Settings: picking a variable off process.env, or reading a CONVEYOR_* / TEMPORAL_* variable off any
// environment, happens in platform/settings.ts (loadSettings). Elsewhere code may take the environment
// as a whole (`env = process.env`) to hand it on, e.g. to loadSettings or to a child process.
const processEnvRead = {
  selector: "MemberExpression[object.type='MemberExpression'][object.object.name='process'][object.property.name='env']",
  message: 'Read environment variables in platform/settings.ts (loadSettings) and pass the value in.',
};
const processEnvDestructure = {
  selector: "VariableDeclarator[id.type='ObjectPattern'][init.type='MemberExpression'][init.object.name='process'][init.property.name='env']",
  message: processEnvRead.message,
};
const conveyorVariableRead = {
  selector: "MemberExpression:not([object.object.name='process'])[property.name=/^(CONVEYOR|TEMPORAL)_/], MemberExpression:not([object.object.name='process'])[property.value=/^(CONVEYOR|TEMPORAL)_/]",
  message: "Conveyor's variables (CONVEYOR_*, TEMPORAL_*) are read in platform/settings.ts: add it to loadSettings and pass the value in.",
};
// Files that still read Conveyor variables from an environment they are given (tests pass their own).
// Each is a follow-up: move the variable into loadSettings and pass the value in. New files may not join.
const readsVariablesFromGivenEnvironment = [
  'providers/cache/index.ts', // CONVEYOR_CACHE, CONVEYOR_CACHE_REDIS_URL
  'providers/gateway.ts', // CONVEYOR_CACHE_TTL_SECONDS
  'providers/registry.ts', // CONVEYOR_MODELS_FILE and the per-vendor model lists
  'providers/redaction.ts', // CONVEYOR_REDACT
  'providers/local/dataset.ts', // CONVEYOR_SHARED_DATA
  'platform/codec.ts', // CONVEYOR_ENCRYPTION_KEY, _KEY_ID, _KEY_FILE
  'platform/codec-server.ts', // CONVEYOR_CODEC_PORT, _TOKEN, _ALLOWED_ORIGINS
  'platform/logging.ts', // CONVEYOR_LOG_LEVEL
  'platform/temporal-cli.ts', // TEMPORAL_CLI_PATH
  'learning/example-repository.ts', // CONVEYOR_EXAMPLES_REDIS_URL
  'learning/evaluate.ts', // CONVEYOR_MODELS_FILE, handed to loadRegistry
  'evaluation/eval/serving.ts', // CONVEYOR_MODELS_FILE, handed to loadRegistry
];

module.exports = tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'examples/**', '.conveyor/**', 'test-output/**', 'bench/results/**', 'eslint.config.js', 'bin/**', 'scripts/*.js', 'bench/**/*.cjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: __dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { prefer: 'type-imports', fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      'no-restricted-syntax': ['error', processEnvRead, processEnvDestructure, conveyorVariableRead],
    },
  },
  {
    files: readsVariablesFromGivenEnvironment,
    rules: { 'no-restricted-syntax': ['error', processEnvRead, processEnvDestructure] },
  },
  {
    // The one reader of Conveyor's settings, and the tests and their helper processes, which build the
    // environments they run Conveyor in.
    files: ['platform/settings.ts', 'test/**/*.ts', 'fakes/**/*.ts', 'scripts/**/*.ts'],
    rules: { 'no-restricted-syntax': 'off' },
  },
  ...layering,
  {
    files: workflowFolders.map((folder) => `${folder}/**/*.ts`),
    rules: { 'no-restricted-globals': ['error', 'process', 'setImmediate', 'require', '__dirname'] },
  },
);
