// The SQL entry points a DBA (or cron) calls directly, in a transaction that
// is not READ COMMITTED (a database or role may default to REPEATABLE READ).
// Those that lock, then read what the sessions they waited for wrote, refuse
// (require_read_committed, sql/functions/04_read_committed.sql); CALL
// maintain makes each of its transactions READ COMMITTED itself. Partwise's
// own connections are READ COMMITTED (session-defaults.ts) and are not
// refused.
//
// A writer's change is made to come in while the call waits for its lock:
// the writer's transaction is open as the call starts, and commits once the
// call waits for it (pg_blocking_pids), so the change commits after the
// call's snapshot and before its lock. Without the guard, key_share_switch
// dropped that row with the key's partition, key_drop_empty_buckets dropped
// the leaf that row was in, and CALL maintain failed with a serialization
// error at the key the writer had opened a bucket of.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from '../testing/database.js';
import { createRoutedTable, installPartwise, type RoutedTable } from '../testing/fixtures.js';
import { runKeyAction } from './keys/run.js';
import { PartwiseError } from '../db/errors.js';

const db = useTestDatabase('isolation_guard');
/** Connections as the table's owner that default to REPEATABLE READ, as a role or database setting makes them. */
let repeatableRead: pg.Pool;

beforeAll(async () => {
  await installPartwise(db);
  repeatableRead = new pg.Pool({
    connectionString: db.url,
    options: '-c default_transaction_isolation=repeatable\\ read',
    max: 4,
  });
});

afterAll(async () => {
  await repeatableRead.end();
});

interface Outcome {
  rows?: Record<string, unknown>[];
  error?: { code?: string; message: string; hint?: string };
  /** Whether the call waited for the writer (a refused call does not). */
  waited: boolean;
  /** The session's transaction_isolation after the call (and its COMMIT or ROLLBACK). */
  sessionIsolation: string;
}

/**
 * A DBA's session runs `setup` (its isolation), then `call`, while a
 * writer's transaction that ran `write` is open; the writer commits once the
 * call waits for it (pg_blocking_pids), or once the call ended without
 * waiting (refused). The session then commits (rolls back after an error).
 */
