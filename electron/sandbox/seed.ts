// The Sandbox's sample data: a multi-tenant table shaped like the original
// script's example (`custom_module_data`, keyed by customer_id), strongly
// skewed so that migrating it shows what bucketing is for: a few customers with
// tens of thousands of rows, a long tail with a handful each. Rows are made by
// the server with generate_series, in one transaction: either everything is
// there and recorded in the marker table, or nothing is.
import type pg from 'pg';

/** Bump to give existing sandboxes a new dataset on their next start (after dropping the old one). */
export const SEED_VERSION = 1;
export const MARKER_SCHEMA = 'partwise_sandbox';
export const MARKER_TABLE = 'seed_marker';

export const SEED_SHAPE = {
  customers: 200,
  /** Rows of the customer at rank r: 66000·e^(-(r-1)/4), plus 1 to 5 so that every customer has some. */
  headRows: 66_000,
  decay: 4,
  equipmentMapRows: 40_000,
  equipmentCmIds: 300,
} as const;

export type SeedOutcome = { seeded: true; rows: number; milliseconds: number } | { seeded: false };

const statements = (): string[] => [
  `SELECT setseed(0.4242)`,
  `CREATE TABLE public.customers (id int PRIMARY KEY, name text NOT NULL)`,
  // Customer ids are spread over 1000..1199 (37 is coprime with 200) so that
  // the largest tenants are not simply the first ids.
  `INSERT INTO public.customers (id, name)
   SELECT 1000 + (r * 37) % ${SEED_SHAPE.customers},
          (ARRAY['Acme','Globex','Initech','Umbrella','Stark','Wayne','Hooli','Vandelay','Soylent','Tyrell'])[1 + r % 10]
          || ' ' ||
          (ARRAY['Logistics','Health','Retail','Labs','Energy','Foods','Media','Mining'])[1 + (r / 10) % 8]
          || ' #' || r
     FROM generate_series(1, ${SEED_SHAPE.customers}) AS r`,
  `CREATE TABLE public.custom_module_data (
     id bigserial NOT NULL,
     customer_id int NOT NULL,
     module_id int NOT NULL,
     data jsonb NOT NULL,
     created_at timestamptz NOT NULL DEFAULT now()
   )`,
  `INSERT INTO public.custom_module_data (customer_id, module_id, data, created_at)
   SELECT c.customer_id,
          1 + (g * 7 + c.rank) % 25,
          jsonb_build_object(
            'status', (ARRAY['new','active','paused','done','archived'])[1 + g % 5],
            'score', (random() * 1000)::int,
            'tags', jsonb_build_array('t' || g % 17, 'm' || (g * 7 + c.rank) % 25),
            'ref', md5(c.customer_id::text || ':' || g::text)
          ),
          now() - random() * interval '365 days'
     FROM (SELECT r AS rank,
                  1000 + (r * 37) % ${SEED_SHAPE.customers} AS customer_id,
                  floor(${SEED_SHAPE.headRows} * exp(-(r - 1) / ${SEED_SHAPE.decay}.0))::int + 1 + (r * 7) % 5 AS rows
             FROM generate_series(1, ${SEED_SHAPE.customers}) AS r) AS c
     CROSS JOIN LATERAL generate_series(1, c.rows) AS g
    ORDER BY random()`,
  // Keys and indexes after the load: one sorted build each instead of per-row maintenance.
  `ALTER TABLE public.custom_module_data ADD PRIMARY KEY (id)`,
  `ALTER TABLE public.custom_module_data
     ADD CONSTRAINT custom_module_data_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES public.customers (id)`,
  `CREATE INDEX custom_module_data_created_at_idx ON public.custom_module_data (created_at)`,
  `CREATE TABLE public.custom_module_equipment_map (
     id bigserial NOT NULL,
     cm_id int NOT NULL,
     equipment_id int NOT NULL,
     mapped_at timestamptz NOT NULL DEFAULT now()
   )`,
  // cm_id = 1 + floor(300 · u³): low ids are far more frequent than high ones.
  `INSERT INTO public.custom_module_equipment_map (cm_id, equipment_id, mapped_at)
   SELECT 1 + floor(${SEED_SHAPE.equipmentCmIds} * power(random(), 3))::int,
          1 + (random() * 4999)::int,
          now() - random() * interval '365 days'
     FROM generate_series(1, ${SEED_SHAPE.equipmentMapRows})`,
  `ALTER TABLE public.custom_module_equipment_map ADD PRIMARY KEY (id)`,
  `COMMENT ON TABLE public.custom_module_data IS 'Partwise Sandbox sample: module data of ~200 customers, strongly skewed by customer_id.'`,
  `COMMENT ON TABLE public.custom_module_equipment_map IS 'Partwise Sandbox sample: equipment mapped to custom modules, keyed by cm_id.'`,
  `COMMENT ON TABLE public.customers IS 'Partwise Sandbox sample: the tenants of custom_module_data.'`,
];

/**
 * Seeds the database once. Concurrent callers wait on an advisory lock; the
 * marker row is written in the same transaction as the data.
 */
export async function seedSandbox(client: pg.ClientBase, onLog?: (line: string) => void): Promise<SeedOutcome> {
  const started = Date.now();
  await client.query(`CREATE SCHEMA IF NOT EXISTS ${MARKER_SCHEMA}`);
  await client.query(
    `CREATE TABLE IF NOT EXISTS ${MARKER_SCHEMA}.${MARKER_TABLE} (
       version int PRIMARY KEY,
       seeded_at timestamptz NOT NULL DEFAULT now(),
       rows bigint NOT NULL
     )`,
  );
  await client.query('BEGIN');
  try {
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('partwise sandbox seed'))`);
    const { rowCount } = await client.query(`SELECT 1 FROM ${MARKER_SCHEMA}.${MARKER_TABLE} WHERE version = $1`, [
      SEED_VERSION,
    ]);
    if (rowCount) {
      await client.query('COMMIT');
      return { seeded: false };
    }
    onLog?.('Seeding the Sandbox with sample data (about 300,000 rows)...');
    // Losing the last commit to a crash only means seeding again: no need to wait for the WAL flush.
    await client.query('SET LOCAL synchronous_commit = off');
    for (const statement of statements()) await client.query(statement);
    const { rows } = await client.query<{ count: string }>('SELECT count(*) FROM public.custom_module_data');
    const count = Number(rows[0]!.count);
    await client.query(`INSERT INTO ${MARKER_SCHEMA}.${MARKER_TABLE} (version, rows) VALUES ($1, $2)`, [
      SEED_VERSION,
      count,
    ]);
    await client.query('COMMIT');
    await client.query('ANALYZE public.customers, public.custom_module_data, public.custom_module_equipment_map');
    const milliseconds = Date.now() - started;
    onLog?.(`Sandbox seeded: ${count} rows in custom_module_data in ${(milliseconds / 1000).toFixed(1)} s.`);
    return { seeded: true, rows: count, milliseconds };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
