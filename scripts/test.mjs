#!/usr/bin/env node
// `npm test`: everything that proves this checkout works, in order, stopping
// at the first failure: types, lint, unit tests, the database suite on real
// PostgreSQL (the oldest and the newest supported major; --matrix: every
// major from 13 to 18), then a build and the end-to-end suite in Chromium.
//
// PARTWISE_TEST_MAJORS=15,16 picks the majors; --skip-e2e leaves out the
// build and the browser (for a quick run on a machine without Chromium).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const matrix = process.argv.includes('--matrix');
const skipE2e = process.argv.includes('--skip-e2e');
const majors = (process.env.PARTWISE_TEST_MAJORS ?? (matrix ? '13,14,15,16,17,18' : '13,18'))
  .split(',')
  .map((m) => m.trim())
  .filter(Boolean);
const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx';
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

const steps = [
  ['types', npm, ['run', 'typecheck']],
  ['lint', npm, ['run', 'lint']],
  ['unit tests', npx, ['vitest', 'run', '--project', 'unit']],
  ...majors.map((major) => [
    `database tests on PostgreSQL ${major}`,
    npx,
    ['vitest', 'run', '--project', 'db'],
    { PARTWISE_PG_MAJOR: major },
  ]),
  ...(matrix || skipE2e
    ? []
    : [
        ['build', npm, ['run', 'build']],
        ['end-to-end tests', npm, ['run', 'test:e2e']],
      ]),
];

const results = [];
for (const [name, command, args, env = {}] of steps) {
  process.stdout.write(`\n=== ${name} ===\n`);
  const started = Date.now();
  const { status } = spawnSync(command, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  results.push(`${status === 0 ? 'ok  ' : 'FAIL'} ${name} (${seconds} s)`);
  if (status !== 0) {
    process.stdout.write(`\n${results.join('\n')}\n\nFailed: ${name}\n`);
    process.exit(status ?? 1);
  }
}
process.stdout.write(`\n${results.join('\n')}\n\nAll ${steps.length} steps passed.\n`);
