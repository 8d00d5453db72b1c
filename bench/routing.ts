// npm run bench -- routing [--seconds N] [--growing-only]
//
// Routed insert throughput (through the table's usual name, a view whose
// INSTEAD OF trigger takes a bucket ticket and inserts) against a plain table
// with the same columns and indexes, measured side by side in one run:
// 1 and 8 concurrent writers, one hot key and 1,000 keys. Also measured: the
// seed's design of bucket assignment (a row lock on a per-key tracker row held
// to commit), to show what per-key ticket sequences buy when transactions
// hold more than one row, and routed inserts into a table whose id is kept
// unique across the whole table by a registry (what a migration sets up for a
// primary key by default), to show what that guarantee costs per insert.
// Goal: routed >= 0.5 x plain at 8 writers on one hot key.
//
// Those tables have every key provisioned and a bucket limit no measurement
// reaches, so no partition is created while they are measured. The growing
// tree is the other case: bucket limit 1,000, no key provisioned, 8 writers
// putting two rows in three on one hot key and the third on a key of their own
// that did not exist before the measurement, so that buckets and keys are
// created in the inserts' path. Goal: routed >= 0.5 x plain there too, and no
// leaf over its limit.
import pg from 'pg';
import { parseArgs } from 'node:util';
import { install } from '../electron/install/install.js';
import { benchCluster, formatRate, table } from './_cluster.js';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '5' }, 'growing-only': { type: 'boolean', default: false } },
});
const seconds = Number(values.seconds);
const KEYS = 1000;
const BUCKET_LIMIT = 100_000;
const GROWING_LIMIT = 1000;

const bench = await benchCluster();
const url = await bench.newDatabase('routing');
const setup = new pg.Client(url);
await setup.connect();
await install(setup);

process.stdout.write(`routing bench on PostgreSQL ${bench.version}, ${seconds} s per measurement\n`);
process.stdout.write('setting up: a plain table and three routed ones, 1,000 keys provisioned...\n');
await setup.query(
  `CREATE TABLE plain (id bigserial PRIMARY KEY, customer_id int NOT NULL, payload text, created_at timestamptz NOT NULL DEFAULT now())`,
);
await setup.query(`CREATE INDEX ON plain (customer_id)`);
for (const name of ['routed', 'registry', 'rowlock']) {
  await setup.query(`CREATE TABLE ${name}_partitioned (id bigserial NOT NULL, customer_id int NOT NULL, payload text,
                       created_at timestamptz NOT NULL DEFAULT now(), bucket_id int NOT NULL DEFAULT 0) PARTITION BY LIST (customer_id)`);
  await setup.query(`ALTER TABLE ${name}_partitioned ADD PRIMARY KEY (id, customer_id, bucket_id)`);
  await setup.query(`CREATE INDEX ON ${name}_partitioned (customer_id)`);
  const { rows } = await setup.query<{ id: number }>(
    `SELECT (partwise.configure_table('public', $1, $2, 'customer_id', $3)).config_id AS id`,
    [name, `${name}_partitioned`, BUCKET_LIMIT],
  );
  await setup.query(
    `SELECT count(partwise.provision_key($1, k::text, 0, false, false)) FROM generate_series(1, $2) k`,
    [rows[0]!.id, KEYS],
  );
  await setup.query(`SELECT partwise.install_routing($1)`, [rows[0]!.id]);
  if (name === 'registry') {
    // As after a migration's swap: id unique across all partitions, kept by the registry's triggers.
    await setup.query(
      `SELECT partwise.create_unique_registry($1, 'registry_id_key', 'registry_id_key_registry', 'registry_id_key',
                                             ARRAY['id']::name[], ARRAY['id']::name[], false, false, false)`,
      [rows[0]!.id],
    );
    await setup.query(`SELECT partwise.index_unique_registry($1, 'registry_id_key')`, [rows[0]!.id]);
    await setup.query(`SELECT partwise.install_unique_triggers($1, true)`, [rows[0]!.id]);
  }
}
// The seed's design: a tracker row per key, incremented under a row lock that
// is held until the inserting transaction ends.
await setup.query(`CREATE TABLE rowlock_tracker (customer_id int PRIMARY KEY, assigned bigint NOT NULL DEFAULT 0)`);
await setup.query(`INSERT INTO rowlock_tracker SELECT g FROM generate_series(1, $1) g`, [KEYS]);
await setup.query(`
  CREATE OR REPLACE FUNCTION rowlock_route() RETURNS trigger LANGUAGE plpgsql AS $$
  DECLARE v_assigned bigint;
  BEGIN
    UPDATE rowlock_tracker SET assigned = assigned + 1 WHERE customer_id = NEW.customer_id RETURNING assigned INTO v_assigned;
    INSERT INTO rowlock_partitioned AS p (id, customer_id, payload, created_at, bucket_id)
    VALUES (NEW.id, NEW.customer_id, NEW.payload, NEW.created_at, (v_assigned - 1) / ${BUCKET_LIMIT})
    RETURNING p.id, p.customer_id, p.payload, p.created_at INTO NEW;
    RETURN NEW;
  END $$`);
