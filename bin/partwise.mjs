#!/usr/bin/env node
// The `partwise` command. Runs the bundled CLI when the project was built,
// else the TypeScript sources through tsx (a dependency), so that
// `npx partwise` works right after `npm ci`.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

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
