// A rollback carries the rows written since the swap back to the original
// table, reading each from the one leaf of its key and bucket (the after-swap
// log records the bucket), not from every leaf of its key: a key of many
// buckets would otherwise be probed, and locked, in all of them for one row.
// The locks are read from pg_locks inside the transaction that runs the
// carry-back as the rollback does; the rollback itself then puts every write
// back. A run swapped by a version whose log had no bucket is upgraded
// (sql/migrations/0011) and rolled back as well.
import { beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { migrate, rollback } from '../index.js';
import { install } from '../../install/install.js';
import { useTestDatabase } from '../../testing/database.js';
import { installPartwise } from '../../testing/fixtures.js';

const db = useTestDatabase('carry_back_buckets');

beforeAll(async () => {
  await installPartwise(db);
});

interface Swapped {
  runId: number;
  log: string;
}

/** Tenant 1 in 20 buckets of 2 rows, tenant 2 in 3; migrated and swapped. */
async function swapped(table: string): Promise<Swapped> {
  await db.query(`CREATE TABLE ${table} (id bigserial PRIMARY KEY, tenant int NOT NULL, body text NOT NULL)`);
  await db.query(
    `INSERT INTO ${table} (tenant, body) SELECT CASE WHEN g <= 40 THEN 1 ELSE 2 END, 'before' FROM generate_series(1, 45) g`,
  );
  const outcome = await migrate(db.pool, [{ schema: 'public', table, keyColumn: 'tenant', bucketLimit: 2 }], {
    workers: 1,
  });
  expect(outcome.status, outcome.message).toBe('succeeded');
  const [target] = await db.query<{ log: string }>(
    `SELECT saved->>'afterLog' AS log FROM partwise.migration_target WHERE run_id = $1`,
    [outcome.runId],
  );
  return { runId: outcome.runId, log: target!.log };
}

/** The leaves of tenant 1 that hold these rows now. */
async function leavesOf(table: string, ids: number[]): Promise<string[]> {
  const rows = await db.query<{ leaf: string }>(
    `SELECT DISTINCT tableoid::regclass::text AS leaf FROM ${table}_partitioned WHERE id = ANY ($1) ORDER BY 1`,
    [ids],
  );
  return rows.map((r) => r.leaf);
}

/** The leaves of tenant 1 that carry_back_changes locks, run as the rollback runs it, then undone. */
async function leavesLocked(table: string, log: string): Promise<string[]> {
  const client = await db.connect();
  try {
    await client.query('BEGIN');
    await client.query(
      `SELECT partwise.carry_back_changes($1, $2::regclass, $3::regclass, $4, 'tenant', 'bucket_id')`,
      [log, `${table}_partitioned`, `${table}_backup`, ['id']],
    );
    const { rows } = await client.query<{ leaf: string }>(
      `SELECT l.relation::regclass::text AS leaf FROM pg_locks l
         JOIN partwise.partition_bucket b ON b.leaf_partition = l.relation
        WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND b.key_value = '1'
        ORDER BY 1`,
    );
    await client.query('ROLLBACK');
    return rows.map((r) => r.leaf);
  } finally {
    await client.end();
  }
}

async function rowsOf(table: string): Promise<{ id: number; tenant: number; body: string }[]> {
  return db.query(
    `SELECT id::int AS id, tenant, body FROM ${table} WHERE body <> 'before' OR id IN (3, 41) ORDER BY id`,
  );
}

describe("a rollback's carry-back", () => {
  it('reads and locks only the leaves of the buckets written since the swap, and carries every write back', async () => {
    const { runId, log } = await swapped('ledger');
    expect(await db.query(`SELECT count(*)::int AS n FROM partwise.partition_bucket WHERE key_value = '1'`)).toEqual([
      { n: 20 },
    ]);
    // Through the table's name (the routing view): an update in one bucket of
    // tenant 1, a new row (its last bucket is full: a new one), a delete of tenant 2.
    await db.query(`UPDATE ledger SET body = 'updated' WHERE id = 7`);
    const [inserted] = await db.query<{ id: number }>(
      `INSERT INTO ledger (tenant, body) VALUES (1, 'inserted') RETURNING id::int AS id`,
    );
    await db.query(`DELETE FROM ledger WHERE id = 41`);
    const written = await leavesOf('ledger', [7, inserted!.id]);
    expect(written).toHaveLength(2);

    expect(await leavesLocked('ledger', log)).toEqual(written);

    const undone = await rollback(db.pool, runId);
    expect(undone.status, undone.message).toBe('rolled_back');
    expect(await db.query(`SELECT relkind::text AS kind FROM pg_class WHERE oid = 'ledger'::regclass`)).toEqual([
      { kind: 'r' },
    ]);
    expect(await rowsOf('ledger')).toEqual([
      { id: 3, tenant: 1, body: 'before' },
      { id: 7, tenant: 1, body: 'updated' },
      { id: inserted!.id, tenant: 1, body: 'inserted' },
    ]);
    expect(await db.query(`SELECT count(*)::int AS n FROM ledger`)).toEqual([{ n: 45 }]);
  });

  it('carries every write back for a role without the TEMP privilege (a rollback must not need more than the migration)', async () => {
    const { runId, log } = await swapped('untemp');
    await db.query(`UPDATE untemp SET body = 'updated' WHERE id = 7`);
    const [inserted] = await db.query<{ id: number }>(
      `INSERT INTO untemp (tenant, body) VALUES (1, 'inserted') RETURNING id::int AS id`,
    );
    const written = await leavesOf('untemp', [7, inserted!.id]);
    await db.admin.query(
      `REVOKE TEMP ON DATABASE ${pg.escapeIdentifier(db.name)} FROM PUBLIC, ${pg.escapeIdentifier(db.owner)}`,
    );
    try {
      expect(await leavesLocked('untemp', log)).toEqual(written);
      const undone = await rollback(db.pool, runId);
      expect(undone.status, undone.message).toBe('rolled_back');
    } finally {
      await db.admin.query(
        `GRANT TEMP ON DATABASE ${pg.escapeIdentifier(db.name)} TO PUBLIC, ${pg.escapeIdentifier(db.owner)}`,
      );
    }
    expect(await rowsOf('untemp')).toEqual([
      { id: 3, tenant: 1, body: 'before' },
      { id: 7, tenant: 1, body: 'updated' },
      { id: 41, tenant: 2, body: 'before' },
      { id: inserted!.id, tenant: 1, body: 'inserted' },
    ]);
  });

  it('upgrades a log made without buckets: rows logged before the upgrade are found by key, those after by bucket', async () => {
    const { runId, log } = await swapped('journal');
    // What the previous release left: a log without the bucket and its capture function.
    await db.query(`ALTER TABLE partwise.${pg.escapeIdentifier(log)} DROP COLUMN bucket_value`);
    await db.query(`CREATE OR REPLACE FUNCTION partwise.${pg.escapeIdentifier(`${log}_capture`)}() RETURNS trigger
      LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
      BEGIN
        IF TG_OP = 'INSERT' THEN
          INSERT INTO partwise.${pg.escapeIdentifier(log)} (id, key_value) SELECT id, tenant FROM partwise_new;
        ELSIF TG_OP = 'DELETE' THEN
          INSERT INTO partwise.${pg.escapeIdentifier(log)} (id, key_value) SELECT id, tenant FROM partwise_old;
        ELSE
          INSERT INTO partwise.${pg.escapeIdentifier(log)} (id, key_value)
          SELECT id, tenant FROM partwise_old UNION SELECT id, tenant FROM partwise_new;
        END IF;
        RETURN NULL;
      END $$`);
    await db.query(`DELETE FROM partwise.schema_migrations WHERE name = 'migrations/0011_carry_back_buckets.sql'`);
    await db.query(`UPDATE partwise.installation SET version = '0.0.9', sql_checksum = NULL`);
    await db.query(`UPDATE journal SET body = 'before the upgrade' WHERE id = 7`);

    const client = await db.connect();
    try {
      expect((await install(client)).appliedMigrations).toEqual(['migrations/0011_carry_back_buckets.sql']);
    } finally {
      await client.end();
    }
    await db.query(`UPDATE journal SET body = 'after the upgrade' WHERE id = 31`);
    expect(
      await db.query(
        `SELECT id::int AS id, bucket_value IS NOT NULL AS bucketed FROM partwise.${pg.escapeIdentifier(log)} ORDER BY change_id`,
      ),
    ).toEqual([
      { id: 7, bucketed: false },
      { id: 31, bucketed: true },
    ]);
    // Tenant 1 logged without a bucket: all its leaves, as before the upgrade.
    expect(await leavesLocked('journal', log)).toHaveLength(20);

    const undone = await rollback(db.pool, runId);
    expect(undone.status, undone.message).toBe('rolled_back');
    expect(await rowsOf('journal')).toEqual([
      { id: 3, tenant: 1, body: 'before' },
      { id: 7, tenant: 1, body: 'before the upgrade' },
      { id: 31, tenant: 1, body: 'after the upgrade' },
      { id: 41, tenant: 2, body: 'before' },
    ]);
  });
});
