// `partwise key isolate|share` as users run it: the plan, JSON results for
// several keys, bad input refused with nothing changed, and kill -9 at each
// step of isolate, share, and a detach, move or limit that isolates first,
// then the same command again (or share, to undo an isolation).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from '../testing/database.js';
import { expectSameRows } from '../testing/same-rows.js';
import { createRoutedTable, installPartwise, type RoutedTable } from '../testing/fixtures.js';
import { killHard, runCli, runCliUntil } from '../testing/cli.js';
import { createTablespace, revokeTablespace } from '../testing/tablespace.js';

const db = useTestDatabase('key_isolate_cli');
let cold = '';

/** Key 1 with a partition of its own, then the pool (limit 10) with keys 2 to 6: 100 rows, 10 pool buckets. */
async function seeded(table: string): Promise<RoutedTable> {
  const t = await createRoutedTable(db, { table, bucketLimit: 10 });
  await db.query(`CREATE TABLE ${table}_ledger (id bigint PRIMARY KEY, customer_id int NOT NULL, payload text)`);
  await write(t, `SELECT 1, 'own ' || g FROM generate_series(1, 12) g`);
  await db.query('SELECT partwise.share_small_keys($1, 15)', [t.configId]);
  await write(t, `SELECT 2 + g % 5, 'pooled ' || g FROM generate_series(1, 100) g`);
  return t;
}

async function write(t: RoutedTable, select: string): Promise<void> {
  await db.query(
    `WITH r AS (INSERT INTO ${t.view} (customer_id, payload) ${select} RETURNING id, customer_id, payload)
     INSERT INTO ${t.table}_ledger SELECT * FROM r`,
  );
}

async function placement(t: RoutedTable, key: string): Promise<{ in_pool: boolean; state: string } | undefined> {
  const [row] = await db.query<{ in_pool: boolean; state: string }>(
    `SELECT in_pool, state FROM partwise.partition_tracker WHERE config_id = $1 AND key_value = $2`,
    [t.configId, key],
  );
  return row;
}

function expectLedger(t: RoutedTable): Promise<void> {
  return expectSameRows(db, `${t.table}_ledger`, t.view, 'id, customer_id, payload');
}

const key = (t: RoutedTable, action: string, ...values: string[]) => [
  'key',
  action,
  '--url',
  db.url,
  '--table',
  t.table,
  ...values.flatMap((v) => ['--value', v]),
];

beforeAll(async () => {
  await installPartwise(db);
  cold = await createTablespace(db, 'cold', true);
});

afterAll(async () => {
  await revokeTablespace(db, cold);
});

describe('partwise key isolate and share', () => {
  it('plans, isolates two keys with JSON results, shares one back; maintenance named the command', async () => {
    const t = await seeded('c_iso');
    await db.query('CALL partwise.maintain($1)', [t.configId]);
    const maintained = await runCli(['maintain', '--url', db.url, '--table', 'c_iso']);
    expect(maintained.stdout).toContain('partwise key isolate --table public.c_iso --value 2');

    const plan = await runCli([...key(t, 'isolate', '2'), '--dry-run']);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toContain('isolate key 2 of public.c_iso');
    expect(plan.stdout).toMatch(/ACCESS EXCLUSIVE on the pool of small keys and each of its leaves/);
    expect(plan.stdout).toMatch(/prove each of the 9 closed pool buckets that holds no row of key 2 free of it/);
    expect(await placement(t, '2')).toEqual({ in_pool: true, state: 'active' });

    const isolated = await runCli([...key(t, 'isolate', '2', '3'), '--json']);
    expect(isolated.code, isolated.stderr).toBe(0);
    const results = JSON.parse(isolated.stdout) as Array<{ keyValue: string; changed: boolean; rows: number }>;
    expect(results.map((r) => [r.keyValue, r.changed, r.rows])).toEqual([
      ['2', true, 20],
      ['3', true, 20],
    ]);
    expect(await placement(t, '2')).toEqual({ in_pool: false, state: 'active' });
    const shared = await runCli(key(t, 'share', '3'));
    expect(shared.code, shared.stderr).toBe(0);
    expect(shared.stdout).toMatch(
      /^Key 3 of public\.c_iso shares the pool of small keys: 20 rows moved out of c_iso_customer_id_3, which was dropped with its 2 leaves; the table was locked for [\d.]+ ms\.$/m,
    );
    expect(await placement(t, '3')).toEqual({ in_pool: true, state: 'active' });
    await expectLedger(t);
  });

  describe('refuses bad input with a one-line reason and changes nothing', () => {
    let t: RoutedTable;
    beforeAll(async () => {
      t = await seeded('c_iso_bad');
      const plain = await createRoutedTable(db, { table: 'c_iso_plain', bucketLimit: 10 });
      await db.query(`INSERT INTO ${plain.view} (customer_id) VALUES (1)`);
    });
    const cases: [string[], RegExp][] = [
      [['key', 'isolate', '--table', 'c_iso_bad', '--value', '99'], /public\.c_iso_bad has no key 99/],
      [['key', 'share', '--table', 'c_iso_plain', '--value', '1'], /public\.c_iso_plain has no pool of small keys/],
      [['key', 'isolate', '--table', 'c_iso_bad_ledger', '--value', '2'], /is not managed by Partwise/],
    ];
    it.each(cases)('partwise %j', async (args, message) => {
      const result = await runCli([...args, '--url', db.url]);
      expect(result.stderr).toMatch(message);
      expect(result.code).toBe(1);
    });
    it('changed nothing', async () => {
      expect(await placement(t, '2')).toEqual({ in_pool: true, state: 'active' });
      expect(
        await db.query(`SELECT count(*)::int AS n FROM partwise.key_action WHERE table_name LIKE 'c_iso_%'`),
      ).toEqual([{ n: 0 }]);
      await expectLedger(t);
    });
  });
});

