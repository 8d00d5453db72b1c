// npm run bench -- load [--rows N] [--keys N] [--writers N] [--workers N] [--warmup S] [--sync-commit]
//
// An online migration (the built `partwise migrate --json`, as a user runs it)
// of a table of N rows (default 1M) while N connections (default 4) write
// through the table's name as fast as they can: one statement per
// transaction, inserts, updates and deletes in turn, no pause between them,
// before, during and after the swap. They commit with synchronous_commit off
// (unless --sync-commit), so that the disk's flush time does not pace them. Printed: the swap's delay after the end
// of the copy (what catch-up takes to converge), the longest a write waited,
// the catch-up's apply rate, the backlog of logged changes over time, and the
// writers' throughput before and during each phase. The delay is also given
// after the end of the index phase: what the catch-up and the swap take.
// Goal (issue 11): the swap within 10 s of the end of the copy while the
// writers keep writing, no write waiting 1 s or more, none failing.
import pg from 'pg';
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import type { RunEvent } from '../shared/progress.js';
import { benchCluster, formatRate, table } from './_cluster.js';
import { startWriters } from './_writers.js';
import { buildCli, cliBin, root } from './_cli.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    keys: { type: 'string', default: '200' },
    writers: { type: 'string', default: '4' },
    workers: { type: 'string', default: '2' },
    warmup: { type: 'string', default: '3' },
    'sync-commit': { type: 'boolean', default: false },
  },
});
const ROWS = Number(values.rows);
const KEYS = Number(values.keys);
const WRITERS = Number(values.writers);
const WORKERS = Number(values.workers);
const WARMUP_MS = Number(values.warmup) * 1000;
/** Writers commit without waiting for the disk unless --sync-commit: the fastest application this machine runs. */
const SYNC_COMMIT = values['sync-commit']!;
const BUCKET_LIMIT = 100_000;
const cli = cliBin;

buildCli();

const bench = await benchCluster();
process.stdout.write(
  `load bench on PostgreSQL ${bench.version}: ${ROWS.toLocaleString('en-US')} rows by ${KEYS} keys, ${WRITERS} unthrottled writers (synchronous_commit ${SYNC_COMMIT ? 'on' : 'off'}), ${WORKERS} workers\n`,
);
const url = await bench.newDatabase('load');
const setup = new pg.Client(url);
await setup.connect();
process.stdout.write('creating the table...\n');
await setup.query(
  `CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int NOT NULL, module_id int NOT NULL, payload jsonb NOT NULL,
                        amount numeric(12, 2) NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`,
);
await setup.query(
  `INSERT INTO orders (customer_id, module_id, payload, amount, created_at)
   SELECT 1 + ((g::bigint * 7919) % $2), g % 37, jsonb_build_object('sku', md5(g::text), 'qty', g % 17),
          (g % 100000) / 100.0, now() - (g % 86400) * interval '1 second'
     FROM generate_series(1, $1) g`,
  [ROWS, KEYS],
);
await setup.query(`CREATE INDEX orders_created_at_idx ON orders (created_at)`);
await setup.query(`VACUUM ANALYZE orders`);
await setup.query('CHECKPOINT');

const writers = startWriters(url, { count: WRITERS, rows: ROWS, keys: KEYS, syncCommit: SYNC_COMMIT });
const { started, writes } = writers;
await new Promise((r) => setTimeout(r, WARMUP_MS));

/** Phase starts (ms since the start), the catch-up's progress, its log lines. */
const phaseAt = new Map<string, number>();
const catchUp: { at: number; done: number; total: number; perSecond: number | null }[] = [];
const logs: string[] = [];
/** When the unique registry's build started and ended (ms since the start): the catch-up's first applier builds it. */
const registry: { from?: number; to?: number } = {};
let runId: number | null = null;
const backlog: { at: number; pending: number }[] = [];
const sampler = new pg.Client(url);
await sampler.connect();
let sampling = true;
const samplingDone = (async () => {
  while (sampling) {
    await new Promise((r) => setTimeout(r, 500));
    if (runId === null) continue;
    // The log goes at the swap: from then on there is nothing to sample.
    const rows = await sampler
      .query<{ n: string }>(`SELECT count(*) AS n FROM partwise.${pg.escapeIdentifier(`changes_${runId}_1`)}`)
      .then((r) => r.rows)
      .catch(() => [{ n: null }]);
    if (rows[0]!.n !== null) backlog.push({ at: Date.now() - started, pending: Number(rows[0]!.n) });
  }
})();

