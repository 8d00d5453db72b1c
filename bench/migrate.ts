// npm run bench -- migrate [--rows N] [--keys 200,2000] [--skip-seed] [--workers N]
//
// Migration time of a 1M-row table by 200 and by 2,000 keys, as a ratio to
// the floor measured in the same run, and to the original script's
// key-by-key algorithm. The floor is what no partitioned migration can avoid:
// the same rows copied into an unpartitioned table plus the same indexes, plus
// the bare DDL of the same empty partition tree. Also printed: time against
// row count (linear growth) and this process's peak memory (rows never pass
// through it). The migration keeps the primary key unique across the whole
// table by default (a registry, one more copy of the key with a unique index);
// the same migration without it is measured too, and the goal compares that
// one with the floor, which has no such extra index either.
// Goal: at most 1.3 x the floor at both key counts.
import pg from 'pg';
import { parseArgs } from 'node:util';
import { migrate } from '../electron/engine/index.js';
import { benchCluster, table } from './_cluster.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    keys: { type: 'string', default: '200,2000' },
    workers: { type: 'string', default: '2' },
    'skip-seed': { type: 'boolean', default: false },
    'skip-growth': { type: 'boolean', default: false },
    'skip-load': { type: 'boolean', default: false },
  },
});
const ROWS = Number(values.rows);
const KEY_COUNTS = values.keys!.split(',').map(Number);
const WORKERS = Number(values.workers);
const BUCKET_LIMIT = 10_000;

const bench = await benchCluster();
process.stdout.write(
  `migrate bench on PostgreSQL ${bench.version}: ${ROWS.toLocaleString('en-US')} rows, bucket limit ${BUCKET_LIMIT.toLocaleString('en-US')}, ${WORKERS} workers\n`,
);

const COLUMNS = `id bigserial PRIMARY KEY, customer_id int NOT NULL, module_id int NOT NULL, payload text NOT NULL,
                 amount numeric(12, 2) NOT NULL, created_at timestamptz NOT NULL DEFAULT now()`;

async function seconds<T>(work: () => Promise<T>): Promise<[number, T]> {
  const started = process.hrtime.bigint();
  const result = await work();
  return [Number(process.hrtime.bigint() - started) / 1e9, result];
}

/** The source: rows spread over keys with a skew (key k has weight ~ 1 / (1 + k % 50)). */
async function createSource(client: pg.Client, name: string, rows: number, keys: number): Promise<void> {
  await client.query(`CREATE TABLE ${name} (${COLUMNS})`);
  await client.query(
    `INSERT INTO ${name} (customer_id, module_id, payload, amount, created_at)
     SELECT 1 + ((g::bigint * 7919) % $2), g % 37, md5(g::text) || md5((g * 3)::text), (g % 100000) / 100.0,
            now() - (g % 86400) * interval '1 second'
       FROM generate_series(1, $1) g`,
    [rows, keys],
  );
  await client.query(`CREATE INDEX ${name}_created_at_idx ON ${name} (created_at)`);
  await client.query(`VACUUM ANALYZE ${name}`);
}

/** Rows per key of the source, to build the same tree for the floor and the seed. */
async function distribution(client: pg.Client, name: string): Promise<{ key: number; rows: number }[]> {
  const { rows } = await client.query<{ key: number; rows: string }>(
    `SELECT customer_id AS key, count(*) AS rows FROM ${name} GROUP BY 1 ORDER BY 1`,
  );
  return rows.map((r) => ({ key: r.key, rows: Number(r.rows) }));
}

async function floorCopy(client: pg.Client, source: string): Promise<number> {
  const [time] = await seconds(async () => {
    await client.query(`CREATE TABLE floor_copy (${COLUMNS})`);
    await client.query(`INSERT INTO floor_copy SELECT * FROM ${source}`);
    await client.query(`CREATE INDEX ON floor_copy (created_at)`);
  });
  return time;
}

async function floorDdl(client: pg.Client, keys: { key: number; rows: number }[]): Promise<number> {
  const [time] = await seconds(async () => {
    await client.query(
      `CREATE TABLE floor_tree (${COLUMNS.replace(' PRIMARY KEY', '')}, bucket_id int NOT NULL DEFAULT 0) PARTITION BY LIST (customer_id)`,
    );
    for (const { key, rows } of keys) {
      await client.query(
        `CREATE TABLE floor_tree_${key} PARTITION OF floor_tree FOR VALUES IN (${key}) PARTITION BY LIST (bucket_id)`,
      );
      for (let b = 0; b < Math.max(1, Math.ceil(rows / BUCKET_LIMIT)); b++) {
        await client.query(`CREATE TABLE floor_tree_${key}_${b} PARTITION OF floor_tree_${key} FOR VALUES IN (${b})`);
      }
    }
  });
  return time;
}

