// Maintenance of a managed table, key by key, each key in its own short
// transaction (a table with thousands of partitions never holds their locks
// at once): create the next bucket ahead of need, repair tracker drift, report
// over-full, empty, missing and untracked buckets.
import type pg from 'pg';
import type { MaintenanceFinding, MaintenanceReport } from '../../shared/explorer.js';
import { PartwiseError } from '../db/errors.js';
import { ident, relationExists } from '../db/sql.js';
import type { TableName } from '../../shared/identifiers.js';
import type { Reporter } from './reporter.js';
import { inLockingTransaction, DEFAULT_LOCK_RETRY } from './locks.js';
import { install } from '../install/install.js';
import { connectWithDefaults } from './session-defaults.js';

export interface ManagedConfig {
  configId: number;
  schema: string;
  table: string;
  partitionedTable: string;
  keyColumn: string;
  bucketColumn: string;
  bucketLimit: number;
  mode: 'building' | 'routing';
}

export async function findManagedTable(
  db: pg.Pool | pg.ClientBase,
  installSchema: string,
  table: TableName,
): Promise<ManagedConfig> {
  if (!(await relationExists(db, installSchema, 'partition_config'))) {
    throw new PartwiseError('not_found', `Partwise is not installed in this database (no schema ${installSchema})`);
  }
  const { rows } = await db.query(
    `SELECT config_id, table_schema, table_name, partitioned_table, key_column, bucket_column, bucket_limit, mode
       FROM ${ident(installSchema)}.partition_config
      WHERE table_schema = $1 AND (table_name = $2 OR partitioned_table = $2)`,
    [table.schema, table.name],
  );
  const row = rows[0];
  if (!row) throw new PartwiseError('not_found', `${table.schema}.${table.name} is not managed by Partwise`);
  return {
    configId: row.config_id,
    schema: row.table_schema,
    table: row.table_name,
    partitionedTable: row.partitioned_table,
    keyColumn: row.key_column,
    bucketColumn: row.bucket_column,
    bucketLimit: Number(row.bucket_limit),
    mode: row.mode,
  };
}

export interface MaintainOptions {
  installSchema: string;
  /** Create the next bucket when the current one is at least this full (0..1); null: never. */
  ahead: number | null;
  signal?: AbortSignal;
  reporter?: Reporter;
}

/** Upgrades an older installation before work that calls its functions (a newer one is refused). */
async function installOn(pool: pg.Pool, installSchema: string): Promise<void> {
  const client = await connectWithDefaults(pool);
  try {
    await install(client, installSchema);
  } finally {
    client.release();
  }
}

export async function maintainTable(
  pool: pg.Pool,
  configId: number,
  options: MaintainOptions,
): Promise<MaintenanceReport> {
  await installOn(pool, options.installSchema);
  const schema = ident(options.installSchema);
  // An interrupted uninstall left the metadata of a table nothing routes any
  // more: refused, naming the CALL that finishes it.
  await pool.query(`SELECT ${schema}.refuse_unfinished_uninstall($1, 'maintenance')`, [configId]);
  const { rows: keys } = await pool.query<{ key_value: string }>(
    // Keys detached, or being detached, attached or dropped (partwise key), are left alone.
    `SELECT key_value FROM ${schema}.partition_tracker WHERE config_id = $1 AND state = 'active' ORDER BY key_value`,
    [configId],
  );
  const findings: MaintenanceFinding[] = [];
  const client = await connectWithDefaults(pool);
  try {
    // The pool of small keys first (a table whose small keys share).
    findings.push(...(await maintainPool(client, schema, configId, options)));
    let checked = 0;
    for (const { key_value: keyValue } of keys) {
      if (options.signal?.aborted) throw new PartwiseError('cancelled', 'Maintenance was cancelled');
      findings.push(...(await maintainOne(client, schema, configId, keyValue, options)));
      checked++;
      options.reporter?.progress('maintain', checked, keys.length, 'keys', { currentKey: keyValue });
    }
    options.reporter?.progress('maintain', checked, keys.length, 'keys', { force: true });
    return { configId, keysChecked: checked, findings };
  } finally {
    client.release();
  }
}

type FindingRow = {
  key_value: string | null;
  kind: MaintenanceFinding['kind'];
  bucket_id: number | null;
  leaf_partition: string | null;
  row_count: string | null;
  capacity: string | null;
  detail: string;
};

/**
 * The pool of small keys, if the table has one: its leaves a group per
 * transaction (a pool of thousands of buckets holds more leaves, each with
 * its indexes, than the lock table), each pooled key's rows summed over the
 * groups, then the checks that need only the current leaf (maintain_pool_state).
 */