await setup.query(`DROP TRIGGER partwise_route ON rowlock`);
await setup.query(
  `CREATE TRIGGER rowlock_route INSTEAD OF INSERT ON rowlock FOR EACH ROW EXECUTE FUNCTION rowlock_route()`,
);
// The growing tree: nothing provisioned, small buckets.
await setup.query(`CREATE TABLE growing_partitioned (id bigserial NOT NULL, customer_id int NOT NULL, payload text,
                     created_at timestamptz NOT NULL DEFAULT now(), bucket_id int NOT NULL DEFAULT 0) PARTITION BY LIST (customer_id)`);
await setup.query(`ALTER TABLE growing_partitioned ADD PRIMARY KEY (id, customer_id, bucket_id)`);
await setup.query(`CREATE INDEX ON growing_partitioned (customer_id)`);
{
  const { rows } = await setup.query<{ id: number }>(
    `SELECT (partwise.configure_table('public', 'growing', 'growing_partitioned', 'customer_id', $1)).config_id AS id`,
    [GROWING_LIMIT],
  );
  await setup.query(`SELECT partwise.install_routing($1)`, [rows[0]!.id]);
}
// Warm up every key once (the first routed insert of a key creates its ticket sequence).
for (const name of ['plain', 'routed', 'registry', 'rowlock']) {
  await setup.query(`INSERT INTO ${name} (customer_id, payload) SELECT g, 'warm-up' FROM generate_series(1, $1) g`, [
    KEYS,
  ]);
}
await setup.query('VACUUM ANALYZE');

interface Scenario {
  label: string;
  writers: number;
  /** growing: two rows in three on one hot key, the third on the writer's own key; both new for each measurement. */
  keys: 'hot' | 'many' | 'growing';
  rowsPerTransaction: number;
  rowsPerStatement: number;
}

const scenarios: Scenario[] = [
  { label: '1 writer, hot key', writers: 1, keys: 'hot', rowsPerTransaction: 1, rowsPerStatement: 1 },
  { label: '8 writers, hot key', writers: 8, keys: 'hot', rowsPerTransaction: 1, rowsPerStatement: 1 },
  { label: '1 writer, 1,000 keys', writers: 1, keys: 'many', rowsPerTransaction: 1, rowsPerStatement: 1 },
  { label: '8 writers, 1,000 keys', writers: 8, keys: 'many', rowsPerTransaction: 1, rowsPerStatement: 1 },
  {
    label: '8 writers, hot key, 10-row transactions',
    writers: 8,
    keys: 'hot',
    rowsPerTransaction: 10,
    rowsPerStatement: 1,
  },
  {
    label: '1 writer, 100-row INSERT statements',
    writers: 1,
    keys: 'many',
    rowsPerTransaction: 1,
    rowsPerStatement: 100,
  },
];

let measurements = 0;

async function measure(
  target: string,
  scenario: Scenario,
  duration: number,
): Promise<{ rate: number; slowestMs: number }> {
  const clients = await Promise.all(
    Array.from({ length: scenario.writers }, async () => {
      const client = new pg.Client(url);
      await client.connect();
      return client;
    }),
  );
  let rows = 0;
  let slowestMs = 0;
  // Keys no measurement has used: 1,000,000 + 100 per measurement, + 1 + writer for the writers' own.
  const fresh = 1_000_000 + 100 * measurements++;
  const deadline = Date.now() + duration * 1000;
  const started = Date.now();
  await Promise.all(
    clients.map(async (client, w) => {
      let n = w;
      while (Date.now() < deadline) {
        const began = Date.now();
        if (scenario.rowsPerTransaction > 1) await client.query('BEGIN');
        for (let i = 0; i < scenario.rowsPerTransaction; i++) {
          const key =
            scenario.keys === 'hot'
              ? 1
              : scenario.keys === 'growing'
                ? n++ % 3 === 2
                  ? fresh + 1 + w
                  : fresh
                : 1 + ((n++ * 7919) % KEYS);
          if (scenario.rowsPerStatement === 1) {
            await client.query(`INSERT INTO ${target} (customer_id, payload) VALUES ($1, 'some payload text')`, [key]);
          } else {
            await client.query(
              `INSERT INTO ${target} (customer_id, payload) SELECT $1, 'some payload text' FROM generate_series(1, $2)`,
              [key, scenario.rowsPerStatement],
            );
          }
        }
        if (scenario.rowsPerTransaction > 1) await client.query('COMMIT');
        rows += scenario.rowsPerTransaction * scenario.rowsPerStatement;
        slowestMs = Math.max(slowestMs, Date.now() - began);
      }
    }),
  );
  const elapsed = (Date.now() - started) / 1000;
  await Promise.all(clients.map((c) => c.end()));
  return { rate: rows / elapsed, slowestMs };
}