/** The original script's algorithm: indexes on the parent first, then one INSERT ... SELECT per key, filtered on key::text. */
async function seedAlgorithm(
  client: pg.Client,
  source: string,
  keys: { key: number; rows: number }[],
): Promise<number> {
  await client.query(
    `CREATE TABLE seed_tree (${COLUMNS.replace(' PRIMARY KEY', '')}, bucket_id int NOT NULL DEFAULT 0) PARTITION BY LIST (customer_id)`,
  );
  const [time] = await seconds(async () => {
    await client.query(`ALTER TABLE seed_tree ADD PRIMARY KEY (id, customer_id, bucket_id)`);
    await client.query(`CREATE INDEX ON seed_tree (created_at)`);
    for (const { key, rows } of keys) {
      await client.query(
        `CREATE TABLE seed_tree_${key} PARTITION OF seed_tree FOR VALUES IN ('${key}') PARTITION BY LIST (bucket_id)`,
      );
      for (let b = 0; b < Math.max(1, Math.ceil(rows / BUCKET_LIMIT)); b++) {
        await client.query(`CREATE TABLE seed_tree_${key}_${b} PARTITION OF seed_tree_${key} FOR VALUES IN (${b})`);
      }
    }
    for (const { key } of keys) {
      await client.query(
        `INSERT INTO seed_tree SELECT s.*, floor((row_number() OVER (ORDER BY (SELECT NULL)) - 1) / ${BUCKET_LIMIT})
           FROM ${source} s WHERE s.customer_id::text = '${key}'`,
      );
    }
  });
  return time;
}

async function partwise(
  url: string,
  source: string,
  uniqueness?: Record<string, 'table' | 'bucket'>,
): Promise<{ time: number; phases: string; peakMb: number }> {
  const pool = new pg.Pool({ connectionString: url, max: WORKERS + 3 });
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
  try {
    const [time, outcome] = await seconds(() =>
      migrate(
        pool,
        [{ schema: 'public', table: source, keyColumn: 'customer_id', bucketLimit: BUCKET_LIMIT, uniqueness }],
        { workers: WORKERS },
      ),
    );
    if (outcome.status !== 'succeeded') throw new Error(outcome.message);
    const { rows } = await pool.query<{ phase: string; ms: number; detail: Record<string, number> }>(
      `SELECT phase, round(extract(epoch FROM finished_at - started_at) * 1000)::int AS ms, detail
         FROM partwise.migration_step WHERE run_id = $1 ORDER BY step_id`,
      [outcome.runId],
    );
    const parts = (detail: Record<string, number>): string => {
      const entries = Object.entries(detail).filter(([k]) => k.endsWith('Ms') && k !== 'ms');
      return entries.length
        ? ` (${entries.map(([k, v]) => `${k.slice(0, -2)} ${(v / 1000).toFixed(1)}`).join(', ')})`
        : '';
    };
    return {
      time,
      phases: rows.map((r) => `${r.phase} ${(r.ms / 1000).toFixed(1)}${parts(r.detail)}`).join(', '),
      peakMb: peak / 1024 / 1024,
    };
  } finally {
    clearInterval(sampler);
    await pool.end();
  }
}

const results: string[][] = [];
const details: string[] = [];
for (const keyCount of KEY_COUNTS) {
  process.stdout.write(`\n${keyCount} keys: creating the source table...\n`);
  const url = await bench.newDatabase(`migrate_${keyCount}`);
  const client = new pg.Client(url);
  await client.connect();
  await createSource(client, 'orders', ROWS, keyCount);
  await createSource(client, 'orders_bucketed', ROWS, keyCount);
  await createSource(client, 'orders_seed', ROWS, keyCount);
  const keys = await distribution(client, 'orders');
  process.stdout.write('  floor: plain copy + indexes...\n');
  const copy = await floorCopy(client, 'orders');
  process.stdout.write('  floor: bare DDL of the same partition tree...\n');
  const ddl = await floorDdl(client, keys);
  await client.query('CHECKPOINT');
  process.stdout.write('  Partwise migration...\n');
  const ours = await partwise(url, 'orders');
  await client.query('CHECKPOINT');
  process.stdout.write('  Partwise migration, primary key unique per bucket only (no registry)...\n');
  const bucketed = await partwise(url, 'orders_bucketed', { orders_bucketed_pkey: 'bucket' });
  let seed: number | null = null;
  if (!values['skip-seed']) {
    await client.query('CHECKPOINT');
    process.stdout.write("  the original script's key-by-key algorithm...\n");
    seed = await seedAlgorithm(client, 'orders_seed', keys);
  }
  await client.end();
  const floor = copy + ddl;
  results.push([
    `${keyCount.toLocaleString('en-US')} keys`,
    copy.toFixed(1),
    ddl.toFixed(1),
    floor.toFixed(1),
    bucketed.time.toFixed(1),
    (bucketed.time / floor).toFixed(2),
    ours.time.toFixed(1),
    (ours.time / bucketed.time).toFixed(2),
    seed === null ? '-' : seed.toFixed(1),
    seed === null ? '-' : (ours.time / seed).toFixed(2),
    ours.peakMb.toFixed(0),
  ]);
  details.push(`${keyCount} keys, Partwise phases (s): ${ours.phases}`);
  details.push(`${keyCount} keys, without registry (s): ${bucketed.phases}`);
}

