// npm run bench -- access [--rows N] [--leaves 200,2000] [--seconds S] [--clients N]
//
// What a statement that does not name the key costs once a table is
// partitioned: SELECT and UPDATE by primary key, and by key + primary key,
// through the routing view of a table Partwise migrated and on a plain copy of
// the same rows and indexes, with the simple protocol (each statement planned
// afresh, values inline) and prepared (parsed once, executed with parameters),
// side by side at each leaf count. Also: planning time of a by-id lookup
// through the view against the plan's estimate (measured on a temporary tree,
// extrapolated beyond 256 leaves).
import pg from 'pg';
import { parseArgs } from 'node:util';
import { inspectTable } from '../electron/engine/catalog.js';
import { migrate } from '../electron/engine/index.js';
import { measureKeylessCost, timeLookup } from '../electron/engine/workload/probe.js';
import { formatMilliseconds } from '../shared/workload.js';
import { benchCluster, formatRate, table } from './_cluster.js';
import { callsPerSecond } from './_rate.js';
import { connectionsForRun, DEFAULT_WORKERS } from '../shared/workers.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    leaves: { type: 'string', default: '200,2000' },
    seconds: { type: 'string', default: '5' },
    clients: { type: 'string', default: '4' },
  },
});
const ROWS = Number(values.rows);
const LEAF_COUNTS = values.leaves!.split(',').map(Number);
const SECONDS = Number(values.seconds);
const CLIENTS = Number(values.clients);

// A key-less statement locks every leaf and its indexes: at 2,000 leaves one
// statement takes over 6,000 lock table entries, and the default table holds
// 6,400 (64 x 100) for the whole server.
const bench = await benchCluster({ max_locks_per_transaction: 1024 });
process.stdout.write(
  `access bench on PostgreSQL ${bench.version}: ${ROWS.toLocaleString('en-US')} rows, ${CLIENTS} clients, ${SECONDS} s per figure, max_locks_per_transaction 1024\n`,
);

interface Statement {
  label: string;
  /** SQL with $n placeholders, and the values for the i-th call on a tree of `keys` keys. */
  text: (table: string) => string;
  values: (i: number, keys: number) => unknown[];
}

/** Row g belongs to key 1 + g % keys (see the seed below): a lookup by key + id names the right key. */
const statements: Statement[] = [
  { label: 'SELECT by id', text: (t) => `SELECT * FROM ${t} WHERE id = $1`, values: (i) => [i] },
  {
    label: 'SELECT by key + id',
    text: (t) => `SELECT * FROM ${t} WHERE customer_id = $1 AND id = $2`,
    values: (i, keys) => [1 + (i % keys), i],
  },
  { label: 'UPDATE by id', text: (t) => `UPDATE ${t} SET payload = $1 WHERE id = $2`, values: (i) => [`u${i}`, i] },
  {
    label: 'UPDATE by key + id',
    text: (t) => `UPDATE ${t} SET payload = $1 WHERE customer_id = $2 AND id = $3`,
    values: (i, keys) => [`u${i}`, 1 + (i % keys), i],
  },
];

/** The simple protocol: values written into the text, so that PostgreSQL plans every call. */
function inline(text: string, params: unknown[]): string {
  return text.replace(/\$(\d+)/g, (_, n: string) => {
    const value = params[Number(n) - 1];
    return typeof value === 'number' ? String(value) : pg.escapeLiteral(String(value));
  });
}

/** Calls per second over SECONDS, CLIENTS connections each calling in a loop (after a short warm-up). */
function rate(url: string, statement: Statement, target: string, keys: number, prepared: boolean): Promise<number> {
  const text = statement.text(target);
  return callsPerSecond(
    url,
    CLIENTS,
    (client, i) => {
      const params = statement.values(1 + ((i * 7919) % ROWS), keys);
      return prepared ? client.query({ name: 'bench', text, values: params }) : client.query(inline(text, params));
    },
    { warmUpMs: 500, seconds: SECONDS },
  );
}

