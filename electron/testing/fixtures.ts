// Shared set-up for database tests: Partwise installed, and a managed table
// created directly (without a migration) for tests of routing itself.
import type pg from 'pg';
import { install } from '../install/install.js';
import { ident, qualified } from '../db/sql.js';
import type { TestDatabase } from './database.js';

export async function installPartwise(db: TestDatabase, schema = 'partwise'): Promise<void> {
  const client = await db.connect();
  try {
    await install(client, schema);
  } finally {
    await client.end();
  }
}

export interface RoutedTableOptions {
  schema?: string;
  table: string;
  keyColumn?: string;
  keyType?: string;
  bucketLimit: number;
  /** Extra column definitions, e.g. `payload text`. */
  columns?: string[];
}

export interface RoutedTable {
  configId: number;
  schema: string;
  table: string;
  partitioned: string;
  keyColumn: string;
  /** The view the application writes to, quoted and qualified. */
  view: string;
  /** The partitioned table, quoted and qualified. */
  root: string;
}

/** A table partitioned by key then bucket, configured and routed, with no rows. */
export async function createRoutedTable(db: TestDatabase, options: RoutedTableOptions): Promise<RoutedTable> {
  const schema = options.schema ?? 'public';
  const keyColumn = options.keyColumn ?? 'customer_id';
  const partitioned = `${options.table}_partitioned`;
  const columns = [
    'id bigserial NOT NULL',
    `${ident(keyColumn)} ${options.keyType ?? 'int'} NOT NULL`,
    ...(options.columns ?? ['payload text']),
    'bucket_id int NOT NULL DEFAULT 0',
  ];
  await db.query(`CREATE SCHEMA IF NOT EXISTS ${ident(schema)}`);
  await db.query(
    `CREATE TABLE ${qualified(schema, partitioned)} (${columns.join(', ')}) PARTITION BY LIST (${ident(keyColumn)})`,
  );
  await db.query(`ALTER TABLE ${qualified(schema, partitioned)} ADD PRIMARY KEY (id, ${ident(keyColumn)}, bucket_id)`);
  const [config] = await db.query<{ config_id: number }>(
    'SELECT (partwise.configure_table($1, $2, $3, $4, $5)).config_id',
    [schema, options.table, partitioned, keyColumn, options.bucketLimit],
  );
  await db.query('SELECT partwise.install_routing($1)', [config!.config_id]);
  return {
    configId: config!.config_id,
    schema,
    table: options.table,
    partitioned,
    keyColumn,
    view: qualified(schema, options.table),
    root: qualified(schema, partitioned),
  };
}

/** Rows per leaf partition of a routed table, counted leaf by leaf. */
export async function leafCounts(
  db: { query: TestDatabase['query'] },
  configId: number,
): Promise<Array<{ key_value: string; bucket_id: number; leaf: string; capacity: number; rows: number }>> {
  const buckets = await db.query<{
    key_value: string;
    bucket_id: number;
    leaf_partition: string;
    capacity: string;
    schema: string;
  }>(
    `SELECT b.key_value, b.bucket_id, b.leaf_partition, b.capacity, c.table_schema AS schema
       FROM partwise.partition_bucket b JOIN partwise.partition_config c USING (config_id)
      WHERE b.config_id = $1 ORDER BY b.key_value, b.bucket_id`,
    [configId],
  );
  const result = [];
  for (const bucket of buckets) {
    const [row] = await db.query<{ count: string }>(
      `SELECT count(*) FROM ${qualified(bucket.schema, bucket.leaf_partition)}`,
    );
    result.push({
      key_value: bucket.key_value,
      bucket_id: bucket.bucket_id,
      leaf: bucket.leaf_partition,
      capacity: Number(bucket.capacity),
      rows: Number(row!.count),
    });
  }
  return result;
}

export type Queryable = Pick<pg.ClientBase, 'query'>;