const migrationStart = Date.now() - started;
const exit = await new Promise<number>((resolve, reject) => {
  const child = spawn(
    process.execPath,
    [
      cli,
      'migrate',
      '--url',
      url,
      '--table',
      'public.orders',
      '--key',
      'customer_id',
      '--bucket-limit',
      String(BUCKET_LIMIT),
      '--workers',
      String(WORKERS),
      // Counted exactly: the plan's figures are the tree the run makes.
      '--exact',
      '--yes',
      '--json',
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let buffer = '';
  child.stdout.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      let event: RunEvent;
      try {
        event = JSON.parse(line) as RunEvent;
      } catch {
        continue;
      }
      const at = Date.parse(event.at) - started;
      runId ??= event.runId;
      if (event.type === 'phase' && !phaseAt.has(event.phase)) phaseAt.set(event.phase, at);
      if (event.type === 'log' && event.message.startsWith('building the registr')) registry.from ??= at;
      if (event.type === 'log' && /^registr(y|ies) filled in/.test(event.message)) {
        registry.to = at;
        logs.push(`${((at - migrationStart) / 1000).toFixed(1)} s: ${event.message}`);
      }
      if (event.type === 'progress' && event.phase === 'catch_up')
        catchUp.push({ at, done: event.done, total: event.total, perSecond: event.perSecond });
      if (
        event.type === 'log' &&
        /pausing|paused|under the lock|before the lock|swapped|deadlock|left for the swap|row trigger placed|filled with autovacuum held off/.test(
          event.message,
        )
      )
        logs.push(`${((at - migrationStart) / 1000).toFixed(1)} s: ${event.message}`);
      if (event.type === 'finished') logs.push(`${event.status}: ${event.message}`);
    }
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.on('error', reject);
  child.on('exit', (code) => {
    if (code !== 0) process.stderr.write(stderr);
    resolve(code ?? 1);
  });
});
// Writes go on a while after the swap, through the routing view.
await new Promise((r) => setTimeout(r, 2000));
await writers.stop();
sampling = false;
await samplingDone;
await sampler.end();
// A migration that did not run has no figures (its reason is above, from the CLI).
if (runId === null) {
  await setup.end();
  await bench.stop();
  process.stdout.write(`migration exited with ${exit} before it started a run: no figures\n`);
  process.exit(1);
}
const { rows: verdict } = await setup.query<{ n: string }>(`SELECT count(*) AS n FROM orders`);
// The index phase's parts, as the journal recorded them (ms).
const { rows: indexSteps } = await setup.query<{ detail: Record<string, unknown> }>(
  `SELECT detail FROM partwise.migration_step WHERE run_id = $1 AND phase = 'indexes' ORDER BY step_id DESC LIMIT 1`,
  [runId],
);
await setup.end();
await bench.stop();

const copyEnd = phaseAt.get('indexes');
const catchUpStart = phaseAt.get('catch_up');
const cutoverStart = phaseAt.get('cutover');
const swapped = phaseAt.get('verify');
const s = (ms: number | undefined): string => (ms === undefined ? '-' : (ms / 1000).toFixed(1));
const indexParts = Object.entries(indexSteps[0]?.detail ?? {})
  .filter(([name, ms]) => name.endsWith('Ms') && typeof ms === 'number')
  .map(([name, ms]) => `${name.slice(0, -2)} ${s(ms as number)} s`)
  .join(', ');
/** Writes per second between two moments. */
const throughput = (from: number | undefined, to: number | undefined): string => {
  if (from === undefined || to === undefined || to <= from) return '-';
  return formatRate(writes.filter((w) => w.at >= from && w.at < to).length / ((to - from) / 1000));
};
const longest = (from: number, to: number): number =>
  writes.filter((w) => w.at >= from && w.at - w.ms < to).reduce((max, w) => Math.max(max, w.ms), 0);
const end = writes.at(-1)?.at ?? 0;

process.stdout.write(`\nmigration exited with ${exit}; ${logs.join('\n  ')}\n\n`);
process.stdout.write(
  table(
    ['phase', 'starts at s', 'writes/s'],
    [
      ['before (warm-up)', '0.0', throughput(0, migrationStart)],
      ['prepare, provision', s(migrationStart), throughput(migrationStart, phaseAt.get('copy'))],
      ['copy', s(phaseAt.get('copy')), throughput(phaseAt.get('copy'), copyEnd)],
      ['indexes', s(copyEnd), throughput(copyEnd, catchUpStart)],
      ['catch-up', s(catchUpStart), throughput(catchUpStart, cutoverStart)],
      ['swap (lock wait, last changes, swap)', s(cutoverStart), throughput(cutoverStart, swapped)],
      ['after the swap (verify, then 2 s)', s(swapped), throughput(swapped, end)],
    ],
  ),
);
// The writers update and delete by id alone, as the bench's application has
// no key to give: through the routing view such a statement reads every leaf
// (the README's "Queries that do not name the key"), so the last figure is
// that cost, not the routing's.
process.stdout.write(
  '\n(after the swap, updates and deletes by id without the key read every leaf: see "Queries that do not name the key")',
);
const applied = catchUp.at(-1);
const rates = catchUp.map((p) => p.perSecond).filter((r): r is number => r !== null);
const catchUpSeconds =
  catchUpStart !== undefined && cutoverStart !== undefined ? (cutoverStart - catchUpStart) / 1000 : 0;
process.stdout.write(
  `\n\nswap delay after the end of the copy: ${s(copyEnd !== undefined && swapped !== undefined ? swapped - copyEnd : undefined)} s` +
    ` (indexes ${s(copyEnd !== undefined && catchUpStart !== undefined ? catchUpStart - copyEnd : undefined)} s${indexParts ? `: ${indexParts}` : ''}, catch-up ${catchUpSeconds.toFixed(1)} s, swap ${s(cutoverStart !== undefined && swapped !== undefined ? swapped - cutoverStart : undefined)} s)\n` +
    `swap delay after the end of the index phase (catch-up and swap): ${s(catchUpStart !== undefined && swapped !== undefined ? swapped - catchUpStart : undefined)} s\n` +
    `unique registry (the primary key's, built by the first applier before it applies): filled and indexed from ${s(registry.from === undefined ? undefined : registry.from - migrationStart)} s to ${s(registry.to === undefined ? undefined : registry.to - migrationStart)} s after the migration started, ${s(registry.to !== undefined && copyEnd !== undefined ? registry.to - copyEnd : undefined)} s after the copy\n` +
    `writers were writing at the swap: ${writes.some((w) => swapped !== undefined && w.at > swapped + 100) ? 'yes' : 'no'}\n` +
    `longest writer wait: ${longest(0, end)} ms overall, ${cutoverStart !== undefined && swapped !== undefined ? longest(cutoverStart, swapped + 100) : '-'} ms around the swap; ` +
    `${writes.filter((w) => w.ms >= 100).length} writes of ${writes.length.toLocaleString('en-US')} waited 100 ms or more; ${writers.failures} failed${writers.failures ? ` (${[...writers.failureMessages].slice(0, 3).join('; ')})` : ''}\n` +
    `apply rate: ${applied ? formatRate(applied.done) : 0} changes applied in ${catchUpSeconds.toFixed(1)} s of catch-up` +
    `${rates.length ? `, ${formatRate(Math.max(...rates))} changes/s at best, ${formatRate(rates.reduce((a, b) => a + b, 0) / rates.length)} on average (reported rates)` : ''}\n` +
    `backlog (logged changes not yet applied), s after the migration started: ` +
    backlog
      .filter((_, i, all) => i % Math.max(1, Math.ceil(all.length / 12)) === 0 || i === all.length - 1)
      .map((b) => `${s(b.at - migrationStart)} s ${b.pending.toLocaleString('en-US')}`)
      .join(', ') +
    `\nrows after: ${Number(verdict[0]!.n).toLocaleString('en-US')}\n`,
);
const delay = copyEnd !== undefined && swapped !== undefined ? swapped - copyEnd : Infinity;
const wait = longest(0, end);
process.stdout.write(
  `\nGoal: swap within 10 s of the end of the copy while writers write, longest wait under 1 s, no write failed: ${
    exit === 0 && delay <= 10_000 && wait < 1000 && writers.failures === 0 ? 'met' : 'NOT met'
  }.\n`,
);
