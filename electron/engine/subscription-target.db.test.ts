// A table that a logical-replication subscription of its database writes
// into is refused: after the swap its name is a view, which logical
// replication cannot write to, and the subscription's record of the table
// (pg_subscription_rel) follows the renamed original. The subscription here is
// real: made by the cluster's superuser (CREATE SUBSCRIPTION needs it before
// 16), connected to a publication in another database of the test cluster
// once, to list its tables, and left disabled without a replication slot, so
// that nothing else in the cluster changes (no slot, wal_level as it is).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blockers, type MigrationPlan } from '../../shared/plan.js';
import { runCli } from '../testing/cli.js';
import { createDatabase, useTestDatabase, type TestDatabase } from '../testing/database.js';
import { migrate, planMigration, resume } from './index.js';

const db = useTestDatabase('subscriber');
let publisher: (TestDatabase & { drop(): Promise<void> }) | undefined;
/** Needs quoting, so that the fix's SQL is seen to quote it. */
const SUBSCRIPTION = 'orders feed';
const orders = { schema: 'public', table: 'orders', keyColumn: 'tenant', bucketLimit: 50 };
const events = { schema: 'public', table: 'events', keyColumn: 'tenant', bucketLimit: 50 };

const TABLE = `(id bigint PRIMARY KEY, tenant int NOT NULL, payload text)`;

beforeAll(async () => {
  publisher = await createDatabase('publisher');
  await publisher.query(`CREATE TABLE orders ${TABLE}`);
  await publisher.query(`CREATE PUBLICATION orders_pub FOR TABLE orders`);
  await publisher.query(`CREATE TABLE late ${TABLE}`);
  await publisher.query(`CREATE PUBLICATION late_pub FOR TABLE late`);

  for (const table of ['orders', 'events', 'late']) {
    await db.query(`CREATE TABLE ${table} ${TABLE}`);
    await db.query(`INSERT INTO ${table} SELECT g, g % 3, 'row ' || g FROM generate_series(1, 120) g`);
    await db.query(`ANALYZE ${table}`);
  }
  await subscribe(SUBSCRIPTION, 'orders_pub');
});

/** A subscription to `publication`: connect = true reads its tables into pg_subscription_rel; without a slot it must stay disabled. */
async function subscribe(name: string, publication: string): Promise<void> {
  const [statement] = await db.admin.query<{ sql: string }>(
    `SELECT format('CREATE SUBSCRIPTION %I CONNECTION %L PUBLICATION %I
                    WITH (connect = true, create_slot = false, enabled = false, slot_name = NONE, copy_data = true)',
                   $1::text, $2::text, $3::text) AS sql`,
    [name, publisher!.admin.url, publication],
  );
  await db.admin.query(statement!.sql);
}

async function unsubscribe(name: string): Promise<void> {
  const [statements] = await db.admin.query<{ disable: string; unslot: string; drop: string }>(
    `SELECT format('ALTER SUBSCRIPTION %I DISABLE', $1::text) AS disable,
            format('ALTER SUBSCRIPTION %I SET (slot_name = NONE)', $1::text) AS unslot,
            format('DROP SUBSCRIPTION %I', $1::text) AS drop`,
    [name],
  );
  await db.admin.query(statements!.disable);
  await db.admin.query(statements!.unslot);
  await db.admin.query(statements!.drop);
}

// Registered after useTestDatabase's, so run before it (hooks run as a stack):
// a database with a subscription cannot be dropped.
afterAll(async () => {
  const subscriptions = await db.admin.query<{ name: string }>(
    `SELECT subname AS name FROM pg_subscription WHERE subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())`,
  );
  for (const { name } of subscriptions) await unsubscribe(name);
  await publisher?.drop();
});

async function plan(target: typeof orders): Promise<MigrationPlan> {
  const client = await db.pool.connect();
  try {
    return await planMigration(client, target, { counting: 'auto' });
  } finally {
    client.release();
  }
}