async function maintainPool(
  client: pg.PoolClient,
  schema: string,
  configId: number,
  options: MaintainOptions,
): Promise<MaintenanceFinding[]> {
  const { rows: batches } = await client.query<{ buckets: number[] }>(
    `SELECT b AS buckets FROM ${schema}.pool_leaf_batches($1) b`,
    [configId],
  );
  if (batches.length === 0) return [];
  const findings: MaintenanceFinding[] = [];
  const keyRows = new Map<string, number>();
  for (const { buckets } of batches) {
    if (options.signal?.aborted) throw new PartwiseError('cancelled', 'Maintenance was cancelled');
    findings.push(
      ...(await recordFindings(client, schema, configId, options, async () => {
        const { rows: counted } = await client.query<{ key_value: string; row_count: string }>(
          `SELECT key_value, row_count FROM ${schema}.pool_key_rows($1, $2)`,
          [configId, buckets],
        );
        for (const r of counted) keyRows.set(r.key_value, (keyRows.get(r.key_value) ?? 0) + Number(r.row_count));
        return checkRows(client, `${schema}.maintain_pool_leaves($1, $2)`, [configId, buckets]);
      })),
    );
  }
  findings.push(
    ...(await recordFindings(client, schema, configId, options, () =>
      checkRows(client, `${schema}.maintain_pool_state($1, $2, $3::jsonb)`, [
        configId,
        options.ahead,
        JSON.stringify(Object.fromEntries(keyRows)),
      ]),
    )),
  );
  return findings;
}

/** One key (maintain_key), in a transaction of its own. */
function maintainOne(
  client: pg.PoolClient,
  schema: string,
  configId: number,
  keyValue: string,
  options: MaintainOptions,
): Promise<MaintenanceFinding[]> {
  return recordFindings(client, schema, configId, options, () =>
    checkRows(client, `${schema}.maintain_key($1, $3, $2)`, [configId, options.ahead, keyValue], '$3::text'),
  );
}

/** The findings a check function returns; a key's check names no key (its key is `key`). */
async function checkRows(
  client: pg.PoolClient,
  check: string,
  params: unknown[],
  key = 'key_value',
): Promise<FindingRow[]> {
  const { rows } = await client.query<FindingRow>(
    `SELECT ${key} AS key_value, kind, bucket_id, leaf_partition::text, row_count, capacity, detail FROM ${check}`,
    params,
  );
  return rows;
}

/** Runs one check in a transaction of its own and records its findings in maintenance_finding there. */
async function recordFindings(
  client: pg.PoolClient,
  schema: string,
  configId: number,
  options: MaintainOptions,
  check: () => Promise<FindingRow[]>,
): Promise<MaintenanceFinding[]> {
  // Creating a bucket ahead attaches a partition: short lock_timeout, retried.
  const rows = await inLockingTransaction(client, { ...DEFAULT_LOCK_RETRY, signal: options.signal }, async () => {
    const found = await check();
    await client.query(
      `INSERT INTO ${schema}.maintenance_finding (config_id, key_value, kind, bucket_id, leaf_partition, row_count, capacity, detail)
       SELECT $1, f.key_value, f.kind, f.bucket_id, f.leaf, f.row_count, f.capacity, f.detail
         FROM jsonb_to_recordset($2::jsonb)
           AS f(key_value text, kind text, bucket_id int, leaf text, row_count bigint, capacity bigint, detail text)`,
      [configId, JSON.stringify(found.map((f) => ({ ...f, leaf: f.leaf_partition })))],
    );
    return found;
  });
  return rows.map((row) => ({
    keyValue: row.key_value,
    kind: row.kind,
    bucketId: row.bucket_id,
    leaf: row.leaf_partition,
    rows: row.row_count === null ? null : Number(row.row_count),
    capacity: row.capacity === null ? null : Number(row.capacity),
    detail: row.detail,
  }));
}

/** Rebuilds the routing view and trigger from the partitioned table's current columns (after ALTER TABLE). */
export async function refreshRouting(pool: pg.Pool, installSchema: string, configId: number): Promise<void> {
  const client = await connectWithDefaults(pool);
  try {
    await install(client, installSchema);
    await inLockingTransaction(client, DEFAULT_LOCK_RETRY, async () => {
      await client.query(`SELECT ${ident(installSchema)}.install_routing($1)`, [configId]);
    });
  } finally {
    client.release();
  }
}
