// The CLI as users run it: the bundle `npm run build` makes, built before a
// bench measures anything (a stale bundle would measure yesterday's code).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** `bin/partwise.mjs`, which runs the bundle once it is current. */
export const cliBin = path.join(root, 'bin', 'partwise.mjs');

/** Builds the CLI bundle (not the renderer); exits the bench when the build fails. */
export function buildCli(): void {
  const build = spawnSync(process.execPath, [path.join(root, 'scripts', 'build.mjs'), '--skip-renderer', '--quiet'], {
    cwd: root,
    stdio: 'inherit',
  });
  if (build.status !== 0) process.exit(build.status ?? 1);
}
