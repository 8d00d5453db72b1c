// Lint rules, including the layering of the code base (see README, "Code map"):
// shared/ is plain TypeScript that runs anywhere; renderer/ is the browser and
// may import only shared/; electron/ is Node, and only electron/main and
// electron/preload may import the `electron` package. Inside electron/, each
// folder imports only the folders its layer names below (eslint-layers.mjs).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import reactHooks from 'eslint-plugin-react-hooks';
import globals from 'globals';
import layers from './eslint-layers.mjs';

const nodeBuiltins = [
  'node:*',
  'fs',
  'path',
  'os',
  'child_process',
  'net',
  'http',
  'crypto',
  'url',
  'stream',
  'events',
];

/**
 * Each folder and the folders it may import, lowest first: a folder imports
 * only from folders above it in this list, never from one below. Tests and
 * electron/testing (test support) may import anything.
 */
export const LAYERS = {
  shared: { allow: [] },
  renderer: { allow: ['shared'] },
  'electron/db': { allow: ['shared'] },
  'electron/embedded': { allow: ['shared'] },
  'electron/secrets': { allow: ['shared', 'electron/db'] },
  'electron/install': { allow: ['shared', 'electron/db'] },
  'electron/engine': { allow: ['shared', 'electron/db', 'electron/install'] },
  'electron/services': { allow: ['shared', 'electron/db', 'electron/install', 'electron/engine'] },
  'electron/cli': { allow: ['shared', 'electron/db', 'electron/install', 'electron/engine'] },
  'electron/sandbox': { allow: ['shared', 'electron/db', 'electron/embedded', 'electron/secrets'] },
  // A handler group beside the services: it implements their handler contract (types), not their code.
  'electron/connections': {
    allow: ['shared', 'electron/db', 'electron/embedded', 'electron/secrets', 'electron/sandbox'],
    types: ['electron/services'],
  },
  // The composition root: connections and services wired into one dispatcher.
  'electron/backend': {
    allow: ['shared', 'electron/db', 'electron/install', 'electron/services', 'electron/connections'],
  },
  'electron/renderer-files': { allow: ['shared'] },
  'electron/preload': { allow: ['shared'] },
  'electron/bridge': {
    allow: ['shared', 'electron/backend', 'electron/sandbox', 'electron/secrets', 'electron/renderer-files'],
  },
  'electron/main': {
    allow: [
      'shared',
      'electron/backend',
      'electron/sandbox',
      'electron/secrets',
      'electron/renderer-files',
      'electron/preload',
    ],
  },
  'electron/testing': { allow: ['*'] },
};

export default tseslint.config(
  { ignores: ['node_modules', 'dist', 'release', 'coverage', 'test-results', 'playwright-report', 'scratch'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
    },
  },
  {
    files: ['shared/**/*.ts', 'renderer/**/*.{ts,tsx}', 'electron/**/*.ts'],
    ignores: ['**/*.test.ts', '**/*.test.tsx', 'electron/testing/**'],
    plugins: { partwise: layers },
    rules: { 'partwise/layers': ['error', { layers: LAYERS }] },
  },
  {
    files: ['electron/**/*.ts', 'scripts/**/*.{js,mjs,ts}', 'bin/**/*.mjs', 'e2e/**/*.ts', '*.{js,mjs,ts}'],
    languageOptions: { globals: globals.node },
  },
  {
    files: ['shared/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['electron', ...nodeBuiltins], message: 'shared/ runs in the renderer too: no Node or Electron.' },
          ],
        },
      ],
    },
  },
  {
    files: ['renderer/**/*.{ts,tsx}'],
    languageOptions: { globals: globals.browser },
    plugins: { 'react-hooks': reactHooks },
    rules: {
      ...reactHooks.configs.recommended.rules,
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['electron', 'pg', ...nodeBuiltins],
              message: 'The renderer is a sandboxed web page: no Node, Electron or database access.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['electron/**/*.ts'],
    ignores: ['electron/main/**', 'electron/preload/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['electron'],
              message:
                'Only electron/main and electron/preload may import electron: the engine is a plain Node module.',
            },
          ],
        },
      ],
    },
  },
);
