// `partwise key ...` as users run it: plans, confirmations, JSON, exports to a
// file and to stdout, bad input refused with nothing changed, and kill -9 in
// the middle of a detach or a drop, then the same command again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { useTestDatabase } from '../testing/database.js';
import { expectSameRows } from '../testing/same-rows.js';
import { createRoutedTable, installPartwise, leafCounts, type RoutedTable } from '../testing/fixtures.js';
import { createTablespace, revokeTablespace } from '../testing/tablespace.js';
import { partitionTree } from '../engine/explorer.js';
import { killHard, runCli, runCliUntil } from '../testing/cli.js';

const db = useTestDatabase('key_cli');

async function seeded(table: string): Promise<RoutedTable> {
  const t = await createRoutedTable(db, { table, bucketLimit: 10 });
  await db.query(`CREATE TABLE ${table}_ledger (id bigint PRIMARY KEY, customer_id int NOT NULL, payload text)`);
  await write(t, 'seed', 45);
  return t;
}

/** Rows of keys 1, 2 and 3 (n in all), through routing, with the ledger in the same transaction. */
async function write(t: RoutedTable, label: string, n = 6): Promise<void> {
  await db.query(
    `WITH r AS (INSERT INTO ${t.view} (customer_id, payload) SELECT 1 + g % 3, $1 || ' ' || g FROM generate_series(1, $2) g
                RETURNING id, customer_id, payload)
     INSERT INTO ${t.table}_ledger SELECT * FROM r`,
    [label, n],
  );
}

async function state(t: RoutedTable, key: string): Promise<string | null> {
  const rows = await db.query<{ state: string }>(
    `SELECT state FROM partwise.partition_tracker WHERE config_id = $1 AND key_value = $2`,
    [t.configId, key],
  );
  return rows[0]?.state ?? null;
}

function expectSame(left: string, right: string): Promise<void> {
  return expectSameRows(db, left, right, 'id, customer_id, payload');
}

beforeAll(async () => {
  await installPartwise(db);
});

