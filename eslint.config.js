// Lint rules. The override for workflows/ and domain/ is what keeps workflow code deterministic:
// those folders run inside Temporal's sandbox and may not reach Node built-ins or any I/O module.
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

module.exports = tseslint.config(
  { ignores: ['node_modules/**', '.conveyor/**', 'test-output/**', 'bench/results/**', 'eslint.config.js', 'bin/**', 'scripts/*.js'] },
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
    },
  },
  {
    files: ['workflows/**/*.ts', 'domain/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({ name, message: 'Workflow code is deterministic: no Node built-ins.' })),
          patterns: [
            { group: ioModules, message: 'Workflow code is deterministic: no I/O modules.' },
            {
              group: ['**/activities', '**/activities/**', '**/providers', '**/providers/**', '**/platform', '**/platform/**', '**/client', '**/client/**', '**/workers/**'],
              allowTypeImports: true,
              message: 'Workflows import activities, providers and platform code as types only.',
            },
          ],
        },
      ],
      'no-restricted-globals': ['error', 'process', 'setImmediate', 'require', '__dirname'],
    },
  },
);
