// An installation from before migration 0009 (small keys share) is upgraded
// with its tables as they were: placement isolated, every key routed to its
// own partition as before, and sharing available from then on.
import { expect, it } from 'vitest';
import { install } from './install.js';
import { useTestDatabase } from '../testing/database.js';
import { createRoutedTable, installPartwise, leafCounts } from '../testing/fixtures.js';

const db = useTestDatabase('key_pool_upgrade');

it('upgrades an installation without migration 0009: existing tables stay isolated and can then share', async () => {
  await installPartwise(db);
  const t = await createRoutedTable(db, { table: 'before_pool', bucketLimit: 2 });
  await db.query(`INSERT INTO ${t.view} (customer_id) VALUES (1), (1), (1), (2)`);
  // What the previous release left (CASCADE: with the pool functions, which take its row type).
  await db.query(`DROP TABLE partwise.pool_bucket, partwise.key_pool CASCADE`);
  // The view as that release made it, without in_pool (the upgrade replaces it, adding the column).
  await db.query(`DROP VIEW partwise.tracker_status`);
  await db.query(`CREATE VIEW partwise.tracker_status AS
    SELECT c.config_id, c.table_schema, c.table_name, c.key_column, c.bucket_limit, t.key_value,
           t.level_one_partition, t.current_bucket_id, t.current_leaf, t.current_capacity, s.rows_assigned,
           greatest(least(s.rows_assigned - t.current_first_ticket + 1, t.current_capacity), 0) AS current_bucket_assigned,
           t.last_updated
      FROM partwise.partition_tracker t JOIN partwise.partition_config c USING (config_id)
     CROSS JOIN LATERAL (SELECT greatest(t.rows_assigned, coalesce(CASE WHEN t.ticket_sequence IS NOT NULL
                                  THEN pg_catalog.pg_sequence_last_value(t.ticket_sequence) END, 0)) AS rows_assigned) s`);
  await db.query(`ALTER TABLE partwise.partition_config DROP COLUMN placement, DROP COLUMN shared_threshold`);
  await db.query(`DROP INDEX partwise.partition_tracker_own_level_one`);
  await db.query(
    `ALTER TABLE partwise.partition_tracker
       DROP CONSTRAINT partition_tracker_current_bucket_check,
       DROP COLUMN in_pool,
       ALTER COLUMN current_bucket_id SET NOT NULL,
       ALTER COLUMN current_leaf SET NOT NULL,
       ALTER COLUMN current_first_ticket SET NOT NULL,
       ALTER COLUMN current_capacity SET NOT NULL,
       ADD UNIQUE (config_id, level_one_partition)`,
  );
  await db.query(`ALTER TABLE partwise.maintenance_finding ALTER COLUMN key_value SET NOT NULL`);
  await db.query(`DELETE FROM partwise.schema_migrations WHERE name = 'migrations/0009_key_pool.sql'`);
  await db.query(`UPDATE partwise.installation SET version = '0.0.9', sql_checksum = NULL`);

  const client = await db.connect();
  try {
    const upgrade = await install(client);
    expect(upgrade.appliedMigrations).toEqual(['migrations/0009_key_pool.sql']);
  } finally {
    await client.end();
  }
  expect(await db.query(`SELECT placement, shared_threshold FROM partwise.partition_config`)).toEqual([
    { placement: 'isolated', shared_threshold: null },
  ]);
  // Routing as before: a new key gets its own partition.
  await db.query(`INSERT INTO ${t.view} (customer_id) VALUES (2), (3)`);
  expect((await leafCounts(db, t.configId)).map((c) => [c.key_value, c.bucket_id, c.rows])).toEqual([
    ['1', 0, 2],
    ['1', 1, 1],
    ['2', 0, 2],
    ['3', 0, 1],
  ]);
  expect(await db.query(`SELECT count(*)::int AS n FROM partwise.tracker_status WHERE in_pool`)).toEqual([{ n: 0 }]);
  // Then the table can share: the next new key is pooled.
  await db.query('SELECT partwise.share_small_keys($1, 1000)', [t.configId]);
  await db.query(`INSERT INTO ${t.view} (customer_id) VALUES (4)`);
  expect(await db.query(`SELECT key_value, in_pool FROM partwise.partition_tracker ORDER BY key_value`)).toEqual([
    { key_value: '1', in_pool: false },
    { key_value: '2', in_pool: false },
    { key_value: '3', in_pool: false },
    { key_value: '4', in_pool: true },
  ]);
});
