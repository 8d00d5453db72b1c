#!/usr/bin/env node
// The `partwise` command. Runs the CLI bundled by `npm run build`
// (dist/cli/partwise.mjs, quick to start), else the TypeScript sources through
// tsx (a development dependency): in a checkout that was not built, or where
// one of the bundle's sources (dist/cli/sources.json, written by the build)
// changed since the build (a stale bundle would run yesterday's code).
import { existsSync, readFileSync, statSync } from 'node:fs';
import module from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

// Node 22.1 and later keep the compiled bundle on disk between starts.
module.enableCompileCache?.();
const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const bundled = path.join(root, 'dist', 'cli', 'partwise.mjs');

function bundleIsCurrent() {
  if (!existsSync(bundled) || process.env.PARTWISE_FROM_SOURCE) return false;
  // A packaged app or an installed package has no sources next to the bundle.
  if (!existsSync(path.join(root, 'electron'))) return true;
  const listed = path.join(root, 'dist', 'cli', 'sources.json');
  if (!existsSync(listed)) return false;
  const built = statSync(bundled).mtimeMs;
  // A new source file only enters the bundle through an edit to a listed one.
  return JSON.parse(readFileSync(listed, 'utf8')).every((file) => {
    const stat = statSync(path.join(root, file), { throwIfNoEntry: false });
    return stat !== undefined && stat.mtimeMs <= built;
  });
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
