// Unique keys after the swap: widened with the partition columns, a PRIMARY
// KEY or UNIQUE constraint would hold per bucket only. With a registry (the
// default where one can keep it) it holds across the whole table, as before:
// duplicates are refused under the original constraint's name, concurrent
// inserts of one value in different buckets let exactly one through,
// deferrable constraints are checked when they were, NULLs behave as they
// did, and the rows changed during the migration are followed.
import { describe, expect, it, beforeAll } from 'vitest';
import pg from 'pg';
import { finalize, migrate, planMigration, rollback, type EngineOptions } from '../index.js';
import { useTestDatabase, type TestRole } from '../../testing/database.js';
import { installPartwise } from '../../testing/fixtures.js';
import type { MigrationTarget } from '../../../shared/plan.js';

const db = useTestDatabase('unique_registry');
let app: TestRole;

beforeAll(async () => {
  await installPartwise(db);
  app = await db.createRole('app');
});

async function migrated(target: Omit<MigrationTarget, 'schema'>, options: EngineOptions = {}): Promise<number> {
  const outcome = await migrate(db.pool, [{ schema: 'public', ...target }], options);
  expect(outcome.status, outcome.message).toBe('succeeded');
  return outcome.runId;
}

async function registryOf(constraint: string): Promise<{ table: string; index: string }> {
  const [row] = await db.query<{ table: string; index: string }>(
    `SELECT registry_table AS table, registry_index AS index FROM partwise.unique_registry WHERE constraint_name = $1`,
    [constraint],
  );
  return row!;
}

/**
 * Keys in the registry that the table does not have, and the other way round
 * (both empty when they agree). A key with a NULL has an entry only under
 * NULLS NOT DISTINCT.
 */
async function registryDrift(
  constraint: string,
  table: string,
  columns: string[],
  { nullsNotDistinct = false } = {},
): Promise<unknown[]> {
  const registry = await registryOf(constraint);
  const list = columns.join(', ');
  const registered = nullsNotDistinct ? 'true' : columns.map((c) => `${c} IS NOT NULL`).join(' AND ');
  return db.query(
    `(SELECT 'registry only' AS side, ${list} FROM partwise.${registry.table} EXCEPT ALL SELECT 'registry only', ${list} FROM ${table} WHERE ${registered})
     UNION ALL
     (SELECT 'table only', ${list} FROM ${table} WHERE ${registered} EXCEPT ALL SELECT 'table only', ${list} FROM partwise.${registry.table})`,
  );
}

