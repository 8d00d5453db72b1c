#!/usr/bin/env node
// The `partwise` command. Runs the CLI bundled by `npm run build`
// (dist/cli/partwise.mjs: one file, quick to start), else the TypeScript
// sources through tsx (a development dependency): in a checkout that was not
// built, or whose sources changed since the build (a stale bundle would run
// yesterday's code).
import { existsSync, readdirSync, statSync } from 'node:fs';
import module from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

// Node 22.1 and later keep the compiled bundle on disk between starts.
module.enableCompileCache?.();
const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const bundled = path.join(root, 'dist', 'cli', 'partwise.mjs');

/** Whether a source file under `dir` is newer than `time` (tests aside: they are not in the bundle). */
function changedSince(dir, time) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (
      entry.isDirectory() ? changedSince(full, time) : !/\.test\.ts$/.test(entry.name) && statSync(full).mtimeMs > time
    )
      return true;
  }
  return false;
}

function bundleIsCurrent() {
  if (!existsSync(bundled) || process.env.PARTWISE_FROM_SOURCE) return false;
  // A packaged app or an installed package has no sources next to the bundle.
  const sources = ['electron', 'shared'].map((dir) => path.join(root, dir)).filter((dir) => existsSync(dir));
  const built = statSync(bundled).mtimeMs;
  return !sources.some((dir) => changedSince(dir, built));
}

let entry;
if (bundleIsCurrent()) {
  entry = bundled;
} else {
  const { register } = await import('tsx/esm/api');
  register();
  entry = path.join(root, 'electron', 'cli', 'main.ts');
}
const { run } = await import(pathToFileURL(entry).href);
process.exitCode = await run(process.argv.slice(2));
