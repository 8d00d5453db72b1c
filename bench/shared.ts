// npm run bench -- shared [--keys N] [--limit N] [--seconds S] [--clients N] [--later]
//
// Small keys sharing a pool against one level-1 partition per key (issue 13),
// on a skewed multi-tenant table: N keys (10,000), 95% of them under 1,000
// rows (20-199 rows each) and every twentieth a larger one (1,000-2,999
// rows). Two databases with the same rows:
//   isolated  the table migrated with a level-1 partition and its bucket(s)
//             per key;
//   shared    the table migrated with shared placement (shareBelow 1,000, as
//             `--share-below 1000`): keys under 1,000 rows copied into the
//             pool's buckets, the others given their partition. The plan's
//             relation counts both ways are printed beside the catalog's.
//             With --later, as before placement at migration time existed:
//             the large keys migrated, then partwise.share_small_keys, then
//             the small keys' rows inserted through the application's table
//             name, which routes them into the pool's buckets.
// Figures: partitions and relations of the tree (tables, indexes and TOAST),
// and a by-id lookup through the view (it does not name the key, so it plans,
// locks and reads every leaf), calls per second, simple and prepared.
import pg from 'pg';
import { parseArgs } from 'node:util';
import { finalize, migrate, planMigration } from '../electron/engine/index.js';
import type { MigrationPlan } from '../shared/plan.js';
import { benchCluster, formatRate, table } from './_cluster.js';
import { callsPerSecond } from './_rate.js';
import { connectionsForRun, DEFAULT_WORKERS } from '../shared/workers.js';

const { values } = parseArgs({
  options: {
    keys: { type: 'string', default: '10000' },
    limit: { type: 'string', default: '10000' },
    seconds: { type: 'string', default: '5' },
    clients: { type: 'string', default: '2' },
    later: { type: 'boolean', default: false },
  },
});
const KEYS = Number(values.keys);
const LIMIT = Number(values.limit);
const SECONDS = Number(values.seconds);
const CLIENTS = Number(values.clients);
const THRESHOLD = 1000;

// A by-id lookup over the isolated tree locks every partition and index: at
// 10,000 keys about 40,000 lock table entries in one statement.
const bench = await benchCluster({ max_locks_per_transaction: 4096 });
process.stdout.write(
  `shared bench on PostgreSQL ${bench.version}: ${KEYS.toLocaleString('en-US')} keys, bucket limit ${LIMIT.toLocaleString('en-US')}, ` +
    `pool threshold ${THRESHOLD} rows, ${CLIENTS} clients, ${SECONDS} s per figure\n`,
);

/** Rows of key k: every twentieth key is large (1,000-2,999 rows), the others small (20-199). */
const ROWS_OF = (k: string) => `CASE WHEN ${k} % 20 = 0 THEN 1000 + (${k} * 37) % 2000 ELSE 20 + (${k} * 13) % 180 END`;
const LARGE = (k: string) => `${k} % 20 = 0`;

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

async function seed(client: pg.Client, which: string): Promise<void> {
  await client.query(
    `CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int NOT NULL, payload text NOT NULL,
                          created_at timestamptz NOT NULL DEFAULT now())`,
  );
  await client.query(`CREATE INDEX ON orders (customer_id)`);
  await client.query(
    `INSERT INTO orders (customer_id, payload)
     SELECT k, md5(k::text || '/' || g) FROM generate_series(1, $1) k, generate_series(1, ${ROWS_OF('k')}) g
      WHERE ${which} ORDER BY k, g`,
    [KEYS],
  );
  await client.query(`VACUUM ANALYZE orders`);
}

async function migrateOrders(url: string, shareBelow?: number): Promise<number> {
  const pool = new pg.Pool({ connectionString: url, max: connectionsForRun(DEFAULT_WORKERS) });
  try {
    const started = Date.now();
    const outcome = await migrate(pool, [
      { schema: 'public', table: 'orders', keyColumn: 'customer_id', bucketLimit: LIMIT, shareBelow },
    ]);
    process.stdout.write(`  migrated in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    if (outcome.status !== 'succeeded') throw new Error(outcome.message);
    // The original table is not needed here, and small keys share only once it is gone.
    const finalized = await finalize(pool, outcome.runId);
    if (finalized.status !== 'finalized') throw new Error(finalized.message);
    const { rows } = await pool.query<{ id: number }>(
      `SELECT config_id AS id FROM partwise.partition_config WHERE table_name = 'orders'`,
    );
    return rows[0]!.id;
  } finally {
    await pool.end();
  }
}

async function isolated(): Promise<string> {
  const url = await bench.newDatabase('isolated');
  process.stdout.write('\nisolated: loading and migrating every key...\n');
  await withClient(url, (client) => seed(client, 'true'));
  await migrateOrders(url);
  return url;
}

/** The plan's relation counts both ways, for the table as loaded. */
let planned: NonNullable<MigrationPlan['partitions']['placement']> | null = null;

async function shared(): Promise<string> {
  if (!values.later) {
    const url = await bench.newDatabase('shared');
    process.stdout.write('\nshared: loading and migrating with small keys placed in the pool...\n');
    await withClient(url, (client) => seed(client, 'true'));
    await withClient(url, async (client) => {
      const plan = await planMigration(
        client,
        { schema: 'public', table: 'orders', keyColumn: 'customer_id', bucketLimit: LIMIT, shareBelow: THRESHOLD },
        { counting: 'exact' },
      );
      planned = plan.partitions.placement!;
    });
    await migrateOrders(url, THRESHOLD);
    return url;
  }
  const url = await bench.newDatabase('shared');
  process.stdout.write(
    '\nshared: loading and migrating the large keys, then sharing, then routing the small keys...\n',
  );
  await withClient(url, (client) => seed(client, LARGE('k')));
  const configId = await migrateOrders(url);
  await withClient(url, async (client) => {
    await client.query('SELECT partwise.share_small_keys($1, $2)', [configId, THRESHOLD]);
    const started = Date.now();
    const { rowCount } = await client.query(
      `INSERT INTO orders (customer_id, payload)
       SELECT k, md5(k::text || '/' || g) FROM generate_series(1, $1) k, generate_series(1, ${ROWS_OF('k')}) g
        WHERE NOT ${LARGE('k')} ORDER BY k, g`,
      [KEYS],
    );
    process.stdout.write(
      `  ${(rowCount ?? 0).toLocaleString('en-US')} rows of small keys routed into the pool in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
    );
  });
  return url;
}