describe('unique keys stay unique across the whole table', () => {
  it('refuses a duplicate in another bucket under the original constraint name, as the issue reproduced', async () => {
    await db.query(`CREATE TABLE accounts (
      tenant int NOT NULL, id int NOT NULL, customer_id int NOT NULL, email text, note text,
      PRIMARY KEY (tenant, id), CONSTRAINT accounts_customer_email UNIQUE (customer_id, email))`);
    await db.query(`INSERT INTO accounts SELECT 1 + g % 4, g, g % 7, 'e' || g, 'n' FROM generate_series(1, 200) g`);
    await db.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON accounts TO ${app.sql}`);
    const runId = await migrated({ table: 'accounts', keyColumn: 'tenant', bucketLimit: 10 });

    // (3, 3) is in tenant 3's first bucket; a new row goes to its last one.
    await expect(app.query(`INSERT INTO accounts (tenant, id, customer_id) VALUES (4, 3, 1)`)).rejects.toMatchObject({
      code: '23505',
      constraint: 'accounts_pkey',
      table: 'accounts',
      schema: 'public',
      message: 'duplicate key value violates unique constraint "accounts_pkey"',
      detail: 'Key (tenant, id)=(4, 3) already exists.',
    });
    await expect(
      app.query(`INSERT INTO accounts (tenant, id, customer_id, email) VALUES (2, 1000, 3, 'e3')`),
    ).rejects.toMatchObject({ code: '23505', constraint: 'accounts_customer_email' });
    // Updates and deletes move and free values; the role has no rights on Partwise's schema.
    await expect(app.query(`UPDATE accounts SET email = 'e10' WHERE id = 3`)).rejects.toMatchObject({
      code: '23505',
      constraint: 'accounts_customer_email',
    });
    await app.query(`UPDATE accounts SET email = 'moved' WHERE id = 3`);
    await app.query(`INSERT INTO accounts (tenant, id, customer_id, email) VALUES (2, 1001, 3, 'e3')`);
    await app.query(`DELETE FROM accounts WHERE tenant = 4 AND id = 3`);
    await app.query(`INSERT INTO accounts (tenant, id, customer_id) VALUES (4, 3, 1)`);
    expect(await registryDrift('accounts_pkey', 'accounts', ['tenant', 'id'])).toEqual([]);
    expect(await registryDrift('accounts_customer_email', 'accounts', ['customer_id', 'email'])).toEqual([]);

    // Rollback removes every trace of it; finalize keeps it.
    await rollback(db.pool, runId);
    expect(await db.query(`SELECT count(*)::int AS n FROM partwise.unique_registry`)).toEqual([{ n: 0 }]);
    expect(
      await db.query(
        `SELECT count(*)::int AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'partwise' AND c.relname LIKE 'accounts%'`,
      ),
    ).toEqual([{ n: 0 }]);
    expect(
      await db.query(
        `SELECT count(*)::int AS n FROM pg_proc
          WHERE proname ~ '^unique_(check|deferred|truncate)_[0-9]+$' AND pronamespace = 'partwise'::regnamespace`,
      ),
    ).toEqual([{ n: 0 }]);
    await expect(db.query(`INSERT INTO accounts (tenant, id, customer_id) VALUES (1, 4, 1)`)).rejects.toMatchObject({
      code: '23505',
      constraint: 'accounts_pkey',
    });

    const final = await migrated({ table: 'accounts', keyColumn: 'tenant', bucketLimit: 10 });
    expect((await finalize(db.pool, final)).status).toBe('finalized');
    await expect(app.query(`INSERT INTO accounts (tenant, id, customer_id) VALUES (1, 4, 1)`)).rejects.toMatchObject({
      code: '23505',
      constraint: 'accounts_pkey',
    });
    // TRUNCATE of the partitioned table empties the registries with it.
    await db.query(`TRUNCATE accounts_partitioned`);
    await app.query(`INSERT INTO accounts (tenant, id, customer_id) VALUES (1, 4, 1)`);
    expect(await registryDrift('accounts_pkey', 'accounts', ['tenant', 'id'])).toEqual([]);
  });

  it('enforces per bucket only what the target asks so, and the plan says what each choice means', async () => {
    await db.query(`CREATE TABLE per_bucket (k int NOT NULL, id int PRIMARY KEY, code text,
      serial_no bigint GENERATED ALWAYS AS IDENTITY UNIQUE)`);
    await db.query(`CREATE UNIQUE INDEX per_bucket_live_code ON per_bucket (code) WHERE code <> ''`);
    await db.query(`INSERT INTO per_bucket (k, id, code) SELECT 1, g, 'c' || g FROM generate_series(1, 30) g`);
    const client = await db.connect();
    try {
      const target = { schema: 'public', table: 'per_bucket', keyColumn: 'k', bucketLimit: 10 };
      const plan = await planMigration(client, target, { counting: 'exact' });
      expect(plan.uniqueness).toEqual([
        expect.objectContaining({ name: 'per_bucket_pkey', enforcement: 'table', registryAvailable: true }),
        expect.objectContaining({
          name: 'per_bucket_live_code',
          enforcement: 'bucket',
          registryAvailable: false,
          reason: expect.stringContaining('partial index'),
        }),
        expect.objectContaining({
          name: 'per_bucket_serial_no_key',
          enforcement: 'bucket',
          defaultEnforcement: 'bucket',
          registryAvailable: true,
          reason: expect.stringContaining('GENERATED ALWAYS'),
        }),
      ]);
      expect(plan.issues.filter((i) => i.code === 'unique_kept').map((i) => i.message)).toEqual([
        expect.stringContaining('per_bucket_pkey'),
      ]);
      const asked = await planMigration(
        client,
        { ...target, uniqueness: { per_bucket_live_code: 'table', per_bucket_pkey: 'bucket', nothing_here: 'table' } },
        { counting: 'exact' },
      );
      expect(asked.issues.filter((i) => i.severity === 'blocker').map((i) => i.code)).toEqual([
        'unique_choice_unknown',
        'unique_registry_unavailable',
      ]);
      expect(asked.uniqueness?.find((u) => u.name === 'per_bucket_pkey')?.enforcement).toBe('bucket');
    } finally {
      await client.end();
    }
    // The choice reaches the migration: per bucket, a duplicate in another bucket is accepted (and no registry exists).
    await migrated({ table: 'per_bucket', keyColumn: 'k', bucketLimit: 10, uniqueness: { per_bucket_pkey: 'bucket' } });
    await db.query(`INSERT INTO per_bucket (k, id) VALUES (1, 1)`);
    expect(await db.query(`SELECT count(*)::int AS n FROM per_bucket WHERE id = 1`)).toEqual([{ n: 2 }]);
    expect(
      await db.query(
        `SELECT count(*)::int AS n FROM partwise.unique_registry WHERE constraint_name LIKE 'per_bucket%'`,
      ),
    ).toEqual([{ n: 0 }]);
  });

  it('follows the rows changed during the copy, the catch-up and the swap', async () => {
    await db.query(`CREATE TABLE moving (id int PRIMARY KEY, k int NOT NULL, email text UNIQUE)`);
    await db.query(`INSERT INTO moving SELECT g, 1 + g % 3, 'e' || g FROM generate_series(1, 300) g`);
    let round = 0;
    // At each phase boundary the application moves values between rows (a
    // swap through a temporary value, in one transaction), frees one by
    // deleting its row and reuses it, and adds rows.
    const churn = async (): Promise<void> => {
      round++;
      const a = round * 3;
      const b = a + 1;
      const gone = a + 2;
      await db.query(`BEGIN;
        UPDATE moving SET email = 'tmp' WHERE id = ${a};
        UPDATE moving SET email = 'e${a}' WHERE id = ${b};
        UPDATE moving SET email = 'e${b}' WHERE id = ${a};
        DELETE FROM moving WHERE id = ${gone};
        INSERT INTO moving VALUES (${1000 + round}, 2, 'e${gone}');
        INSERT INTO moving VALUES (${2000 + round}, 3, NULL);
        UPDATE moving SET email = NULL WHERE id = ${100 + round};
        COMMIT`);
    };
    await migrated(
      { table: 'moving', keyColumn: 'k', bucketLimit: 40 },
      {
        beforePhase: async (phase) => {
          if (phase === 'provision' || phase === 'indexes' || phase === 'catch_up' || phase === 'cutover')
            await churn();
        },
      },
    );
    expect(round).toBe(4);
    expect(await registryDrift('moving_pkey', 'moving', ['id'])).toEqual([]);
    expect(await registryDrift('moving_email_key', 'moving', ['email'])).toEqual([]);
    // What was freed is free, what was taken is taken.
    // (Row 3 has key 1: a duplicate under key 2 is in another partition, where only the registry sees it.)
    await expect(db.query(`INSERT INTO moving VALUES (5000, 2, 'e4')`)).rejects.toMatchObject({
      constraint: 'moving_email_key',
    });
    await db.query(`INSERT INTO moving VALUES (5001, 2, 'e101')`);
  });

  it('syncs a log larger than a batch in a transaction per batch, to the registry one sync gives', async () => {
    const nullsNotDistinct = db.major >= 15;
    await db.query(
      `CREATE TABLE batched (id int PRIMARY KEY, k int NOT NULL, email text UNIQUE, a int, b int${
        nullsNotDistinct ? ', CONSTRAINT batched_a_b_key UNIQUE NULLS NOT DISTINCT (a, b)' : ''
      })`,
    );
    await db.query(`INSERT INTO batched SELECT g, 1 + g % 3, 'e' || g, g, NULL FROM generate_series(1, 300) g`);
    const registries = ['batched_pkey', 'batched_email_key', ...(nullsNotDistinct ? ['batched_a_b_key'] : [])];
    const columns: Record<string, string[]> = {
      batched_pkey: ['id'],
      batched_email_key: ['email'],
      batched_a_b_key: ['a', 'b'],
    };
    const drift = async (): Promise<Record<string, unknown[]>> =>
      Object.fromEntries(
        await Promise.all(
          registries.map(
            async (r) =>
              [
                r,
                await registryDrift(r, 'batched', columns[r]!, { nullsNotDistinct: r === 'batched_a_b_key' }),
              ] as const,
          ),
        ),
      );
    // Changed once the registries are filled, before their first sync: the
    // registries then hold these rows as they were (a row changed before the
    // fill is left out of it, and would give no batch a stale entry to meet).
    // The sync starts with an ANALYZE of the log (SHARE UPDATE EXCLUSIVE,
    // which the writes' ROW EXCLUSIVE does not wait for): a session holding
    // the log in that mode holds the sync back until these changes are made.
    const churn = async (): Promise<void> => {
      // Rows 1 and 2 swap their values: synced alone, row 1's entry takes
      // the value row 2's entry still holds.
      await db.query(`BEGIN;
        UPDATE batched SET email = 'tmp' WHERE id = 1;
        UPDATE batched SET email = 'e1' WHERE id = 2;
        UPDATE batched SET email = 'e2' WHERE id = 1;
        COMMIT`);
      // A value freed in one batch and taken again in a later one.
      await db.query(`DELETE FROM batched WHERE id = 3`);
      await db.query(`INSERT INTO batched VALUES (1003, 2, 'e3', 1003, NULL)`);
      // Under NULLS NOT DISTINCT, (4, NULL) and (5, NULL) swap rows: a NULL is a value there.
      await db.query(`BEGIN;
        UPDATE batched SET a = 0, b = 0 WHERE id = 4;
        UPDATE batched SET a = 4 WHERE id = 5;
        UPDATE batched SET a = 5, b = NULL WHERE id = 4;
        COMMIT`);
      // And a row per transaction, 40 of them.
      for (let id = 200; id < 240; id++) await db.query(`UPDATE batched SET email = 'u' || id WHERE id = $1`, [id]);
    };
    const holder = await db.connect();
    let log: string | null = null;
    let holding = false;
    let beforeSwap: { drift: Record<string, unknown[]>; transactions: number } | null = null;
    try {
      const run = migrated(
        { table: 'batched', keyColumn: 'k', bucketLimit: 40 },
        {
          // One entry per transaction: every logged row is synced alone.
          registrySyncBatch: 1,
          beforePhase: async (phase) => {
            if (phase === 'catch_up') {
              const [row] = await db.query<{ log: string }>(
                `SELECT saved->>'registryLog' AS log FROM partwise.migration_target WHERE table_name = 'batched'`,
              );
              log = `partwise.${pg.escapeIdentifier(row!.log)}`;
              await holder.query('BEGIN');
              await holder.query(`LOCK TABLE ${log} IN SHARE UPDATE EXCLUSIVE MODE`);
              holding = true;
            }
            // The registries are synced, not yet kept by the triggers: each
            // batch's entries were written by its own transaction.
            if (phase === 'cutover') {
              const registry = await registryOf('batched_email_key');
              const [{ n }] = (await db.query<{ n: number }>(
                `SELECT count(DISTINCT xmin::text)::int AS n FROM partwise.${registry.table} WHERE email LIKE 'u%'`,
              )) as [{ n: number }];
              beforeSwap = { drift: await drift(), transactions: n };
            }
          },
        },
      );
      const ended = run.then(() => 'the run ended before its registries were synced');
      // Until the sync waits for the log: the registries are filled.
      for (let i = 0; ; i++) {
        const outcome = await Promise.race([ended, new Promise((resolve) => setTimeout(resolve, 50))]);
        if (typeof outcome === 'string') throw new Error(outcome);
        if (i > 1200) throw new Error("the registries' sync never waited for the log");
        if (!holding || log === null) continue;
        const [{ waiting }] = (await db.query<{ waiting: boolean }>(
          `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE relation = $1::regclass AND NOT granted) AS waiting`,
          [log],
        )) as [{ waiting: boolean }];
        if (waiting) break;
      }
      await churn();
      await holder.query('ROLLBACK');
      holding = false;
      await run;
    } finally {
      if (holding) await holder.query('ROLLBACK');
      await holder.end();
    }
    const none = Object.fromEntries(registries.map((r) => [r, []]));
    expect(beforeSwap).toEqual({ drift: none, transactions: 40 });
    expect(await drift()).toEqual(none);
    await expect(db.query(`INSERT INTO batched VALUES (5000, 2, 'e2', 5000, 5000)`)).rejects.toMatchObject({
      constraint: 'batched_email_key',
    });
    await expect(db.query(`INSERT INTO batched VALUES (5000, 3, 'e3', 5000, 5000)`)).rejects.toMatchObject({
      constraint: 'batched_email_key',
    });
    if (nullsNotDistinct)
      await expect(db.query(`INSERT INTO batched VALUES (5000, 3, 'x', 4, NULL)`)).rejects.toMatchObject({
        constraint: 'batched_a_b_key',
      });
  });

  it('follows concurrent writers through the whole migration', async () => {
    await db.query(`CREATE TABLE busy_keys (id bigserial PRIMARY KEY, k int NOT NULL, email text UNIQUE)`);
    await db.query(`INSERT INTO busy_keys (k, email) SELECT 1 + g % 5, 'e' || g FROM generate_series(1, 20000) g`);
    let stop = false;
    const failures: string[] = [];
    const writer = async (w: number): Promise<number> => {
      const client = await db.connect();
      let commits = 0;
      try {
        for (let n = 0; !stop; n++) {
          const id = 1 + ((n * 7919 + w * 104729) % 20000);
          try {
            // New values are unique by construction: only Partwise could make them collide.
            if (n % 3 === 0) await client.query(`UPDATE busy_keys SET email = $2 WHERE id = $1`, [id, `w${w}-${n}`]);
            else if (n % 3 === 1)
              await client.query(`INSERT INTO busy_keys (k, email) VALUES ($1, $2)`, [1 + (n % 5), `i${w}-${n}`]);
            else await client.query(`DELETE FROM busy_keys WHERE id = $1`, [id]);
            commits++;
          } catch (error) {
            failures.push((error as Error).message);
          }
          // An application's pace, not a flood the catch-up could never overtake.
          await new Promise((resolve) => setTimeout(resolve, 3));
        }
      } finally {
        await client.end();
      }
      return commits;
    };
    const writers = [1, 2, 3].map(writer);
    try {
      await migrated({ table: 'busy_keys', keyColumn: 'k', bucketLimit: 2000 });
    } finally {
      stop = true;
    }
    const commits = await Promise.all(writers);
    expect(failures).toEqual([]);
    expect(commits.every((n) => n > 0)).toBe(true);
    expect(await registryDrift('busy_keys_email_key', 'busy_keys', ['email'])).toEqual([]);
    expect(await registryDrift('busy_keys_pkey', 'busy_keys', ['id'])).toEqual([]);
  });

  it('lets exactly one of two concurrent inserts of a value in different buckets through', async () => {
    await db.query(`CREATE TABLE races (id int PRIMARY KEY, k int NOT NULL, email text UNIQUE)`);
    await db.query(`INSERT INTO races SELECT g, g, 'e' || g FROM generate_series(1, 4) g`);
    await db.query(`GRANT SELECT, INSERT ON races TO ${app.sql}`);
    await migrated({ table: 'races', keyColumn: 'k', bucketLimit: 1 });
    for (const outcome of ['commit', 'rollback'] as const) {
      const first = await app.connect();
      const second = await app.connect();
      try {
        const value = `race-${outcome}`;
        await first.query('BEGIN');
        await first.query(`INSERT INTO races VALUES (100, 1, $1)`, [value]);
        const secondPid = (await second.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
        let settled = false;
        const racing = second
          .query(`INSERT INTO races VALUES (101, 2, $1)`, [value])
          .then(
            () => 'inserted',
            (error: { code?: string; constraint?: string; message?: string }) =>
              `${error.code} ${error.constraint ?? error.message}`,
          )
          .finally(() => (settled = true));
        // The second waits for the first's transaction (on the registry), whatever bucket it writes to.
        while (!settled) {
          const [state] = await db.query<{ waiting: boolean }>(
            `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = $1 AND locktype = 'transactionid' AND NOT granted) AS waiting`,
            [secondPid],
          );
          if (state!.waiting) break;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        await first.query(outcome === 'commit' ? 'COMMIT' : 'ROLLBACK');
        expect(await racing).toBe(outcome === 'commit' ? '23505 races_email_key' : 'inserted');
        await db.query(`DELETE FROM races WHERE id IN (100, 101)`);
      } finally {
        await first.end();
        await second.end();
      }
    }
  });

  it('checks deferrable constraints when they were checked before', async () => {
    await db.query(`CREATE TABLE slots (id int PRIMARY KEY, k int NOT NULL,
      code text CONSTRAINT slots_code_key UNIQUE DEFERRABLE INITIALLY DEFERRED,
      slot int CONSTRAINT slots_slot_key UNIQUE DEFERRABLE)`);
    await db.query(`INSERT INTO slots SELECT g, 1, 'c' || g, g FROM generate_series(1, 20) g`);
    await migrated({ table: 'slots', keyColumn: 'k', bucketLimit: 5 });
    // Initially deferred: a duplicate may exist until commit.
    await db.query(`BEGIN;
      INSERT INTO slots VALUES (100, 1, 'c1', 100);
      UPDATE slots SET code = 'c100' WHERE id = 100;
      COMMIT`);
    const client = await db.connect();
    try {
      await client.query('BEGIN');
      await client.query(`INSERT INTO slots VALUES (101, 1, 'c2', 101)`);
      await expect(client.query('COMMIT')).rejects.toMatchObject({ code: '23505', constraint: 'slots_code_key' });
      // Deferrable, initially immediate: checked at the end of each statement, so a shift passes.
      await client.query(`UPDATE slots SET slot = slot + 1`);
      // Ids 1 and 7 are in different buckets: only the registry sees the duplicate.
      await expect(client.query(`UPDATE slots SET slot = 8 WHERE id = 1`)).rejects.toMatchObject({
        code: '23505',
        constraint: 'slots_slot_key',
      });
      await client.query('BEGIN');
      await client.query('SET CONSTRAINTS ALL DEFERRED');
      await client.query(`UPDATE slots SET slot = 8 WHERE id = 1`);
      await client.query(`UPDATE slots SET slot = 1000 WHERE id = 7`);
      await client.query('COMMIT');
    } finally {
      await client.end();
    }
    expect(await registryDrift('slots_slot_key', 'slots', ['slot'])).toEqual([]);
    expect(await registryDrift('slots_code_key', 'slots', ['code'])).toEqual([]);
  });

  it('treats NULLs as the original did', async () => {
    const nullsNotDistinct = db.major >= 15;
    await db.query(`CREATE TABLE nullable (id int PRIMARY KEY, k int NOT NULL, email text UNIQUE,
      a int, b int${nullsNotDistinct ? ', CONSTRAINT nullable_a_b_key UNIQUE NULLS NOT DISTINCT (a, b)' : ''})`);
    await db.query(`INSERT INTO nullable SELECT g, 1, NULL, g, NULL FROM generate_series(1, 10) g`);
    await migrated({ table: 'nullable', keyColumn: 'k', bucketLimit: 3 });
    // NULLS DISTINCT: any number of NULLs, through every bucket.
    await db.query(`INSERT INTO nullable (id, k, email, a, b) VALUES (11, 1, NULL, 100, 1), (12, 1, NULL, 100, 2)`);
    await db.query(`UPDATE nullable SET email = 'x' WHERE id = 1`);
    await expect(db.query(`INSERT INTO nullable (id, k, email) VALUES (13, 1, 'x')`)).rejects.toMatchObject({
      constraint: 'nullable_email_key',
    });
    await db.query(`UPDATE nullable SET email = NULL WHERE id = 1`);
    await db.query(`INSERT INTO nullable (id, k, email) VALUES (13, 1, 'x')`);
    if (!nullsNotDistinct) return;
    // NULLS NOT DISTINCT: (1, NULL) is in the first bucket; a second one is refused.
    await expect(db.query(`INSERT INTO nullable (id, k, a, b) VALUES (14, 1, 1, NULL)`)).rejects.toMatchObject({
      code: '23505',
      constraint: 'nullable_a_b_key',
      detail: 'Key (a, b)=(1, null) already exists.',
    });
    await db.query(`UPDATE nullable SET b = 7 WHERE id = 1`);
    await db.query(`INSERT INTO nullable (id, k, a, b) VALUES (14, 1, 1, NULL)`);
    await db.query(`DELETE FROM nullable WHERE id = 14`);
    await db.query(`INSERT INTO nullable (id, k, a, b) VALUES (15, 1, 1, NULL)`);
    expect(await registryDrift('nullable_email_key', 'nullable', ['email'])).toEqual([]);
  });
});
