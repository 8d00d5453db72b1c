#!/usr/bin/env node
// The `partwise` command. Runs the CLI bundled by `npm run build`
// (dist/cli/partwise.mjs: one file, quick to start), else, in a checkout that
// was not built, the TypeScript sources through tsx (a development dependency).
import { existsSync } from 'node:fs';
import module from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

// Node 22.1 and later keep the compiled bundle on disk between starts.
module.enableCompileCache?.();
const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const bundled = path.join(root, 'dist', 'cli', 'partwise.mjs');
let entry;
if (existsSync(bundled) && !process.env.PARTWISE_FROM_SOURCE) {
  entry = bundled;
} else {
  const { register } = await import('tsx/esm/api');
  register();
  entry = path.join(root, 'electron', 'cli', 'main.ts');
}
const { run } = await import(pathToFileURL(entry).href);
process.exitCode = await run(process.argv.slice(2));