describe('a table a subscription replicates into', () => {
  it('is in pg_subscription_rel, and its owner cannot read the connection string', async () => {
    expect(await db.admin.query(`SELECT srrelid::regclass::text AS rel FROM pg_subscription_rel`)).toEqual([
      { rel: 'orders' },
    ]);
    // What makes the catalog read choose its columns: the owner plans as an ordinary role.
    await expect(db.query(`SELECT subconninfo FROM pg_subscription`)).rejects.toThrow(/permission denied/);
  });

  it('is a blocker of the plan, naming the subscription, read as the non-superuser owner', async () => {
    const issues = (await plan(orders)).issues.filter((i) => i.code === 'subscription_target');
    expect(issues).toEqual([
      expect.objectContaining({
        severity: 'blocker',
        message: expect.stringContaining('Subscription "orders feed" (disabled) replicates into public.orders.'),
        fix: expect.stringContaining(`ALTER SUBSCRIPTION "orders feed" REFRESH PUBLICATION;`),
      }),
    ]);
    expect(issues[0]!.message).toContain('orders_backup');
  });

  it('is refused by migrate(), which changes nothing', async () => {
    const before = await db.query(`SELECT id, tenant, payload FROM orders ORDER BY id`);
    await expect(migrate(db.pool, [orders])).rejects.toMatchObject({
      kind: 'blocked',
      message: expect.stringContaining('Subscription "orders feed" (disabled) replicates into public.orders.'),
      hint: expect.stringContaining('(ALTER PUBLICATION "orders_pub" DROP TABLE public.orders;)'),
    });
    expect(await db.query(`SELECT relkind FROM pg_class WHERE oid = 'orders'::regclass`)).toEqual([{ relkind: 'r' }]);
    expect(await db.query(`SELECT id, tenant, payload FROM orders ORDER BY id`)).toEqual(before);
    // No run recorded, no tree, no backup, no capture trigger.
    expect(await db.query(`SELECT run_id FROM partwise.migration_run`)).toEqual([]);
    expect(
      await db.query(`SELECT relname FROM pg_class WHERE relname IN ('orders_partitioned', 'orders_backup')`),
    ).toEqual([]);
    expect(await db.query(`SELECT tgname FROM pg_trigger WHERE tgrelid = 'orders'::regclass`)).toEqual([]);
    expect(await db.admin.query(`SELECT srrelid::regclass::text AS rel FROM pg_subscription_rel`)).toEqual([
      { rel: 'orders' },
    ]);
  });

  it('is refused by the CLI: plan shows the blocker, migrate stops before anything', async () => {
    const args = ['--url', db.url, '--table', 'orders', '--key', 'tenant', '--bucket-limit', '50'];
    const planned = await runCli(['plan', ...args]);
    expect(planned.code).toBe(1);
    expect(planned.stdout).toContain('Subscription "orders feed" (disabled) replicates into public.orders.');
    const migrated = await runCli(['migrate', ...args, '--yes']);
    expect(migrated.code).toBe(1);
    expect(migrated.stderr).toContain(
      'partwise: public.orders cannot be migrated: Subscription "orders feed" (disabled) replicates into public.orders.',
    );
    expect(await db.query(`SELECT relkind FROM pg_class WHERE oid = 'orders'::regclass`)).toEqual([{ relkind: 'r' }]);
    expect(await db.query(`SELECT run_id FROM partwise.migration_run`)).toEqual([]);
  });

  it('does not block a table of the same database that no subscription replicates into', async () => {
    const planned = await plan(events);
    expect(planned.issues.map((i) => i.code)).not.toContain('subscription_target');
    expect(blockers(planned)).toEqual([]);
  });

  it('made during a run, stops the swap with nothing swapped; resume swaps once it is gone', async () => {
    const late = { schema: 'public', table: 'late', keyColumn: 'tenant', bucketLimit: 50 };
    const outcome = await migrate(db.pool, [late], {
      workers: 1,
      beforePhase: async (phase) => {
        if (phase === 'cutover') await subscribe('late feed', 'late_pub');
      },
    });
    expect(outcome.status, outcome.message).toBe('interrupted');
    expect(outcome.message).toMatch(
      /^Run \d+ stopped in phase cutover of public\.late: subscription "late feed" began replicating into public\.late during the run; after the swap its name would be a view, which logical replication cannot write to, so nothing was swapped; nothing is lost: resume it with "partwise resume --run \d+"$/,
    );
    expect(await db.query(`SELECT relkind FROM pg_class WHERE oid = 'late'::regclass`)).toEqual([{ relkind: 'r' }]);

    await unsubscribe('late feed');
    const resumed = await resume(db.pool, outcome.runId);
    expect(resumed.status, resumed.message).toBe('succeeded');
    expect(await db.query(`SELECT relkind FROM pg_class WHERE oid = 'late'::regclass`)).toEqual([{ relkind: 'v' }]);
    expect(await db.query(`SELECT count(*)::int AS n FROM late`)).toEqual([{ n: 120 }]);
  });
});