/**
 * The same migration while 4 connections keep writing through the table's
 * name (inserts, updates, deletes, one row per transaction): no write may
 * fail, and the longest a write waits (the swap's lock) should stay under 1 s.
 */
async function underWriteLoad(keys: number): Promise<string> {
  const url = await bench.newDatabase('write_load');
  const client = new pg.Client(url);
  await client.connect();
  await createSource(client, 'orders', ROWS, keys);
  await client.end();
  let stop = false;
  let writes = 0;
  let failures = 0;
  let slowest = 0;
  const writers = Array.from({ length: 4 }, async (_, w) => {
    const writer = new pg.Client(url);
    await writer.connect();
    let n = w;
    while (!stop) {
      const started = Date.now();
      try {
        const id = 1 + ((n * 104729) % ROWS);
        if (n % 3 === 0)
          await writer.query(`INSERT INTO orders (customer_id, module_id, payload, amount) VALUES ($1, 1, 'load', 1)`, [
            1 + (n % keys),
          ]);
        else if (n % 3 === 1) await writer.query(`UPDATE orders SET amount = amount + 1 WHERE id = $1`, [id]);
        else await writer.query(`DELETE FROM orders WHERE id = $1`, [id]);
        writes++;
      } catch {
        failures++;
      }
      slowest = Math.max(slowest, Date.now() - started);
      n += 4;
    }
    await writer.end();
  });
  const ours = await partwise(url, 'orders');
  await new Promise((r) => setTimeout(r, 300));
  stop = true;
  await Promise.all(writers);
  return `under write load (4 writers, ${keys} keys): migration ${ours.time.toFixed(1)} s, ${writes.toLocaleString('en-US')} writes, ${failures} failed, longest writer wait ${slowest} ms (goal: none failed, under 1000 ms)`;
}

const loadLine = values['skip-load'] ? null : await underWriteLoad(KEY_COUNTS[0]!);

const growth: string[][] = [];
if (!values['skip-growth']) {
  for (const rows of [ROWS / 4, ROWS / 2, ROWS]) {
    process.stdout.write(`\ngrowth: ${rows.toLocaleString('en-US')} rows by ${KEY_COUNTS[0]} keys...\n`);
    const url = await bench.newDatabase(`growth_${rows}`);
    const client = new pg.Client(url);
    await client.connect();
    await createSource(client, 'orders', rows, KEY_COUNTS[0]!);
    await client.end();
    const ours = await partwise(url, 'orders');
    growth.push([rows.toLocaleString('en-US'), ours.time.toFixed(1), ((ours.time / rows) * 1e6).toFixed(2)]);
  }
}
await bench.stop();

process.stdout.write(
  `\n${table(
    [
      'seconds',
      'copy+indexes',
      'bare DDL',
      'floor',
      'Partwise, no registry',
      'x floor',
      'with registry',
      'x no registry',
      'seed algorithm',
      'x seed',
      'peak MB',
    ],
    results,
  )}\n`,
);
for (const line of details) process.stdout.write(`${line}\n`);
if (loadLine) process.stdout.write(`\n${loadLine}\n`);
if (growth.length > 0) process.stdout.write(`\n${table(['rows', 'Partwise s', 's per million rows'], growth)}\n`);
const worst = Math.max(...results.map((r) => Number(r[5])));
process.stdout.write(
  `\nGoal: at most 1.30 x the floor at every key count: ${worst <= 1.3 ? 'met' : `NOT met (worst ${worst.toFixed(2)} x)`}.\n`,
);