describe('kill -9 in the middle of isolate or share, then the command again', () => {
  it('isolate killed after the first closed bucket got its constraint NOT VALID: run again, it finishes', async () => {
    const t = await seeded('c_kill_check');
    // Key 9's rows fill pool buckets 10 and 11: buckets 0 to 9 are proved free of it.
    await write(t, `SELECT 9, 'late ' || g FROM generate_series(1, 20) g`);
    const child = await runCliUntil(key(t, 'isolate', '9'), 'key:isolate-after-check');
    await killHard(child, db.url);
    expect(await db.query(`SELECT status, step FROM partwise.key_action WHERE table_name = 'c_kill_check'`)).toEqual([
      { status: 'running', step: 'proving buckets free of the key' },
    ]);
    // The half-made constraint, NOT VALID; the pool still takes rows of every key, and updates of them.
    expect(
      await db.query(
        `SELECT conrelid::regclass::text AS leaf, convalidated FROM pg_constraint WHERE conname LIKE 'partwise_not_key_%'`,
      ),
    ).toEqual([{ leaf: 'c_kill_check_customer_id_shared_bucket_id_0', convalidated: false }]);
    await db.query(`UPDATE c_kill_check SET payload = payload WHERE customer_id IN (2, 9)`);
    await write(t, `SELECT 2 + g % 5, 'between ' || g FROM generate_series(1, 5) g`);
    await write(t, `SELECT 9, 'between'`);
    const again = await runCli(key(t, 'isolate', '9'));
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(
      /^Key 9 of public\.c_kill_check isolated: 21 rows moved .* locked for [\d.]+ ms, 3 pool leaves read \(10 closed buckets proved free of the key, not read\)\.$/m,
    );
    expect(
      await db.query(`SELECT status FROM partwise.key_action WHERE table_name = 'c_kill_check' ORDER BY action_id`),
    ).toEqual([{ status: 'interrupted' }, { status: 'succeeded' }]);
    expect(await placement(t, '9')).toEqual({ in_pool: false, state: 'active' });
    expect(
      await db.query(`SELECT count(*)::int AS n FROM pg_constraint WHERE conname LIKE 'partwise_not_key_%'`),
    ).toEqual([{ n: 0 }]);
    await expectLedger(t);
  });

  it('isolate killed after the switch committed: run again, nothing to do; share undoes it', async () => {
    const t = await seeded('c_kill_switch');
    const child = await runCliUntil(key(t, 'isolate', '4'), 'key:isolate-after-switch');
    await killHard(child, db.url);
    expect(await placement(t, '4')).toEqual({ in_pool: false, state: 'active' });
    await write(t, `SELECT 4, 'after ' || g FROM generate_series(1, 3) g`);
    const again = await runCli(key(t, 'isolate', '4'));
    expect(again.stdout).toContain('Key 4 of public.c_kill_switch has a partition of its own already; nothing done.');
    const undo = await runCliUntil(key(t, 'share', '4'), 'key:share-after-switch');
    await killHard(undo, db.url);
    expect(await placement(t, '4')).toEqual({ in_pool: true, state: 'active' });
    const shareAgain = await runCli(key(t, 'share', '4'));
    expect(shareAgain.stdout).toContain('Key 4 of public.c_kill_switch is in the pool already; nothing done.');
    expect(
      await db.query(`SELECT count(*)::int AS n FROM pg_class WHERE relname LIKE 'c_kill_switch_customer_id_4%'`),
    ).toEqual([{ n: 0 }]);
    await expectLedger(t);
  });

  it('a detach of a pooled key killed after its isolation: run again, it detaches the new partition', async () => {
    const t = await seeded('c_kill_detach');
    const child = await runCliUntil([...key(t, 'detach', '5'), '--yes'], 'key:isolate-after-switch');
    await killHard(child, db.url);
    expect(await placement(t, '5')).toEqual({ in_pool: false, state: 'active' });
    const again = await runCli([...key(t, 'detach', '5'), '--yes']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(
      /^Key 5 of public\.c_kill_detach detached: c_kill_detach_customer_id_5 is a standalone table \(20 rows/m,
    );
    await expectSameRows(
      db,
      `(SELECT * FROM c_kill_detach_ledger WHERE customer_id = 5) l`,
      'public.c_kill_detach_customer_id_5',
      'id, customer_id, payload',
    );
    await expectSameRows(
      db,
      `(SELECT * FROM c_kill_detach_ledger WHERE customer_id <> 5) l`,
      t.view,
      'id, customer_id, payload',
    );
  });

  it('a move of a pooled key killed after its isolation: run again, it moves the new partition', async () => {
    const t = await seeded('c_kill_move');
    const plan = await runCli([...key(t, 'move', '3'), '--tablespace', cold, '--dry-run']);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toMatch(/^ {4}1\. isolate: wait for the inserts under way/m);
    expect(plan.stdout).toContain(`ALTER TABLE <the new partition of key 3> SET TABLESPACE "${cold}";`);
    expect(plan.stdout).toMatch(/move 2 leaves of key 3 and their indexes to /);
    const child = await runCliUntil([...key(t, 'move', '3'), '--tablespace', cold], 'key:isolate-after-switch');
    await killHard(child, db.url);
    expect(await placement(t, '3')).toEqual({ in_pool: false, state: 'active' });
    await write(t, `SELECT 3, 'between ' || g FROM generate_series(1, 3) g`);
    const again = await runCli([...key(t, 'move', '3'), '--tablespace', cold]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(
      new RegExp(`^Key 3 of public\\.c_kill_move moved to tablespace ${cold}: 3 leaves`, 'm'),
    );
    expect(
      await db.query(
        `SELECT coalesce(ts.spcname, 'default') AS spc, count(*)::int AS n FROM pg_class c
           LEFT JOIN pg_tablespace ts ON ts.oid = c.reltablespace
          WHERE c.relname LIKE 'c_kill_move_customer_id_3%' GROUP BY 1`,
      ),
    ).toEqual([{ spc: cold, n: 8 }]);
    expect(
      await db.query(`SELECT status FROM partwise.key_action WHERE table_name = 'c_kill_move' ORDER BY action_id`),
    ).toEqual([{ status: 'interrupted' }, { status: 'succeeded' }]);
    await expectLedger(t);
  });

  it('a limit of a pooled key killed after its isolation: run again, it sets the limit', async () => {
    const t = await seeded('c_kill_limit');
    const child = await runCliUntil([...key(t, 'limit', '6'), '--bucket-limit', '4'], 'key:isolate-after-switch');
    await killHard(child, db.url);
    expect(await placement(t, '6')).toEqual({ in_pool: false, state: 'active' });
    const again = await runCli([...key(t, 'limit', '6'), '--bucket-limit', '4']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain(
      'Key 6 of public.c_kill_limit has a bucket limit of 4 for buckets opened from now on.',
    );
    expect(
      await db.query(
        `SELECT bucket_limit::int AS l FROM partwise.partition_tracker WHERE config_id = $1 AND key_value = '6'`,
        [t.configId],
      ),
    ).toEqual([{ l: 4 }]);
    await expectLedger(t);
  });
});
