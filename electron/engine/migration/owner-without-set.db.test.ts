// PostgreSQL 16 split a membership's rights (INHERIT) from SET ROLE (SET),
// and ALTER ... OWNER TO a role takes SET on it. A member holding the owner's
// rights without SET (GRANT ... WITH INHERIT TRUE, SET FALSE; also what a
// CREATEROLE role gets of the roles it creates under createrole_self_grant =
// 'inherit') passed the plan, then failed at the
// first partition made, after the change capture had started. Before 16 there
// is no SET option: membership is enough (owner-member.db.test.ts).
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import { migrate, planMigration } from '../index.js';
import { runKeyAction } from '../keys/run.js';
import { useTestDatabase, type TestRole } from '../../testing/database.js';
import { ident } from '../../db/sql.js';

const db = useTestDatabase('owner_no_set');
let noSet: TestRole;
let pool: pg.Pool;

/** Where keys 4 (pooled) and 1 (a partition of its own) are, and what a switch would have left behind. */
async function placement() {
  // Partwise's schema is the member's (it installed it): read as the server's admin.
  return db.admin.query(
    `SELECT (SELECT in_pool FROM partwise.partition_tracker WHERE key_value = '4') AS four_pooled,
            (SELECT in_pool FROM partwise.partition_tracker WHERE key_value = '1') AS one_pooled,
            (SELECT count(*)::int FROM pg_constraint WHERE conname LIKE 'partwise_not_key_%') AS proofs,
            (SELECT count(*)::int FROM partwise.key_action) AS actions`,
  );
}

describe.runIf(inject('pgMajor') >= 16)('a member of the owning role without SET (PostgreSQL 16 and later)', () => {
  beforeAll(async () => {
    noSet = await db.createRole('noset');
    await db.admin.query(`GRANT ${ident(db.owner)} TO ${noSet.sql} WITH INHERIT TRUE, SET FALSE`);
    pool = new pg.Pool({ connectionString: noSet.url, max: 6 });
    // Keys 1 to 3 (50 rows) get partitions of their own; keys 4 and 5 (10 rows) share the pool.
    await db.query(`CREATE TABLE invoices (id bigserial PRIMARY KEY, k int NOT NULL, note text)`);
    await db.query(
      `INSERT INTO invoices (k, note) SELECT k, 'row ' || g FROM generate_series(1, 3) k, generate_series(1, 50) g
       UNION ALL SELECT k, 'small ' || g FROM generate_series(4, 5) k, generate_series(1, 10) g`,
    );
  });
  afterAll(() => pool.end());

  it('is refused by the plan, before anything changes, and migrates once granted SET', async () => {
    const target = { schema: 'public', table: 'invoices', keyColumn: 'k', bucketLimit: 30, shareBelow: 40 };
    {
      const client = await pool.connect();
      try {
        const issue = (await planMigration(client, target, { counting: 'auto' })).issues.find(
          (i) => i.code === 'owner_without_set',
        );
        expect(issue).toMatchObject({
          severity: 'blocker',
          message: `Role ${noSet.name} has the rights of public.invoices's owner ${db.owner} but may not SET ROLE to it (PostgreSQL 16 and later grant a membership's rights and SET ROLE apart: this one has SET FALSE): each relation the migration makes must be given to ${db.owner} (ALTER ... OWNER TO), which needs that option.`,
          fix: `GRANT ${ident(db.owner)} TO ${noSet.sql} WITH SET TRUE;  -- or connect as ${db.owner}`,
        });
      } finally {
        client.release();
      }
      await expect(migrate(pool, [target])).rejects.toThrow(/cannot be migrated: .* may not SET ROLE to it/);
      // Nothing changed: the table is still a plain table, with no trigger and no partitioned twin.
      expect(
        await db.query(
          `SELECT c.relkind::text AS kind, (SELECT count(*)::int FROM pg_trigger t WHERE t.tgrelid = c.oid) AS triggers,
                  to_regclass('invoices_partitioned') IS NULL AS no_twin
             FROM pg_class c WHERE c.oid = 'invoices'::regclass`,
        ),
      ).toEqual([{ kind: 'r', triggers: 0, no_twin: true }]);

      await db.admin.query(`GRANT ${ident(db.owner)} TO ${noSet.sql} WITH SET TRUE`);
      const outcome = await migrate(pool, [target]);
      expect(outcome.status, outcome.message).toBe('succeeded');
      const [owners] = await db.query<{ others: number }>(
        `SELECT count(*)::int AS others FROM pg_partition_tree('invoices_partitioned') p JOIN pg_class c ON c.oid = p.relid
          WHERE c.relowner <> (SELECT oid FROM pg_roles WHERE rolname = $1)`,
        [db.owner],
      );
      expect(owners).toEqual({ others: 0 });
    }
  });

  it('is refused isolate and share, which make partitions for the owner, before anything changes', async () => {
    const table = { schema: 'public', name: 'invoices' };
    const run = { installSchema: 'partwise' };
    await db.admin.query(`GRANT ${ident(db.owner)} TO ${noSet.sql} WITH SET FALSE`);
    try {
      for (const [key, action] of [
        ['4', 'isolate'],
        ['1', 'share'],
      ] as const) {
        await expect(runKeyAction(pool, table, key, action, {}, run), action).rejects.toMatchObject({
          kind: 'privilege',
          message: `role ${noSet.name} may not SET ROLE to ${db.owner}, the owner of public.invoices: ${action} makes partitions that must be given to ${db.owner} (ALTER ... OWNER TO), which needs that option of the membership`,
          hint: `GRANT ${ident(db.owner)} TO ${noSet.sql} WITH SET TRUE;  -- or connect as ${db.owner}`,
        });
      }
      expect(await placement()).toEqual([{ four_pooled: true, one_pooled: false, proofs: 0, actions: 0 }]);
    } finally {
      await db.admin.query(`GRANT ${ident(db.owner)} TO ${noSet.sql} WITH SET TRUE`);
    }
    expect(await runKeyAction(pool, table, '4', 'isolate', {}, run)).toMatchObject({ changed: true });
    expect(await placement()).toMatchObject([{ four_pooled: false, proofs: 0 }]);
  });
});