interface Shape {
  rows: number;
  keys: number;
  levelOne: number;
  leaves: number;
  relations: number;
  maxIds: number;
}

/** The tree's partitions, and every relation they make: the partitions, their indexes, their TOAST tables and indexes. */
async function shape(url: string): Promise<Shape> {
  return withClient(url, async (client) => {
    await client.query('ANALYZE orders_partitioned');
    const { rows } = await client.query<Shape>(
      `WITH tree AS (SELECT relid, level, isleaf FROM pg_partition_tree('orders_partitioned')),
            tables AS (SELECT relid AS oid FROM tree
                       UNION ALL SELECT c.reltoastrelid FROM tree t JOIN pg_class c ON c.oid = t.relid WHERE c.reltoastrelid <> 0),
            relations AS (SELECT oid FROM tables UNION ALL SELECT i.indexrelid FROM pg_index i JOIN tables t ON i.indrelid = t.oid)
       SELECT (SELECT count(*) FROM orders_partitioned)::int AS rows,
              (SELECT count(*) FROM partwise.partition_tracker)::int AS keys,
              (SELECT count(*) FROM tree WHERE level = 1)::int AS "levelOne",
              (SELECT count(*) FROM tree WHERE isleaf)::int AS leaves,
              (SELECT count(*) FROM relations)::int AS relations,
              (SELECT max(id) FROM orders_partitioned)::int AS "maxIds"`,
    );
    return rows[0]!;
  });
}

/** Calls per second of a by-id lookup through the view over SECONDS, CLIENTS connections in a loop (after a warm-up). */
function lookupRate(url: string, ids: number, prepared: boolean): Promise<number> {
  return callsPerSecond(
    url,
    CLIENTS,
    (client, i) => {
      const id = 1 + ((i * 7919) % ids);
      return prepared
        ? client.query({ name: 'lookup', text: 'SELECT * FROM orders WHERE id = $1', values: [id] })
        : client.query(`SELECT * FROM orders WHERE id = ${id}`);
    },
    { warmUpMs: 1000, seconds: SECONDS },
  );
}

const urls = { isolated: await isolated(), shared: await shared() };
const shapes = { isolated: await shape(urls.isolated), shared: await shape(urls.shared) };
if (shapes.isolated.rows !== shapes.shared.rows || shapes.isolated.keys !== shapes.shared.keys) {
  throw new Error(`the two tables differ: ${JSON.stringify(shapes)}`);
}
const ids = Math.min(shapes.isolated.maxIds, shapes.shared.maxIds);
const rates: Record<string, { simple: number; prepared: number }> = {};
for (const name of ['isolated', 'shared'] as const) {
  process.stdout.write(`  ${name}: by-id lookups...\n`);
  rates[name] = {
    simple: await lookupRate(urls[name], ids, false),
    prepared: await lookupRate(urls[name], ids, true),
  };
}
await bench.stop();

const row = (name: 'isolated' | 'shared'): string[] => [
  name,
  shapes[name].rows.toLocaleString('en-US'),
  shapes[name].keys.toLocaleString('en-US'),
  shapes[name].levelOne.toLocaleString('en-US'),
  shapes[name].leaves.toLocaleString('en-US'),
  shapes[name].relations.toLocaleString('en-US'),
  formatRate(rates[name]!.simple),
  formatRate(rates[name]!.prepared),
];
process.stdout.write(
  `\n${table(
    ['placement', 'rows', 'keys', 'level-1', 'leaves', 'relations', 'by id/s simple', 'by id/s prepared'],
    [row('isolated'), row('shared')],
  )}\n`,
);
const plan = planned as NonNullable<MigrationPlan['partitions']['placement']> | null;
if (plan) {
  process.stdout.write(
    `\nplan (exact count, --share-below ${THRESHOLD}): ${plan.pooledKeys.toLocaleString('en-US')} keys pooled in ${plan.poolBuckets} buckets; ` +
      `relations ${plan.relationsPerKey.toLocaleString('en-US')} one partition per key, ${plan.relationsShared.toLocaleString('en-US')} shared ` +
      `(catalog: ${shapes.isolated.relations.toLocaleString('en-US')}, ${shapes.shared.relations.toLocaleString('en-US')}; ANALYZE adds none)\n`,
  );
}
process.stdout.write(
  `\nshared / isolated: relations ${(shapes.shared.relations / shapes.isolated.relations).toFixed(3)}, ` +
    `by-id lookups ${(rates.shared!.simple / rates.isolated!.simple).toFixed(1)}x simple, ` +
    `${(rates.shared!.prepared / rates.isolated!.prepared).toFixed(1)}x prepared\n`,
);
