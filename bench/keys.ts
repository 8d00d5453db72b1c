// npm run bench -- keys [--small N] [--grown N] [--limit N] [--seconds S]
//
// What the application feels while a key is isolated from the pool of small
// keys and shared back (issue 13): the time each write waited, by who wrote.
// A table migrated with small keys sharing (`--share-below`), N small keys of
// 100 rows (2,000), key 7 grown to --grown rows (50,000) while still pooled,
// and key 1 large enough (100,000 rows) for a partition of its own. Four
// connections write one row per transaction through the table's name, as
// fast as they can, throughout:
//   same key     inserts and updates of key 7, the key acted on;
//   pooled keys  two connections: inserts and updates of other small keys;
//   own key      inserts of key 1.
// First a quiet window (the writers alone), then `isolate` of key 7 and
// `share` of it back, each run by the engine as the CLI and the app run it.
// For each window and writer: the writes, their 99th percentile and the
// longest wait. At the end, the ledger: the table holds the rows loaded plus
// every insert that succeeded, and every update that succeeded is counted.
import pg from 'pg';
import { parseArgs } from 'node:util';
import { finalize, migrate } from '../electron/engine/index.js';
import { runKeyAction } from '../electron/engine/keys/run.js';
import { DEFAULT_SCHEMA } from '../electron/install/install.js';
import { benchCluster, table } from './_cluster.js';
import { connectionsForRun, DEFAULT_WORKERS } from '../shared/workers.js';

const { values } = parseArgs({
  options: {
    small: { type: 'string', default: '2000' },
    grown: { type: 'string', default: '50000' },
    limit: { type: 'string', default: '10000' },
    seconds: { type: 'string', default: '5' },
  },
});
const SMALL = Number(values.small);
const GROWN = Number(values.grown);
const LIMIT = Number(values.limit);
const SECONDS = Number(values.seconds);
const OWN = 100_000;
const ACTED = 7;

const bench = await benchCluster();
const url = await bench.newDatabase('keys');
process.stdout.write(
  `keys bench on PostgreSQL ${bench.version}: ${SMALL.toLocaleString('en-US')} small keys of 100 rows and key ${ACTED} ` +
    `with ${GROWN.toLocaleString('en-US')} rows in the pool, key 1 with ${OWN.toLocaleString('en-US')} rows in a partition of its own, ` +
    `bucket limit ${LIMIT.toLocaleString('en-US')}\n`,
);

const setup = new pg.Client(url);
await setup.connect();
await setup.query(
  `CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int NOT NULL, n int NOT NULL DEFAULT 0, payload text NOT NULL)`,
);
// Small keys 10..SMALL+9, key 7 grown, key 1 large: in key order, as a table filled over time is not, but the copy orders by key anyway.
await setup.query(
  `INSERT INTO orders (customer_id, payload)
   SELECT k, md5(k::text || '/' || g) FROM generate_series(10, $1::int + 9) k, generate_series(1, 100) g
   UNION ALL SELECT ${ACTED}, md5('grown/' || g) FROM generate_series(1, $2::int) g
   UNION ALL SELECT 1, md5('own/' || g) FROM generate_series(1, ${OWN}) g`,
  [SMALL, GROWN],
);
await setup.query('VACUUM ANALYZE orders');
const loaded = Number((await setup.query<{ n: string }>('SELECT count(*) AS n FROM orders')).rows[0]!.n);

const pool = new pg.Pool({ connectionString: url, max: connectionsForRun(DEFAULT_WORKERS) });
const migrateStarted = Date.now();
const outcome = await migrate(pool, [
  { schema: 'public', table: 'orders', keyColumn: 'customer_id', bucketLimit: LIMIT, shareBelow: GROWN + 1 },
]);
if (outcome.status !== 'succeeded') throw new Error(outcome.message);
const finalized = await finalize(pool, outcome.runId);
if (finalized.status !== 'finalized') throw new Error(finalized.message);
process.stdout.write(`migrated and finalized in ${((Date.now() - migrateStarted) / 1000).toFixed(1)} s\n`);

/** Ids of rows of key k, for the updates: a sample, spread over its buckets. */
async function idsOf(key: number): Promise<number[]> {
  const { rows } = await setup.query<{ id: string }>(
    `SELECT id FROM orders WHERE customer_id = $1 ORDER BY random() LIMIT 2000`,
    [key],
  );
  return rows.map((r) => Number(r.id));
}
const ids = { acted: await idsOf(ACTED), small: await idsOf(10 + Math.floor(SMALL / 2)) };