const results: string[][] = [];
let goalMet = false;
for (const scenario of values['growing-only'] ? [] : scenarios) {
  process.stdout.write(`measuring: ${scenario.label}...\n`);
  // Half the time forward, half backward: a machine whose load drifts during
  // the scenario weighs on every target alike.
  const targets = ['plain', 'routed', 'registry', 'rowlock'];
  const halves: Record<string, { rate: number; slowestMs: number }[]> = {};
  for (const target of [...targets, ...[...targets].reverse()]) {
    (halves[target] ??= []).push(await measure(target, scenario, seconds / 2));
  }
  const combined = (target: string): { rate: number; slowestMs: number } => ({
    rate: (halves[target]![0]!.rate + halves[target]![1]!.rate) / 2,
    slowestMs: Math.max(...halves[target]!.map((h) => h.slowestMs)),
  });
  const [plain, routed, registry, rowlock] = targets.map(combined) as [
    ReturnType<typeof combined>,
    ReturnType<typeof combined>,
    ReturnType<typeof combined>,
    ReturnType<typeof combined>,
  ];
  const ratio = routed.rate / plain.rate;
  if (scenario.label === '8 writers, hot key') goalMet = ratio >= 0.5;
  results.push([
    scenario.label,
    formatRate(plain.rate),
    formatRate(routed.rate),
    ratio.toFixed(2),
    formatRate(registry.rate),
    (registry.rate / plain.rate).toFixed(2),
    (registry.rate / routed.rate).toFixed(2),
    formatRate(rowlock.rate),
    (rowlock.rate / plain.rate).toFixed(2),
    `${routed.slowestMs} / ${registry.slowestMs} / ${rowlock.slowestMs}`,
  ]);
}

// The growing tree, against the plain table with the same keys.
const growingScenario: Scenario = {
  label: '8 writers, growing tree',
  writers: 8,
  keys: 'growing',
  rowsPerTransaction: 1,
  rowsPerStatement: 1,
};
process.stdout.write(`measuring: ${growingScenario.label}...\n`);
const growingHalves: Record<string, { rate: number; slowestMs: number }[]> = {};
for (const target of ['plain', 'growing', 'growing', 'plain']) {
  (growingHalves[target] ??= []).push(await measure(target, growingScenario, seconds / 2));
}
const growingRate = (target: string): number => (growingHalves[target]![0]!.rate + growingHalves[target]![1]!.rate) / 2;
const growingRatio = growingRate('growing') / growingRate('plain');
const { rows: growingLeaves } = await setup.query<{ leaves: number; over: number; keys: number }>(
  `SELECT count(*)::int AS leaves, count(*) FILTER (WHERE n > $1)::int AS over, count(DISTINCT customer_id)::int AS keys
     FROM (SELECT tableoid, customer_id, count(*) AS n FROM growing_partitioned GROUP BY 1, 2) x`,
  [GROWING_LIMIT],
);

// Every leaf within its bucket's capacity, after all that.
const { rows: over } = await setup.query<{ n: number }>(
  `SELECT count(*)::int AS n FROM (SELECT tableoid, count(*) FROM routed_partitioned GROUP BY tableoid HAVING count(*) > $1) x`,
  [BUCKET_LIMIT],
);
// The registry holds exactly the routed table's ids.
const { rows: drift } = await setup.query<{ n: number }>(
  `SELECT count(*)::int AS n FROM ((SELECT id FROM registry_partitioned EXCEPT SELECT id FROM partwise.registry_id_key_registry)
                                   UNION ALL (SELECT id FROM partwise.registry_id_key_registry EXCEPT SELECT id FROM registry_partitioned)) d`,
);
await setup.end();
await bench.stop();

if (results.length > 0)
  process.stdout.write(
    `\n${table(
      [
        'scenario (rows/s)',
        'plain',
        'routed',
        'ratio',
        'routed + registry',
        'ratio',
        'x routed',
        'row-lock design',
        'ratio',
        'slowest ms routed / registry / row-lock',
      ],
      results,
    )}\n`,
  );
process.stdout.write(
  `\n${table(
    ['growing tree (rows/s)', 'plain', 'routed', 'ratio', 'slowest ms routed', 'leaves made', 'keys made'],
    [
      [
        growingScenario.label,
        formatRate(growingRate('plain')),
        formatRate(growingRate('growing')),
        growingRatio.toFixed(2),
        String(Math.max(...growingHalves.growing!.map((h) => h.slowestMs))),
        String(growingLeaves[0]!.leaves),
        String(growingLeaves[0]!.keys),
      ],
    ],
  )}\n`,
);
if (!values['growing-only'])
  process.stdout.write(`\nGoal: routed >= 0.50 x plain at 8 writers on one hot key: ${goalMet ? 'met' : 'NOT met'}.\n`);
process.stdout.write(
  `Goal: routed >= 0.50 x plain at 8 writers on a growing tree: ${growingRatio >= 0.5 ? 'met' : 'NOT met'}; leaves over the limit of ${GROWING_LIMIT}: ${growingLeaves[0]!.over}.\n`,
);
process.stdout.write(
  `Leaves over their bucket limit: ${over[0]!.n}. Ids out of step with the registry: ${drift[0]!.n}.\n`,
);