describe('partwise key', () => {
  it('shows the plan with --dry-run and changes nothing', async () => {
    const t = await seeded('c_plan');
    const text = await runCli(['key', 'drop', '--url', db.url, '--table', 'c_plan', '--value', '2', '--dry-run']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(
      'drop key 2 of public.c_plan (customer_id; state active; c_plan_customer_id_2: 2 leaves, 15 rows',
    );
    expect(text.stdout).toContain('DROP TABLE c_plan_customer_id_2;');
    expect(text.stdout).toMatch(/Locks:\n {4}FOR UPDATE on tracker row of key 2/);
    expect(text.stdout).toContain(
      db.major >= 14 ? 'DETACH PARTITION c_plan_customer_id_2 CONCURRENTLY;' : 'DETACH PARTITION c_plan_customer_id_2;',
    );
    const json = await runCli([
      'key',
      'detach',
      '--url',
      db.url,
      '--table',
      'c_plan',
      '--value',
      '1',
      '--value',
      '3',
      '--dry-run',
      '--json',
    ]);
    const plans = JSON.parse(json.stdout) as Array<{ keyValue: string; rows: number; state: string }>;
    expect(plans.map((p) => [p.keyValue, p.rows, p.state])).toEqual([
      ['1', 15, 'active'],
      ['3', 15, 'active'],
    ]);
    expect(await state(t, '2')).toBe('active');
    expect(await db.query(`SELECT count(*)::int AS n FROM partwise.key_action`)).toEqual([{ n: 0 }]);
  });

  describe('refuses bad input with a one-line reason and changes nothing', () => {
    beforeAll(async () => {
      await seeded('c_bad');
    });
    const cases: [string[], RegExp, number][] = [
      [['key', 'explode', '--table', 'c_bad', '--value', '1'], /partwise key needs an action: detach, attach, drop/, 2],
      [['key', 'detach', '--table', 'c_bad'], /--value is required/, 2],
      [
        ['key', 'limit', '--table', 'c_bad', '--value', '1', '--bucket-limit', '0'],
        /--bucket-limit must be a positive integer or none/,
        2,
      ],
      [['key', 'drop', '--table', 'c_bad', '--value', '1', '--then', 'maybe'], /--then must be refuse or recreate/, 2],
      [['key', 'detach', '--table', 'c_bad', '--value', '99', '--yes'], /public\.c_bad has no key 99/, 1],
      [
        ['key', 'detach', '--table', 'c_bad_ledger', '--value', '1', '--yes'],
        /public\.c_bad_ledger is not managed by Partwise/,
        1,
      ],
      [
        ['key', 'export', '--table', 'c_bad', '--value', '1', '--out', '/nonexistent/dir/x.csv'],
        /cannot write \/nonexistent\/dir\/x\.csv/,
        1,
      ],
      [['key', 'drop', '--table', 'c_bad', '--value', '1'], /Add --yes to run without a terminal/, 2],
      [['key', 'move', '--table', 'c_bad', '--value', '1'], /move needs --tablespace NAME/, 2],
      [['key', 'compact', '--table', 'c_bad', '--value', '1', '--tablespace', 'x'], /--tablespace goes with move/, 2],
      [
        ['key', 'move', '--table', 'c_bad', '--value', '1', '--tablespace', 'nowhere'],
        /tablespace nowhere does not exist/,
        1,
      ],
      [['key', 'history', '--table', 'c_bad_ledger'], /public\.c_bad_ledger is not managed by Partwise/, 1],
    ];
    // One test per command line: each starts the CLI, seconds apiece on a busy machine.
    it.each(cases)('partwise %j', async (args, message, code) => {
      const result = await runCli([...args, '--url', db.url]);
      expect(result.stderr).toMatch(message);
      expect(result.code).toBe(code);
    });

    it('changed nothing', async () => {
      expect(await db.query(`SELECT count(*)::int AS n FROM partwise.key_action WHERE table_name = 'c_bad'`)).toEqual([
        { n: 0 },
      ]);
      expect(await db.query(`SELECT count(*)::int AS n FROM c_bad`)).toEqual([{ n: 45 }]);
    });
  });

  it('detaches, attaches and drops several keys, with JSON results', async () => {
    const t = await seeded('c_many');
    const detached = await runCli([
      'key',
      'detach',
      '--url',
      db.url,
      '--table',
      'c_many',
      '--value',
      '1',
      '--value',
      '2',
      '--yes',
      '--json',
    ]);
    expect(detached.code, detached.stderr).toBe(0);
    const results = JSON.parse(detached.stdout) as Array<{ keyValue: string; state: string; rows: number }>;
    expect(results.map((r) => [r.keyValue, r.state, r.rows])).toEqual([
      ['1', 'detached', 15],
      ['2', 'detached', 15],
    ]);
    const attached = await runCli(['key', 'attach', '--url', db.url, '--table', 'c_many', '--value', '1']);
    expect(attached.stdout).toBe('Key 1 of public.c_many attached again: routing places its rows.\n');
    const dropped = await runCli([
      'key',
      'drop',
      '--url',
      db.url,
      '--table',
      'c_many',
      '--value',
      '2',
      '--then',
      'recreate',
      '--yes',
    ]);
    expect(dropped.stdout).toMatch(
      /^Key 2 of public\.c_many dropped: 15 rows, [\d.]+ kB deleted; a later row of the key is placed in new partitions\.\n$/,
    );
    // The journal, newest first, of this table only.
    const history = await runCli(['key', 'history', '--url', db.url, '--table', 'c_many']);
    expect(history.code, history.stderr).toBe(0);
    const lines = history.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^#\s+started\s+took\s+table\s+key\s+action\s+status\s+rows, bytes\s+step$/);
    expect(lines.slice(1).map((l) => l.split(/\s{2,}/).slice(3, 7))).toEqual([
      ['public.c_many', '2', 'drop', 'succeeded'],
      ['public.c_many', '1', 'attach', 'succeeded'],
      ['public.c_many', '2', 'detach', 'succeeded'],
      ['public.c_many', '1', 'detach', 'succeeded'],
    ]);
    const historyJson = await runCli(['key', 'history', '--url', db.url, '--table', 'c_many', '--json']);
    const entries = JSON.parse(historyJson.stdout) as Array<{ action: string; keyValue: string; rows: number | null }>;
    expect(entries.map((e) => [e.action, e.keyValue])).toEqual([
      ['drop', '2'],
      ['attach', '1'],
      ['detach', '2'],
      ['detach', '1'],
    ]);
    expect(entries[0]!.rows).toBe(15);
    await write(t, 'after');
    expect(await state(t, '2')).toBe('active');
    await expectSame(
      '(SELECT * FROM c_many_ledger WHERE id NOT IN (SELECT id FROM c_many_ledger WHERE customer_id = 2 AND payload LIKE $$seed%$$)) l',
      t.view,
    );
  });

  it('exports a key as CSV to a file and in the COPY binary format to stdout', async () => {
    await seeded('c_export');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'partwise-export-'));
    const file = path.join(dir, 'tenant 3.csv');
    const result = await runCli([
      'key',
      'export',
      '--url',
      db.url,
      '--table',
      'c_export',
      '--value',
      '3',
      '--out',
      file,
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^Key 3 of public\.c_export: 15 rows exported \(\d+ B\)\.\n$/);
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n');
    expect(lines[0]).toBe('id,customer_id,payload');
    const expected = await db.query<{ line: string }>(
      `SELECT id || ',3,' || payload AS line FROM c_export WHERE customer_id = 3 ORDER BY id`,
    );
    expect(lines.slice(1).sort()).toEqual(expected.map((e) => e.line).sort());

    const binary = await runCli([
      'key',
      'export',
      '--url',
      db.url,
      '--table',
      'c_export',
      '--value',
      '3',
      '--format',
      'binary',
    ]);
    expect(binary.code, binary.stderr).toBe(0);
    expect(binary.stdout.startsWith('PGCOPY\n')).toBe(true);
    expect(binary.stderr).toMatch(/15 rows exported/);
    fs.rmSync(dir, { recursive: true });
  });
});

