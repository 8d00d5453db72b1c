// The suite tests what `npm run build` produced, never the sources directly:
// without a build it stops at once with what to run, and it warns when the
// build is older than the renderer or backend sources (a stale build would
// test yesterday's code).
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { BRIDGE_BUNDLE, RENDERER_DIR, ROOT } from './paths.js';

const REQUIRED = [path.join(RENDERER_DIR, 'index.html'), BRIDGE_BUNDLE];
const SOURCES = ['renderer', 'shared', 'electron', 'vite.config.ts'];

export function missingBuildOutputs(): string[] {
  return REQUIRED.filter((file) => !existsSync(file)).map((file) => path.relative(ROOT, file));
}

function newestMtime(entry: string): number {
  if (!existsSync(entry)) return 0;
  const stat = statSync(entry);
  if (!stat.isDirectory()) return /\.test\.tsx?$|\.testing\.ts$/.test(entry) ? 0 : stat.mtimeMs;
  let newest = 0;
  for (const name of readdirSync(entry)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    newest = Math.max(newest, newestMtime(path.join(entry, name)));
  }
  return newest;
}

/** A warning when sources changed after the build, else undefined. */
export function staleBuildWarning(): string | undefined {
  const built = Math.min(...REQUIRED.map((file) => statSync(file).mtimeMs));
  const changed = Math.max(...SOURCES.map((entry) => newestMtime(path.join(ROOT, entry))));
  if (changed <= built) return undefined;
  return (
    'WARNING: sources changed after the last `npm run build`; the end-to-end tests run the older build. ' +
    'Run `npm run build` (npm test does) to test the current code.'
  );
}
