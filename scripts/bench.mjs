#!/usr/bin/env node
// `npm run bench -- <name> [options]`: the performance figures of the
// project, each measured side by side with its baseline in one run so that
// the printed ratios hold on whatever machine runs them.
//   routing   routed inserts against a plain table (1 and 8 writers; hot key, 1,000 keys)
//   migrate   migration time against the floor (plain copy + indexes + bare partition DDL)
//             and against the original script's key-by-key algorithm
//   cli       start of the built `partwise --help` against a bare `node`
//   ui        time to first render of a 10,000-partition tree and of the size charts
//   load      an online migration under unthrottled writers: swap delay after the copy,
//             longest writer wait, apply rate, backlog over time
//   access    SELECT and UPDATE by id and by key + id through the routing view against a
//             plain table, simple and prepared, at 200 and 2,000 leaves
//   keys      the application's writes during isolate and share of a pooled key: waits, ledger
//   shared    10,000 keys, 95% under 1,000 rows: relations and by-id lookups through the
//             view, one partition per key against small keys sharing a pool
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const available = readdirSync(path.join(root, 'bench'))
  .filter((f) => f.endsWith('.ts') && !f.startsWith('_'))
  .map((f) => f.slice(0, -3));
const [name, ...rest] = process.argv.slice(2);
if (!name || !available.includes(name)) {
  process.stderr.write(`usage: npm run bench -- <${available.join('|')}> [options]\n`);
  process.exit(name ? 2 : 0);
}
const file = path.join(root, 'bench', `${name}.ts`);
if (!existsSync(file)) process.exit(2);
const { status } = spawnSync(process.execPath, ['--import', 'tsx', file, ...rest], { cwd: root, stdio: 'inherit' });
process.exit(status ?? 1);