describe('kill -9 in the middle of a key action, then the same command again', () => {
  for (const [action, point] of [
    ['detach', 'key:after-begin'],
    ['detach', 'key:after-detach'],
    ['drop', 'key:after-begin'],
    ['drop', 'key:after-detach'],
  ] as const) {
    it(`finishes a ${action} killed at ${point}, with every committed row of the other keys in place`, async () => {
      const name = `c_${action}_${point.replace(/\W+/g, '_')}`;
      const t = await seeded(name);
      const child = await runCliUntil(
        ['key', action, '--url', db.url, '--table', name, '--value', '1', '--yes'],
        point,
      );
      await killHard(child, db.url);
      const [journal] = await db.query<{ status: string; step: string }>(
        `SELECT status, step FROM partwise.key_action WHERE table_name = $1`,
        [name],
      );
      expect(journal).toMatchObject({ status: 'running' });
      // No session holds the key's lock any more: the history says the action was interrupted, and where.
      const history = await runCli(['key', 'history', '--url', db.url, '--table', name]);
      expect(history.stdout).toMatch(
        new RegExp(
          `public\\.${name}\\s+1\\s+${action}\\s+interrupted\\s+stopped at: ${journal!.step.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`,
        ),
      );
      // The key refuses rows while the action is unfinished; the others take them.
      expect(await state(t, '1')).toBe(action === 'detach' ? 'detaching' : 'dropping');
      await expect(db.query(`INSERT INTO ${t.view} (customer_id, payload) VALUES (1, 'refused')`)).rejects.toThrow(
        `partwise: key 1 of public.${name} is`,
      );
      await db.query(
        `WITH r AS (INSERT INTO ${t.view} (customer_id, payload) VALUES (2, 'between'), (3, 'between') RETURNING id, customer_id, payload)
         INSERT INTO ${name}_ledger SELECT * FROM r`,
      );

      const again = await runCli(['key', action, '--url', db.url, '--table', name, '--value', '1', '--yes']);
      expect(again.code, again.stderr).toBe(0);
      const rows = await db.query<{ status: string }>(
        `SELECT status FROM partwise.key_action WHERE table_name = $1 ORDER BY action_id`,
        [name],
      );
      expect(rows.map((r) => r.status)).toEqual(['interrupted', 'succeeded']);
      await expectSame(`(SELECT * FROM ${name}_ledger WHERE customer_id <> 1) l`, t.view);
      if (action === 'detach') {
        expect(await state(t, '1')).toBe('detached');
        await expectSame(`(SELECT * FROM ${name}_ledger WHERE customer_id = 1) l`, `public.${name}_customer_id_1`);
      } else {
        expect(await state(t, '1')).toBeNull();
        expect(await db.query(`SELECT to_regclass($1) AS r`, [`public.${name}_customer_id_1`])).toEqual([{ r: null }]);
        expect(again.stdout).toMatch(/dropped: 15 rows/);
      }
    });
  }
});

