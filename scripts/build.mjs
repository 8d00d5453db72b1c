#!/usr/bin/env node
// `npm run build`: the renderer with Vite (vite.config.ts, output dist/renderer),
// then the Node side with esbuild:
//   dist/main/main.mjs       Electron main process (ESM)
//   dist/preload/preload.cjs the window's preload (CommonJS: sandboxed preloads cannot be ESM)
//   dist/bridge/main.mjs     the browser bridge of `npm run web`
//   dist/cli/partwise.mjs    the `partwise` command (bin/partwise.mjs runs it; the
//                            packaged app ships it too), with its commands split into
//                            dist/cli/chunks/: the entry parses the command line and
//                            prints the help alone, and loads the engine, pg and zod
//                            only for a command that needs them
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
import { bundles, common } from './bundles.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = new Set(process.argv.slice(2));
const quiet = args.has('--quiet');
const log = (line) => {
  if (!quiet) console.log(line);
};

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
    // outfile names the entry's file; a split bundle is given its directory.
    const { outfile, sources, ...rest } = options;
    const result = await esbuild.build({ ...common, ...(rest.outdir ? rest : { outfile, ...rest }), metafile: true });
    if (sources) {
      const own = Object.keys(result.metafile.inputs).filter((file) => !file.includes('node_modules/'));
      await fs.writeFile(path.join(root, sources), `${JSON.stringify(own.sort(), null, 1)}\n`);
    }
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
