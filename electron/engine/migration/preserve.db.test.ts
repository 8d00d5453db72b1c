// What the swap must keep: columns, defaults, identity and serial sequences,
// NOT NULL and CHECK constraints, indexes (unique ones widened), foreign keys,
// dependent views and materialized views, grants, comments, triggers,
// row-level security and storage parameters. And a rollback must put all of it
// back on the original table.
import { describe, expect, it, beforeAll } from 'vitest';
import { migrate, rollback } from '../index.js';
import { useTestDatabase, type TestRole } from '../../testing/database.js';
import { installPartwise } from '../../testing/fixtures.js';

const db = useTestDatabase('preserve');

// Application roles hold only the grants the test gives them; the migration
// itself runs as the database's owner, an ordinary role.
const roles: Record<'app_reader' | 'app_writer', TestRole> = {} as never;

beforeAll(async () => {
  await installPartwise(db);
  roles.app_reader = await db.createRole('app_reader');
  roles.app_writer = await db.createRole('app_writer');
});

/** SQL text with the application roles' names in place of app_reader and app_writer. */
function withRoles(sql: string): string {
  return sql.replace(/\bapp_(reader|writer)\b/g, (name) => roles[name as keyof typeof roles].sql);
}

async function asRole(role: keyof typeof roles, sql: string, values: unknown[] = []): Promise<unknown[]> {
  return roles[role].query(sql, values);
}

/** The relations a view or materialized view reads (bound by OID, printed by current name). */
async function readsFrom(view: string): Promise<string[]> {
  const rows = await db.query<{ name: string }>(
    `SELECT DISTINCT d.refobjid::regclass::text AS name FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid
      WHERE r.ev_class = $1::regclass AND d.refobjid <> r.ev_class AND d.refclassid = 'pg_class'::regclass`,
    [view],
  );
  return rows.map((r) => r.name);
}

async function createRichTable(): Promise<void> {
  await db.query(`CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL)`);
  await db.query(`INSERT INTO customers SELECT g, 'customer ' || g FROM generate_series(1, 10) g`);
  await db.query(`
    CREATE TABLE rich (
      id bigserial PRIMARY KEY,
      seq_no bigint GENERATED ALWAYS AS IDENTITY,
      customer_id int NOT NULL REFERENCES customers (id),
      code text NOT NULL,
      status text NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'done')),
      amount numeric(10, 2) CHECK (amount >= 0),
      secret text,
      updated_at timestamptz,
      total numeric GENERATED ALWAYS AS (amount * 2) STORED
    ) WITH (fillfactor = 80, autovacuum_enabled = on)`);
  await db.query(`CREATE UNIQUE INDEX rich_code_key ON rich (code)`);
  await db.query(`CREATE INDEX rich_open_idx ON rich (customer_id) WHERE status = 'new'`);
  await db.query(`CREATE INDEX rich_lower_code_idx ON rich (lower(code))`);
  await db.query(`COMMENT ON TABLE rich IS 'Orders of customers'`);
  await db.query(`COMMENT ON COLUMN rich.code IS 'Business code'`);
  await db.query(withRoles(`GRANT SELECT (id, customer_id, code, status) ON rich TO app_reader`));
  await db.query(withRoles(`GRANT SELECT, INSERT, UPDATE, DELETE ON rich TO app_writer`));
  await db.query(withRoles(`GRANT USAGE ON SEQUENCE rich_id_seq TO app_writer`));
  await db.query(`CREATE TABLE rich_audit (rich_id bigint, op text, at timestamptz DEFAULT now())`);
  await db.query(withRoles(`GRANT INSERT ON rich_audit TO app_writer`));
  await db.query(
    `CREATE FUNCTION rich_touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.updated_at := now(); RETURN NEW; END $$`,
  );
  await db.query(
    `CREATE FUNCTION rich_log() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO rich_audit (rich_id, op) VALUES (NEW.id, TG_OP); RETURN NULL; END $$`,
  );
  await db.query(`CREATE TRIGGER rich_touch BEFORE UPDATE ON rich FOR EACH ROW EXECUTE FUNCTION rich_touch()`);
  await db.query(`CREATE TRIGGER rich_log AFTER INSERT ON rich FOR EACH ROW EXECUTE FUNCTION rich_log()`);
  await db.query(
    `INSERT INTO rich (customer_id, code, status, amount, secret) SELECT 1 + g % 10, 'C' || g, CASE WHEN g % 3 = 0 THEN 'done' ELSE 'new' END, g, 'secret ' || g FROM generate_series(1, 3000) g`,
  );
  await db.query(`CREATE VIEW rich_open AS SELECT id, customer_id, code FROM rich WHERE status = 'new'`);
  await db.query(withRoles(`GRANT SELECT ON rich_open TO app_reader`));
  await db.query(`CREATE MATERIALIZED VIEW rich_totals AS SELECT customer_id, count(*) AS n FROM rich GROUP BY 1`);
  await db.query(`CREATE UNIQUE INDEX rich_totals_customer ON rich_totals (customer_id)`);
  await db.query(withRoles(`GRANT SELECT ON rich_totals TO app_reader`));
  await db.query(`TRUNCATE rich_audit`);
  await db.query(`ANALYZE rich`);
}