async function prepareDatabase(leaves: number): Promise<string> {
  const url = await bench.newDatabase(`access_${leaves}`);
  const client = new pg.Client(url);
  await client.connect();
  try {
    process.stdout.write(`\n${leaves.toLocaleString('en-US')} leaves: loading rows...\n`);
    await client.query(
      `CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int NOT NULL, payload text NOT NULL,
                            created_at timestamptz NOT NULL DEFAULT now())`,
    );
    await client.query(
      `INSERT INTO orders (customer_id, payload) SELECT 1 + g % $2, md5(g::text) FROM generate_series(1, $1) g`,
      [ROWS, leaves],
    );
    await client.query(`CREATE INDEX ON orders (customer_id)`);
    await client.query(`CREATE TABLE orders_plain AS SELECT * FROM orders`);
    await client.query(`ALTER TABLE orders_plain ADD PRIMARY KEY (id)`);
    await client.query(`CREATE INDEX ON orders_plain (customer_id)`);
    await client.query(`VACUUM ANALYZE`);
  } finally {
    await client.end();
  }
  process.stdout.write('  migrating orders (one bucket per key)...\n');
  const pool = new pg.Pool({ connectionString: url, max: connectionsForRun(DEFAULT_WORKERS) });
  try {
    const limit = 2 * Math.ceil(ROWS / leaves);
    const outcome = await migrate(pool, [
      { schema: 'public', table: 'orders', keyColumn: 'customer_id', bucketLimit: limit },
    ]);
    if (outcome.status !== 'succeeded') throw new Error(outcome.message);
    await pool.query(`ANALYZE orders_partitioned`);
    const { rows } = await pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_partition_tree('orders_partitioned') WHERE isleaf`,
    );
    if (rows[0]!.n !== leaves) throw new Error(`expected ${leaves} leaves, the migration made ${rows[0]!.n}`);
  } finally {
    await pool.end();
  }
  return url;
}

/** Planning of a by-id lookup through the view, and what the plan's probe predicts for the same tree. */
async function planning(url: string, leaves: number): Promise<string[]> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    const real = await timeLookup(client, 'public.orders', ['id']);
    const plain = await inspectTable(client, { schema: 'public', name: 'orders_plain' });
    const probe = await measureKeylessCost(client, {
      table: plain,
      lookupColumns: ['id'],
      leaves,
      levelOne: leaves,
    });
    if (!probe.ok) throw new Error(probe.note);
    const { cost } = probe;
    return [
      leaves.toLocaleString('en-US'),
      formatMilliseconds(real.planningMs),
      formatMilliseconds(real.executionMs),
      formatMilliseconds(cost.planningMs),
      formatMilliseconds(cost.executionMs),
      cost.extrapolated ? `extrapolated from ${cost.measuredLeaves}` : 'measured',
      formatMilliseconds(cost.todayPlanningMs),
    ];
  } finally {
    await client.end();
  }
}

const rows: string[][] = [];
const plans: string[][] = [];
for (const leaves of LEAF_COUNTS) {
  const url = await prepareDatabase(leaves);
  plans.push(await planning(url, leaves));
  for (const statement of statements) {
    for (const prepared of [false, true]) {
      process.stdout.write(`  ${statement.label}, ${prepared ? 'prepared' : 'simple'}...\n`);
      const view = await rate(url, statement, 'orders', leaves, prepared);
      const plain = await rate(url, statement, 'orders_plain', leaves, prepared);
      rows.push([
        leaves.toLocaleString('en-US'),
        statement.label,
        prepared ? 'prepared' : 'simple',
        formatRate(view),
        formatRate(plain),
        (view / plain).toFixed(3),
      ]);
    }
  }
}
await bench.stop();

process.stdout.write(
  `\n${table(['leaves', 'statement', 'protocol', 'view calls/s', 'plain calls/s', 'view / plain'], rows)}\n`,
);
process.stdout.write(
  `\nA by-id lookup through the view (median of 7 generic plans; EXPLAIN ANALYZE), and the plan's estimate for the same tree:\n`,
);
process.stdout.write(
  `${table(['leaves', 'planning', 'execution', 'plan estimate: planning', 'execution', 'how', 'plain table planning'], plans)}\n`,
);