type Who = 'same key' | 'pooled keys' | 'own key';
interface Write {
  who: Who;
  at: number;
  ms: number;
}
const writes: Write[] = [];
const ledger = { inserts: 0, updates: 0, failures: 0, messages: new Set<string>() };
let stopped = false;

async function writer(who: Who, seed: number): Promise<void> {
  const client = new pg.Client(url);
  await client.connect();
  for (let i = seed; !stopped; i += 4) {
    const insert = i % 2 === 0 || who === 'own key';
    const begin = performance.now();
    try {
      if (insert) {
        const key = who === 'same key' ? ACTED : who === 'own key' ? 1 : 10 + ((i * 7919) % SMALL);
        await client.query(`INSERT INTO orders (customer_id, payload) VALUES ($1, 'written')`, [key]);
        ledger.inserts++;
      } else {
        const list = who === 'same key' ? ids.acted : ids.small;
        const { rowCount } = await client.query(`UPDATE orders SET n = n + 1 WHERE id = $1`, [
          list[(i * 104729) % list.length],
        ]);
        ledger.updates += rowCount ?? 0;
      }
    } catch (error) {
      ledger.failures++;
      ledger.messages.add((error as Error).message);
    }
    writes.push({ who, at: performance.now(), ms: performance.now() - begin });
  }
  await client.end();
}

const running = Promise.all([
  writer('same key', 0),
  writer('pooled keys', 1),
  writer('pooled keys', 2),
  writer('own key', 3),
]);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Window {
  name: string;
  from: number;
  to: number;
  message?: string;
}
const windows: Window[] = [];
await sleep(1000); // connections open, plans cached
let from = performance.now();
await sleep(SECONDS * 1000);
windows.push({ name: 'quiet (writers alone)', from, to: performance.now() });
for (const action of ['isolate', 'share'] as const) {
  from = performance.now();
  const result = await runKeyAction(
    pool,
    { schema: 'public', name: 'orders' },
    String(ACTED),
    action,
    {},
    { installSchema: DEFAULT_SCHEMA },
  );
  windows.push({ name: `${action} key ${ACTED}`, from, to: performance.now(), message: result.message });
  await sleep(2000);
}
stopped = true;
await running;

const counted = (await setup.query<{ rows: string; n: string }>('SELECT count(*) AS rows, sum(n) AS n FROM orders'))
  .rows[0]!;
await setup.end();
await pool.end();
await bench.stop();

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
}
const ms = (value: number): string => `${value.toFixed(1)} ms`;
const rows: string[][] = [];
for (const w of windows) {
  for (const who of ['same key', 'pooled keys', 'own key'] as const) {
    const inside = writes
      .filter((x) => x.who === who && x.at >= w.from && x.at <= w.to)
      .map((x) => x.ms)
      .sort((a, b) => a - b);
    rows.push([
      who === 'same key' ? `${w.name} (${((w.to - w.from) / 1000).toFixed(2)} s)` : '',
      who,
      inside.length.toLocaleString('en-US'),
      ms(percentile(inside, 0.5)),
      ms(percentile(inside, 0.99)),
      ms(inside.at(-1) ?? 0),
    ]);
  }
}
process.stdout.write(`\n${table(['window', 'writer', 'writes', 'median', 'p99', 'longest'], rows)}\n\n`);
for (const w of windows.filter((x) => x.message)) process.stdout.write(`${w.name}: ${w.message}\n`);

const rowsExpected = loaded + ledger.inserts;
const ledgerOk = Number(counted.rows) === rowsExpected && Number(counted.n) === ledger.updates;
process.stdout.write(
  `\nledger: ${Number(counted.rows).toLocaleString('en-US')} rows (${loaded.toLocaleString('en-US')} loaded + ${ledger.inserts.toLocaleString('en-US')} inserted), ` +
    `${Number(counted.n).toLocaleString('en-US')} updates counted of ${ledger.updates.toLocaleString('en-US')} made; ` +
    `${ledger.failures} writes failed${ledger.failures ? `: ${[...ledger.messages].join(' | ')}` : ''} -> ${ledgerOk ? 'nothing lost' : 'MISMATCH'}\n`,
);
if (!ledgerOk) process.exit(1);