async function callWhileWriterCommits(
  write: string,
  setup: string[],
  call: string,
  values: unknown[],
): Promise<Outcome> {
  const session = await db.connect();
  const writer = await db.connect();
  try {
    await writer.query('BEGIN');
    await writer.query(write);
    for (const statement of setup) await session.query(statement);
    const sessionPid = (session as unknown as { processID: number }).processID;
    const writerPid = (writer as unknown as { processID: number }).processID;
    let settled = false;
    const running: Promise<Pick<Outcome, 'rows' | 'error'>> = session.query(call, values).then(
      (result) => ({ rows: result.rows as Record<string, unknown>[] }),
      (error: Outcome['error']) => ({ error }),
    );
    void running.finally(() => {
      settled = true;
    });
    let waited = false;
    while (!settled && !waited) {
      const [row] = await db.query<{ waits: boolean }>(`SELECT $1::int = ANY (pg_blocking_pids($2)) AS waits`, [
        writerPid,
        sessionPid,
      ]);
      waited = row!.waits;
      if (!waited) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await writer.query('COMMIT');
    const outcome = await running;
    // Outside a transaction block (a CALL), PostgreSQL only warns.
    await session.query(outcome.error ? 'ROLLBACK' : 'COMMIT');
    const [isolation] = (await session.query<{ i: string }>(`SELECT current_setting('transaction_isolation') AS i`))
      .rows;
    return { ...outcome, waited, sessionIsolation: isolation!.i };
  } finally {
    await writer.end();
    await session.end();
  }
}

/** Key 1 with a partition of its own (5 rows), then the pool of small keys. */
async function sharedTable(name: string): Promise<RoutedTable> {
  const t = await createRoutedTable(db, { table: name, bucketLimit: 100 });
  await db.query(`INSERT INTO ${t.view} (customer_id, payload) SELECT 1, 'before' FROM generate_series(1, 5)`);
  await db.query('SELECT partwise.share_small_keys($1, 1000)', [t.configId]);
  return t;
}

async function keyRows(t: RoutedTable, key: number): Promise<number> {
  const [row] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${t.view} WHERE customer_id = $1`, [key]);
  return row!.n;
}

describe('key_share_switch called directly', () => {
  it('refuses under REPEATABLE READ, where it dropped a row committed by a writer it waited for', async () => {
    const t = await sharedTable('share_rr');
    const outcome = await callWhileWriterCommits(
      `INSERT INTO ${t.view} (customer_id, payload) VALUES (1, 'late')`,
      ['BEGIN ISOLATION LEVEL REPEATABLE READ'],
      `SELECT rows_moved::int AS moved FROM partwise.key_share_switch($1, '1')`,
      [t.configId],
    );
    // Every row of the key is still there: the writer's included.
    expect(await keyRows(t, 1)).toBe(6);
    expect(outcome.rows).toBeUndefined();
    expect(outcome.error?.code).toBe('25000');
    expect(outcome.error?.message).toBe(
      'partwise: key_share_switch (partwise key share) must run at READ COMMITTED, and this transaction is REPEATABLE READ',
    );
    expect(outcome.error?.hint).toContain(`SET default_transaction_isolation = 'read committed'`);
  });

  it('moves every row at READ COMMITTED, the writer it waited for included', async () => {
    const t = await sharedTable('share_rc');
    const outcome = await callWhileWriterCommits(
      `INSERT INTO ${t.view} (customer_id, payload) VALUES (1, 'late')`,
      [`SET default_transaction_isolation = 'repeatable read'`, 'BEGIN ISOLATION LEVEL READ COMMITTED'],
      `SELECT rows_moved::int AS moved FROM partwise.key_share_switch($1, '1')`,
      [t.configId],
    );
    expect(outcome.error).toBeUndefined();
    expect(outcome.waited).toBe(true);
    expect(outcome.rows).toEqual([{ moved: 6 }]);
    expect(await keyRows(t, 1)).toBe(6);
    expect(
      await db.query(`SELECT in_pool FROM partwise.partition_tracker WHERE config_id = $1 AND key_value = '1'`, [
        t.configId,
      ]),
    ).toEqual([{ in_pool: true }]);
  });
});

describe('key_drop_empty_buckets called directly', () => {
  it('refuses under REPEATABLE READ, where it dropped a leaf a writer it waited for had written a row to', async () => {
    // Key 3 in buckets 0 to 2 (limit 10), bucket 0 emptied; the writer's row
    // goes to that leaf around the view, as the table's owner may.
    const t = await createRoutedTable(db, { table: 'drop_empty_rr', bucketLimit: 10 });
    await db.query(`INSERT INTO ${t.view} (customer_id, payload) SELECT 3, 'before' FROM generate_series(1, 25)`);
    await db.query(`DELETE FROM ${t.root} WHERE customer_id = 3 AND bucket_id = 0`);
    const [bucket] = await db.query<{ leaf: string }>(
      `SELECT leaf_partition::text AS leaf FROM partwise.partition_bucket
        WHERE config_id = $1 AND key_value = '3' AND bucket_id = 0`,
      [t.configId],
    );
    const outcome = await callWhileWriterCommits(
      `INSERT INTO ${bucket!.leaf} (customer_id, payload, bucket_id) VALUES (3, 'late', 0)`,
      ['BEGIN ISOLATION LEVEL REPEATABLE READ'],
      `SELECT partwise.key_drop_empty_buckets($1, '3', ARRAY[0]) AS dropped`,
      [t.configId],
    );
    expect(await keyRows(t, 3)).toBe(16);
    expect(outcome.error?.code).toBe('25000');
  });
});

describe('CALL maintain in a session that defaults to REPEATABLE READ', () => {
  it('runs each of its transactions at READ COMMITTED: a writer opening a bucket meanwhile does not stop it', async () => {
    // Bucket limit 10, key 2 with 10 rows: the writer's row opens bucket 1,
    // holding the key's tracker row until it commits.
    const t = await createRoutedTable(db, { table: 'maintain_rr', bucketLimit: 10 });
    await db.query(`INSERT INTO ${t.view} (customer_id, payload) SELECT 2, 'before' FROM generate_series(1, 10)`);
    const outcome = await callWhileWriterCommits(
      `INSERT INTO ${t.view} (customer_id, payload) VALUES (2, 'opens bucket 1')`,
      [`SET default_transaction_isolation = 'repeatable read'`],
      'CALL partwise.maintain($1)',
      [t.configId],
    );
    expect(outcome.error).toBeUndefined();
    expect(outcome.waited).toBe(true);
    // maintain_key read the tracker as the writer left it (bucket 1, 11 tickets).
    expect(
      await db.query(
        `SELECT current_bucket_id, rows_assigned::int AS rows_assigned FROM partwise.partition_tracker
          WHERE config_id = $1 AND key_value = '2'`,
        [t.configId],
      ),
    ).toEqual([{ current_bucket_id: 1, rows_assigned: 11 }]);
    // The session's own default is left as it was.
    expect(outcome.sessionIsolation).toBe('repeatable read');
  });
});

describe('the other entry points that lock, then read', () => {
  it('each refuses a REPEATABLE READ or SERIALIZABLE transaction, naming itself', async () => {
    const t = await sharedTable('refusals');
    const calls: Array<[string, string, unknown[]]> = [
      ['key_isolate_switch (partwise key isolate)', `SELECT * FROM partwise.key_isolate_switch($1, '1')`, [t.configId]],
      [
        'key_drop_partitions (partwise key drop)',
        `SELECT * FROM partwise.key_drop_partitions($1, '1', 'refuse')`,
        [t.configId],
      ],
      [
        'key_compact_batch (partwise key compact)',
        `SELECT partwise.key_compact_batch($1, '1', 0, 1, 10)`,
        [t.configId],
      ],
      [
        'key_drop_empty_buckets (partwise key compact)',
        `SELECT partwise.key_drop_empty_buckets($1, '1', ARRAY[0])`,
        [t.configId],
      ],
      [
        'carry_back_changes (a rollback)',
        `SELECT partwise.carry_back_changes('no_log', $1::regclass, $1::regclass, ARRAY['id']::name[], 'customer_id', 'bucket_id')`,
        [t.root],
      ],
    ];
    const session = await db.connect();
    try {
      for (const isolation of ['REPEATABLE READ', 'SERIALIZABLE']) {
        for (const [what, text, values] of calls) {
          await session.query(`BEGIN ISOLATION LEVEL ${isolation}`);
          const error = await session.query(text, values).then(
            () => null,
            (e: { code?: string; message: string }) => e,
          );
          await session.query('ROLLBACK');
          expect({ what, isolation, code: error?.code, message: error?.message }).toEqual({
            what,
            isolation,
            code: '25000',
            message: `partwise: ${what} must run at READ COMMITTED, and this transaction is ${isolation}`,
          });
        }
      }
      // Nothing moved, nothing dropped.
      expect(await keyRows(t, 1)).toBe(5);
    } finally {
      await session.end();
    }
  });

  it('CALL uninstall refuses a session that defaults to REPEATABLE READ, and leaves the table managed', async () => {
    const t = await createRoutedTable(db, { table: 'uninstall_rr', bucketLimit: 10 });
    const session = await db.connect();
    try {
      await session.query(`SET default_transaction_isolation = 'repeatable read'`);
      const error = await session.query('CALL partwise.uninstall($1)', [t.configId]).then(
        () => null,
        (e: { code?: string; message: string; hint?: string }) => e,
      );
      expect(error?.code).toBe('25000');
      expect(error?.message).toBe(
        `partwise: CALL partwise.uninstall(${t.configId}) must run at READ COMMITTED, and this transaction is REPEATABLE READ`,
      );
      // As the app would show it, if one of its connections were not READ COMMITTED.
      expect(PartwiseError.from(error)).toMatchObject({ kind: 'blocked', sqlstate: '25000', hint: error?.hint });
      expect(error?.hint).toContain('(the database or role defaults to REPEATABLE READ)');
      expect(
        await db.query(`SELECT c.relkind::text AS kind FROM pg_class c WHERE c.oid = $1::regclass`, [t.view]),
      ).toEqual([{ kind: 'v' }]);
      await session.query(`SET default_transaction_isolation = 'read committed'`);
      await session.query('CALL partwise.uninstall($1)', [t.configId]);
      expect(
        await db.query(`SELECT c.relkind::text AS kind FROM pg_class c WHERE c.oid = $1::regclass`, [t.view]),
      ).toEqual([{ kind: 'p' }]);
    } finally {
      await session.end();
    }
  });
});

describe("the engine's key actions on connections that default to REPEATABLE READ", () => {
  it('share and isolate a key (the engine sets READ COMMITTED)', async () => {
    const t = await sharedTable('engine_rr');
    const table = { schema: t.schema, name: t.table };
    const run = { installSchema: 'partwise' };
    // Before the engine takes its connections (it sets them READ COMMITTED, and they go back to the pool so).
    expect((await repeatableRead.query('SHOW default_transaction_isolation')).rows).toEqual([
      { default_transaction_isolation: 'repeatable read' },
    ]);
    expect(await runKeyAction(repeatableRead, table, '1', 'share', {}, run)).toMatchObject({ changed: true, rows: 5 });
    expect(await runKeyAction(repeatableRead, table, '1', 'isolate', {}, run)).toMatchObject({
      changed: true,
      rows: 5,
    });
    expect(await keyRows(t, 1)).toBe(5);
    expect(
      await db.query(`SELECT in_pool FROM partwise.partition_tracker WHERE config_id = $1 AND key_value = '1'`, [
        t.configId,
      ]),
    ).toEqual([{ in_pool: false }]);
  });
});