describe('kill -9 in the middle of a move or a compaction, then the same command again', () => {
  let cold = '';
  beforeAll(async () => {
    cold = await createTablespace(db, 'cold', true);
  });
  afterAll(async () => {
    await revokeTablespace(db, cold);
  });

  /** Key 1 with 5 closed buckets of 3 rows each and its current bucket; the ledger kept in step. */
  async function sparse(name: string): Promise<RoutedTable> {
    const t = await seeded(name);
    await db.query(
      `WITH r AS (INSERT INTO ${t.view} (customer_id, payload) SELECT 1, 'more ' || g FROM generate_series(1, 40) g
                  RETURNING id, customer_id, payload)
       INSERT INTO ${name}_ledger SELECT * FROM r`,
    );
    await db.query(
      `WITH d AS (DELETE FROM ${t.root} WHERE (id, bucket_id) IN (
                    SELECT id, bucket_id FROM (SELECT id, bucket_id, row_number() OVER (PARTITION BY bucket_id ORDER BY id) AS n
                                                 FROM ${t.root} WHERE customer_id = 1 AND bucket_id < 5) r WHERE n > 3)
                  AND customer_id = 1 RETURNING id)
       DELETE FROM ${name}_ledger l USING d WHERE l.id = d.id`,
    );
    return t;
  }

  it('finishes a compaction killed after its first batch: the key reads as compacting meanwhile, nothing is lost', async () => {
    const t = await sparse('c_compact_crash');
    const child = await runCliUntil(
      ['key', 'compact', '--url', db.url, '--table', 'c_compact_crash', '--value', '1'],
      'key:compact-after-batch',
    );
    await killHard(child, db.url);
    const tree = await partitionTree(db.pool, 'partwise', t.configId, false);
    expect(tree.levelOne.find((l) => l.keyValue === '1')?.state).toBe('compacting');
    // Routing goes on meanwhile.
    await write(t, 'between');
    const again = await runCli(['key', 'compact', '--url', db.url, '--table', 'c_compact_crash', '--value', '1']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/Key 1 of public\.c_compact_crash compacted: \d+ rows moved/);
    const rows = await db.query<{ status: string }>(
      `SELECT status FROM partwise.key_action WHERE table_name = 'c_compact_crash' ORDER BY action_id`,
    );
    expect(rows.map((r) => r.status)).toEqual(['interrupted', 'succeeded']);
    await expectSame('c_compact_crash_ledger', t.view);
    const leaves = await leafCounts(db, t.configId);
    for (const leaf of leaves) expect(leaf.rows).toBeLessThanOrEqual(leaf.capacity);
    // 15 rows of 5 closed buckets fit in 2.
    expect(leaves.filter((l) => l.key_value === '1' && l.bucket_id < 5).map((l) => l.rows)).toEqual([10, 5]);
    const after = await partitionTree(db.pool, 'partwise', t.configId, false);
    expect(after.levelOne.find((l) => l.keyValue === '1')?.state).toBe('active');
  });

  it('finishes a move killed after its first leaf: the key reads as moving meanwhile, nothing is lost', async () => {
    const t = await seeded('c_move_crash');
    const args = ['key', 'move', '--url', db.url, '--table', 'c_move_crash', '--value', '1', '--tablespace', cold];
    const child = await runCliUntil(args, 'key:move-after-leaf');
    await killHard(child, db.url);
    const tree = await partitionTree(db.pool, 'partwise', t.configId, false);
    expect(tree.levelOne.find((l) => l.keyValue === '1')?.state).toBe('moving');
    const [journal] = await db.query<{ detail: { movedLeaves: string[] } }>(
      `SELECT detail FROM partwise.key_action WHERE table_name = 'c_move_crash'`,
    );
    expect(journal!.detail.movedLeaves).toEqual(['c_move_crash_customer_id_1_bucket_id_0']);
    await write(t, 'between');
    const again = await runCli([...args, '--json']);
    expect(again.code, again.stderr).toBe(0);
    const [result] = JSON.parse(again.stdout) as Array<{ message: string; changed: boolean }>;
    // Bucket 0 was moved before the kill; bucket 1 is left.
    expect(result!.message).toContain(`moved to tablespace ${cold}: 1 leaf`);
    await expectSame('c_move_crash_ledger', t.view);
    const places = await db.query<{ spc: string | null }>(
      `SELECT t.spcname AS spc FROM pg_partition_tree('public.c_move_crash_customer_id_1') p
         JOIN pg_class c ON c.oid = p.relid LEFT JOIN pg_tablespace t ON t.oid = c.reltablespace`,
    );
    expect(places.map((p) => p.spc)).toEqual([cold, cold, cold]);
  });
});