describe('what the swap keeps', () => {
  it('keeps defaults, sequences, constraints, indexes, foreign keys, views, grants, comments, triggers and storage parameters, and rollback restores them', async () => {
    await createRichTable();
    const outcome = await migrate(db.pool, [
      { schema: 'public', table: 'rich', keyColumn: 'customer_id', bucketLimit: 120 },
    ]);
    expect(outcome.status, outcome.message).toBe('succeeded');

    // Defaults, serial and identity continue; generated columns are computed.
    const [row] = await asRole(
      'app_writer',
      `INSERT INTO rich (customer_id, code, amount) VALUES (3, 'NEW-1', 5) RETURNING id, seq_no, status, total`,
    );
    expect(row).toEqual({ id: '3001', seq_no: '3001', status: 'new', total: '10.00' });
    // CHECK constraints and NOT NULL hold through the view.
    await expect(
      db.query(`INSERT INTO rich (customer_id, code, status) VALUES (3, 'BAD', 'unknown')`),
    ).rejects.toMatchObject({ code: '23514' });
    await expect(db.query(`INSERT INTO rich (customer_id, code, amount) VALUES (3, 'NEG', -1)`)).rejects.toMatchObject({
      code: '23514',
    });
    await expect(db.query(`INSERT INTO rich (customer_id) VALUES (3)`)).rejects.toMatchObject({ code: '23502' });
    // The foreign key is enforced.
    await expect(db.query(`INSERT INTO rich (customer_id, code) VALUES (99, 'NOFK')`)).rejects.toMatchObject({
      code: '23503',
    });
    // A unique index stays unique across the whole table by default (its
    // registry): a duplicate that lands in another bucket of the key is
    // refused under the original's name.
    await expect(
      db.query(`INSERT INTO rich (customer_id, code) SELECT customer_id, code FROM rich WHERE id = 1`),
    ).rejects.toMatchObject({ code: '23505', constraint: 'rich_code_key', table: 'rich' });
    // Indexes carried over under their names, the partial one with its predicate.
    const indexes = await db.query<{ name: string; def: string }>(
      `SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS def FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE i.indrelid = 'rich_partitioned'::regclass ORDER BY 1`,
    );
    expect(indexes.map((i) => i.name)).toEqual(['rich_code_key', 'rich_lower_code_idx', 'rich_open_idx', 'rich_pkey']);
    expect(indexes.find((i) => i.name === 'rich_open_idx')!.def).toContain(`WHERE (status = 'new'::text)`);
    expect(indexes.find((i) => i.name === 'rich_code_key')!.def).toContain('(code, customer_id, bucket_id)');
    // Triggers fire on the new table: the audit trigger logged the insert, the touch trigger sets updated_at.
    expect(await db.query(`SELECT rich_id, op FROM rich_audit`)).toEqual([{ rich_id: '3001', op: 'INSERT' }]);
    await db.query(`UPDATE rich SET amount = 7 WHERE id = 3001`);
    expect(
      (await db.query<{ set: boolean }>(`SELECT updated_at IS NOT NULL AS set FROM rich WHERE id = 3001`))[0]!.set,
    ).toBe(true);
    // Grants: table-level and per column, on the view the application uses.
    expect(await asRole('app_reader', `SELECT code FROM rich WHERE id = 1`)).toEqual([{ code: 'C1' }]);
    await expect(asRole('app_reader', `SELECT secret FROM rich WHERE id = 1`)).rejects.toMatchObject({
      code: '42501',
    });
    await expect(asRole('app_reader', `DELETE FROM rich WHERE id = 1`)).rejects.toMatchObject({
      code: '42501',
    });
    // The privileged step of routing is scoped to one table: a role that may
    // insert here cannot take buckets (create partitions) elsewhere.
    const configs = await db.query<{ config_id: number; table_name: string }>(
      `SELECT config_id, table_name FROM partwise.partition_config`,
    );
    const own = configs.find((c) => c.table_name === 'rich')!.config_id;
    expect(await asRole('app_writer', `SELECT bucket_id FROM partwise.take_bucket_${own}('3')`)).toHaveLength(1);
    await db.query(`CREATE TABLE other_p (k int NOT NULL, bucket_id int NOT NULL DEFAULT 0) PARTITION BY LIST (k)`);
    const [{ id }] = (await db.query<{ id: number }>(
      `SELECT (partwise.configure_table('public', 'other', 'other_p', 'k', 10)).config_id AS id`,
    )) as [{ id: number }];
    await db.query('SELECT partwise.install_routing($1)', [id]);
    await expect(asRole('app_writer', `SELECT * FROM partwise.take_bucket_${id}('1')`)).rejects.toMatchObject({
      code: '42501',
    });
    await expect(asRole('app_writer', `SELECT * FROM partwise.assign_bucket(${id}, '1')`)).rejects.toMatchObject({
      code: '42501',
    });
    await db.query('CALL partwise.uninstall($1)', [id]);
    // Comments.
    expect(
      await db.query(
        `SELECT obj_description('rich'::regclass, 'pg_class') AS t, col_description('rich'::regclass, 4) AS c`,
      ),
    ).toEqual([{ t: 'Orders of customers', c: 'Business code' }]);
    // Storage parameters are on every leaf: the original's autovacuum_enabled
    // too, given back after the swap (the copy filled them with it off), and
    // nothing on their TOAST tables.
    const options = await db.query<{ reloptions: string[] | null; toast: string[] | null }>(
      `SELECT c.reloptions, toast.reloptions AS toast
         FROM pg_partition_tree('rich_partitioned') t JOIN pg_class c ON c.oid = t.relid
         JOIN pg_class toast ON toast.oid = c.reltoastrelid
        WHERE t.isleaf`,
    );
    expect(options.length).toBeGreaterThan(10);
    for (const o of options) expect(o).toEqual({ reloptions: ['fillfactor=80', 'autovacuum_enabled=on'], toast: null });
    // Dependent view and materialized view read the new table.
    expect(await readsFrom('rich_open')).toEqual(['rich']);
    expect(await asRole('app_reader', `SELECT count(*)::int AS n FROM rich_open WHERE id = 3001`)).toEqual([{ n: 1 }]);
    expect(await asRole('app_reader', `SELECT sum(n)::int AS n FROM rich_totals`)).toEqual([{ n: 3000 }]);
    expect(await db.query(`SELECT count(*)::int AS n FROM pg_index WHERE indrelid = 'rich_totals'::regclass`)).toEqual([
      { n: 1 },
    ]);
    await db.query(`REFRESH MATERIALIZED VIEW rich_totals`);
    expect(await db.query(`SELECT sum(n)::int AS n FROM rich_totals`)).toEqual([{ n: 3001 }]);

    // Rollback: the original table comes back with all of it, and the row written since.
    const back = await rollback(db.pool, outcome.runId);
    expect(back.status).toBe('rolled_back');
    expect(await db.query(`SELECT relkind FROM pg_class WHERE oid = 'rich'::regclass`)).toEqual([{ relkind: 'r' }]);
    expect(await db.query(`SELECT count(*)::int AS n, max(seq_no)::int AS s FROM rich`)).toEqual([
      { n: 3001, s: 3001 },
    ]);
    // Both sequences continue past everything handed out while migrated (failed inserts draw numbers too).
    const [again] = (await asRole(
      'app_writer',
      `INSERT INTO rich (customer_id, code) VALUES (4, 'NEW-2') RETURNING id, seq_no`,
    )) as {
      id: string;
      seq_no: string;
    }[];
    expect(Number(again!.id)).toBeGreaterThan(3002);
    expect(Number(again!.seq_no)).toBeGreaterThan(3001);
    expect(await db.query(`SELECT count(*)::int AS n FROM rich_audit WHERE rich_id = $1`, [again!.id])).toEqual([
      { n: 1 },
    ]);
    expect(await asRole('app_reader', `SELECT count(*)::int AS n FROM rich_open WHERE id = $1`, [again!.id])).toEqual([
      { n: 1 },
    ]);
    expect(await readsFrom('rich_totals')).toEqual(['rich']);
    expect(await db.query(`SELECT relkind FROM pg_class WHERE oid = 'rich'::regclass`)).toEqual([{ relkind: 'r' }]);
    expect(
      await db.query(
        `SELECT relname FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid WHERE i.indrelid = 'rich'::regclass ORDER BY 1`,
      ),
    ).toEqual([
      { relname: 'rich_code_key' },
      { relname: 'rich_lower_code_idx' },
      { relname: 'rich_open_idx' },
      { relname: 'rich_pkey' },
    ]);
    expect(await db.query(`SELECT reloptions FROM pg_class WHERE oid = 'rich'::regclass`)).toEqual([
      { reloptions: ['fillfactor=80', 'autovacuum_enabled=on'] },
    ]);
  });

  it('keeps row-level security on PostgreSQL 15 and later, and refuses to migrate such a table before', async () => {
    await db.query(`CREATE TABLE tenants_data (id bigserial PRIMARY KEY, tenant text NOT NULL, body text)`);
    await db.query(
      `INSERT INTO tenants_data (tenant, body) SELECT 'tenant_' || (g % 3), 'b' || g FROM generate_series(1, 300) g`,
    );
    await db.query(`ALTER TABLE tenants_data ENABLE ROW LEVEL SECURITY`);
    await db.query(
      withRoles(`CREATE POLICY own_rows ON tenants_data FOR SELECT TO app_reader USING (tenant = 'tenant_1')`),
    );
    await db.query(withRoles(`GRANT SELECT ON tenants_data TO app_reader`));
    const target = { schema: 'public', table: 'tenants_data', keyColumn: 'tenant', bucketLimit: 50 };
    if (db.major < 15) {
      // Refused before a run is recorded: nothing to roll back, no failed run in the history.
      const runsBefore = await db.query(`SELECT run_id FROM partwise.migration_run`);
      await expect(migrate(db.pool, [target])).rejects.toMatchObject({
        kind: 'blocked',
        message: expect.stringContaining('row-level security'),
      });
      expect(await db.query(`SELECT run_id FROM partwise.migration_run`)).toEqual(runsBefore);
      expect(await db.query(`SELECT relkind FROM pg_class WHERE oid = 'tenants_data'::regclass`)).toEqual([
        { relkind: 'r' },
      ]);
      return;
    }
    const outcome = await migrate(db.pool, [target]);
    expect(outcome.status, outcome.message).toBe('succeeded');
    expect(await asRole('app_reader', `SELECT DISTINCT tenant FROM tenants_data`)).toEqual([{ tenant: 'tenant_1' }]);
    expect(await db.query(`SELECT count(*)::int AS n FROM tenants_data`)).toEqual([{ n: 300 }]);
  });
});
