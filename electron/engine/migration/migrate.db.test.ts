import type pg from 'pg';
import { describe, expect, it, beforeAll } from 'vitest';
import { migrate, resume, rollback, finalize, verifyRun, Journal, planMigration } from '../index.js';
import type { RunEvent } from '../../../shared/progress.js';
import { useTestDatabase } from '../../testing/database.js';
import { installPartwise } from '../../testing/fixtures.js';

const db = useTestDatabase('migrate');

beforeAll(async () => {
  await installPartwise(db);
});

/**
 * The same pool, but its cancel requests (pg_cancel_backend, sent from another
 * pooled connection) reach the server late, the worst case on a loaded
 * machine: a request waits until a backend it names queues for a lock that
 * \`blocker\` holds (or 1 s passes), goes out, and then the blocker lets go.
 */
function lateCancels(pool: pg.Pool, blocker: pg.Client): pg.Pool {
  const landLate = async (pids: number[]): Promise<void> => {
    for (const deadline = Date.now() + 1000; Date.now() < deadline;) {
      const { rows } = await pool.query<{ queued: boolean }>(
        `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = ANY($1::int[]) AND wait_event_type = 'Lock') AS queued`,
        [pids],
      );
      if (rows[0]!.queued) break;
    }
    await pool.query('SELECT pg_cancel_backend(pid) FROM unnest($1::int[]) pid', [pids]);
    await blocker.query('COMMIT');
  };
  return new Proxy(pool, {
    get(target, property) {
      if (property === 'query') {
        return async (...args: unknown[]) => {
          if (typeof args[0] === 'string' && args[0].includes('pg_cancel_backend')) {
            await landLate((args[1] as [number[]])[0]);
            return { rows: [] };
          }
          return (target.query as (...a: unknown[]) => unknown)(...args);
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

async function createSource(name: string, rows: number, keys: number): Promise<void> {
  await db.query(
    `CREATE TABLE ${name} (id bigserial PRIMARY KEY, customer_id int NOT NULL, payload text, created_at timestamptz NOT NULL DEFAULT now())`,
  );
  await db.query(`CREATE INDEX ON ${name} (created_at)`);
  await db.query(
    `INSERT INTO ${name} (customer_id, payload) SELECT (g % $2) + 1, 'row ' || g FROM generate_series(1, $1) g`,
    [rows, keys],
  );
  await db.query(`ANALYZE ${name}`);
}

describe('migrate', () => {
  it('turns a plain table into a routed, 2-level partitioned table with every row and the same behaviour', async () => {
    await createSource('orders', 5000, 7);
    const events: RunEvent[] = [];
    const outcome = await migrate(
      db.pool,
      [{ schema: 'public', table: 'orders', keyColumn: 'customer_id', bucketLimit: 300 }],
      {
        onEvent: (e) => events.push(e),
      },
    );
    expect(outcome.status, outcome.message).toBe('succeeded');
    expect(await db.query(`SELECT relkind FROM pg_class WHERE oid = 'public.orders'::regclass`)).toEqual([
      { relkind: 'v' },
    ]);
    expect(await db.query(`SELECT count(*)::int AS n FROM orders`)).toEqual([{ n: 5000 }]);
    expect(await db.query(`SELECT count(*)::int AS n FROM orders_backup`)).toEqual([{ n: 5000 }]);
    // Each key's rows are in buckets of at most 300.
    const leaves = await db.query<{ key: string; n: number }>(
      `SELECT tableoid::regclass::text AS key, count(*)::int AS n FROM orders_partitioned GROUP BY 1`,
    );
    expect(leaves.length).toBe(7 * Math.ceil(5000 / 7 / 300));
    for (const leaf of leaves) expect(leaf.n).toBeLessThanOrEqual(300);
    // The serial sequence continues and inserts are routed.
    const [inserted] = await db.query<{ id: string }>(
      `INSERT INTO orders (customer_id, payload) VALUES (3, 'new') RETURNING id`,
    );
    expect(Number(inserted!.id)).toBe(5001);
    await db.query(`INSERT INTO orders (customer_id, payload) VALUES (99, 'new key')`);
    expect(await db.query(`SELECT count(*)::int AS n FROM orders WHERE customer_id = 99`)).toEqual([{ n: 1 }]);
    // Index names moved to the new table.
    const indexes = await db.query<{ name: string }>(
      `SELECT indexrelid::regclass::text AS name FROM pg_index WHERE indrelid = 'orders_partitioned'::regclass ORDER BY 1`,
    );
    expect(indexes.map((i) => i.name)).toEqual(['orders_created_at_idx', 'orders_pkey']);
    // Each leaf has its two indexes, built once and attached (not built again).
    const perLeaf = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_partition_tree('orders_partitioned') t JOIN pg_index i ON i.indrelid = t.relid
        WHERE t.isleaf GROUP BY t.relid`,
    );
    expect(new Set(perLeaf.map((l) => l.n))).toEqual(new Set([2]));
    expect(
      await db.query(
        `SELECT count(*)::int AS n FROM pg_partition_tree('orders_pkey'::regclass) t JOIN pg_index i ON i.indexrelid = t.relid
          WHERE t.isleaf AND NOT i.indisvalid`,
      ),
    ).toEqual([{ n: 0 }]);
    // Phases were reported in order.
    const phases = events.filter((e) => e.type === 'phase').map((e) => (e as { phase: string }).phase);
    expect(phases).toEqual(
      expect.arrayContaining(['prepare', 'provision', 'copy', 'indexes', 'catch_up', 'cutover', 'verify', 'done']),
    );
    expect(events.at(-1)).toMatchObject({ type: 'finished', status: 'succeeded' });

    const runs = await new Journal('partwise').listRuns(db.pool);
    expect(runs[0]).toMatchObject({ runId: outcome.runId, status: 'succeeded', canFinalize: true, canRollback: true });

    // Planning the table again says it is managed, not what its routing view lacks as a table.
    const client = await db.connect();
    try {
      const again = await planMigration(
        client,
        { schema: 'public', table: 'orders', keyColumn: 'customer_id', bucketLimit: 300 },
        { counting: 'auto' },
      );
      expect(again.issues.map((i) => i.code)).toEqual(['already_managed']);
      expect(again.issues[0]!.message).toContain('routing view over orders_partitioned');
    } finally {
      await client.end();
    }
  });

  it('refuses an offline migration, which nothing would keep writes out of, before recording anything', async () => {
    await db.query(`CREATE TABLE offline_refused (id bigserial PRIMARY KEY, tenant int NOT NULL)`);
    await db.query(`INSERT INTO offline_refused (tenant) SELECT g % 3 FROM generate_series(1, 100) g`);
    const runsBefore = (await new Journal('partwise').listRuns(db.pool)).length;
    await expect(
      migrate(db.pool, [{ schema: 'public', table: 'offline_refused', keyColumn: 'tenant', bucketLimit: 50 }], {
        mode: 'offline',
      }),
    ).rejects.toMatchObject({
      kind: 'invalid_input',
      message: expect.stringMatching(/^Offline migrations are not available/),
    });
    expect(await new Journal('partwise').listRuns(db.pool)).toHaveLength(runsBefore);
    expect(await db.query(`SELECT relkind FROM pg_class WHERE oid = 'offline_refused'::regclass`)).toEqual([
      { relkind: 'r' },
    ]);
  });

  it('rolls back after the swap without losing rows written since', async () => {
    await createSource('invoices', 2000, 5);
    const outcome = await migrate(db.pool, [
      { schema: 'public', table: 'invoices', keyColumn: 'customer_id', bucketLimit: 100 },
    ]);
    expect(outcome.status, outcome.message).toBe('succeeded');
    await db.query(`INSERT INTO invoices (customer_id, payload) VALUES (1, 'after swap'), (42, 'new key after swap')`);
    await db.query(`UPDATE invoices SET payload = 'updated after swap' WHERE id = 10`);
    await db.query(`DELETE FROM invoices WHERE id = 11`);
    const back = await rollback(db.pool, outcome.runId);
    expect(back.status).toBe('rolled_back');
    expect(await db.query(`SELECT relkind FROM pg_class WHERE oid = 'public.invoices'::regclass`)).toEqual([
      { relkind: 'r' },
    ]);
    expect(await db.query(`SELECT count(*)::int AS n FROM invoices`)).toEqual([{ n: 2001 }]);
    expect(await db.query(`SELECT payload FROM invoices WHERE id = 10`)).toEqual([{ payload: 'updated after swap' }]);
    expect(await db.query(`SELECT count(*)::int AS n FROM invoices WHERE id = 11`)).toEqual([{ n: 0 }]);
    expect(await db.query(`SELECT count(*)::int AS n FROM invoices WHERE customer_id = 42`)).toEqual([{ n: 1 }]);
    expect(
      await db.query(`SELECT to_regclass('invoices_partitioned') AS t, to_regclass('invoices_backup') AS b`),
    ).toEqual([{ t: null, b: null }]);
    const [next] = await db.query<{ id: string }>(`INSERT INTO invoices (customer_id) VALUES (1) RETURNING id`);
    expect(Number(next!.id)).toBe(2003);
    expect(
      await db.query(
        `SELECT indexrelid::regclass::text AS name FROM pg_index WHERE indrelid = 'invoices'::regclass ORDER BY 1`,
      ),
    ).toEqual([{ name: 'invoices_created_at_idx' }, { name: 'invoices_pkey' }]);
  });

  it('finalizes: drops the backup and stops logging', async () => {
    await createSource('events', 500, 3);
    const outcome = await migrate(db.pool, [
      { schema: 'public', table: 'events', keyColumn: 'customer_id', bucketLimit: 100 },
    ]);
    expect(outcome.status, outcome.message).toBe('succeeded');
    await finalize(db.pool, outcome.runId);
    expect(await db.query(`SELECT to_regclass('events_backup') AS b`)).toEqual([{ b: null }]);
    expect(
      await db.query(
        `SELECT count(*)::int AS n FROM pg_trigger WHERE tgname LIKE 'partwise_capture%'
            AND tgrelid IN (SELECT relid FROM pg_partition_tree('events_partitioned'))`,
      ),
    ).toEqual([{ n: 0 }]);
    await expect(rollback(db.pool, outcome.runId)).rejects.toMatchObject({ kind: 'conflict' });
  });

  it('verification catches a row changed or lost behind its back, also for tables with unhashable (json) columns', async () => {
    await db.query(
      `CREATE TABLE audited (id bigserial PRIMARY KEY, customer_id int NOT NULL, doc json NOT NULL, note text)`,
    );
    await db.query(
      `INSERT INTO audited (customer_id, doc, note) SELECT g % 4, json_build_object('g', g), 'n' || g FROM generate_series(1, 800) g`,
    );
    const outcome = await migrate(db.pool, [
      { schema: 'public', table: 'audited', keyColumn: 'customer_id', bucketLimit: 50 },
    ]);
    expect(outcome.status, outcome.message).toBe('succeeded');
    expect((await verifyRun(db.pool, outcome.runId)).status).toBe('succeeded');
    // Writes through the table are logged and left out of the comparison...
    await db.query(`UPDATE audited SET note = 'legitimate' WHERE id = 1`);
    expect((await verifyRun(db.pool, outcome.runId)).status).toBe('succeeded');
    // ...but a change that bypasses the log (triggers disabled on a leaf) is found.
    const [{ leaf }] = (await db.query<{ leaf: string }>(
      `SELECT tableoid::regclass::text AS leaf FROM audited_partitioned WHERE id = 2`,
    )) as [{ leaf: string }];
    await db.query(`ALTER TABLE ${leaf} DISABLE TRIGGER ALL`);
    await db.query(`UPDATE ${leaf} SET note = 'tampered' WHERE id = 2`);
    const tampered = await verifyRun(db.pool, outcome.runId);
    expect(tampered.status).toBe('failed');
    expect(tampered.message).toMatch(/key 2: same row count \(\d+\) but different contents/);
    await db.query(`DELETE FROM ${leaf} WHERE id = 2`);
    const lost = await verifyRun(db.pool, outcome.runId);
    expect(lost.message).toMatch(/key 2: \d+ rows in the original, \d+ in the new table/);
  });

  // Cancels at named phase boundaries (the engine's beforePhase hook), never after a sleep.
  for (const phase of ['prepare', 'provision', 'indexes', 'catch_up', 'cutover', 'verify'] as const) {
    it(`rolls back when cancelled before ${phase}, and says so once, as the user's choice`, async () => {
      const table = `cancelled_${phase}`;
      await createSource(table, 3000, 4);
      const cancel = new AbortController();
      const events: RunEvent[] = [];
      const cancelled = await migrate(
        db.pool,
        [{ schema: 'public', table, keyColumn: 'customer_id', bucketLimit: 100 }],
        {
          signal: cancel.signal,
          onEvent: (e) => events.push(e),
          beforePhase: async (next) => {
            if (next === phase) cancel.abort();
          },
        },
      );
      expect(cancelled.status, cancelled.message).toBe('cancelled');
      expect(cancelled.message).toBe(`Run ${cancelled.runId} cancelled, rolled back: public.${table} is as it was`);
      expect(await db.query(`SELECT relkind FROM pg_class WHERE oid = $1::regclass`, [table])).toEqual([
        { relkind: 'r' },
      ]);
      expect(await db.query(`SELECT to_regclass($1) AS t`, [`${table}_partitioned`])).toEqual([{ t: null }]);
      expect(await db.query(`SELECT count(*)::int AS n FROM ${table}`)).toEqual([{ n: 3000 }]);
      // No error anywhere: not in the events, the journal's log, the run or its table.
      expect(events.filter((e) => e.type === 'log' && e.level === 'error')).toEqual([]);
      expect(events.filter((e) => e.type === 'finished')).toEqual([
        expect.objectContaining({ status: 'cancelled', message: cancelled.message }),
      ]);
      expect(
        await db.query(`SELECT level, message FROM partwise.migration_log WHERE run_id = $1 AND level <> 'info'`, [
          cancelled.runId,
        ]),
      ).toEqual([]);
      const run = (await new Journal('partwise').listRuns(db.pool)).find((r) => r.runId === cancelled.runId)!;
      expect(run).toMatchObject({ status: 'cancelled', error: null, canRollback: false, rollingBack: false });
      expect(run.targets[0]).toMatchObject({ status: 'rolled_back', error: null });
      expect(run.steps.at(-1)).toMatchObject({ phase: 'rollback', finishedAt: expect.any(String) });
    });
  }

  it('a cancel that reaches the server late stops only the work it was sent to, not the rollback', async () => {
    await createSource('late_cancel', 3000, 4);
    const cancel = new AbortController();
    const blocker = await db.connect();
    const cancelled = await migrate(
      lateCancels(db.pool, blocker),
      [{ schema: 'public', table: 'late_cancel', keyColumn: 'customer_id', bucketLimit: 100 }],
      {
        signal: cancel.signal,
        beforePhase: async (phase) => {
          if (phase !== 'indexes') return;
          // Writers hold the table when the cancel is sent: the rollback queues behind them.
          await blocker.query('BEGIN');
          await blocker.query('LOCK TABLE late_cancel IN ROW EXCLUSIVE MODE');
          cancel.abort();
        },
      },
    );
    await blocker.end();
    expect(cancelled.status, cancelled.message).toBe('cancelled');
    expect(await db.query(`SELECT to_regclass('late_cancel_partitioned') AS t`)).toEqual([{ t: null }]);
    expect(await db.query(`SELECT count(*)::int AS n FROM pg_trigger WHERE tgrelid = 'late_cancel'::regclass`)).toEqual(
      [{ n: 0 }],
    );
  });

  it('leaves an interrupted run resumable', async () => {
    await createSource('paused', 3000, 4);
    const interrupt = new AbortController();
    const interrupted = await migrate(
      db.pool,
      [{ schema: 'public', table: 'paused', keyColumn: 'customer_id', bucketLimit: 100 }],
      {
        interrupt: interrupt.signal,
        beforePhase: async (phase) => {
          if (phase === 'indexes') interrupt.abort();
        },
      },
    );
    expect(interrupted.status).toBe('interrupted');
    const runs = await new Journal('partwise').listRuns(db.pool);
    expect(runs.find((r) => r.runId === interrupted.runId)).toMatchObject({ status: 'interrupted', canResume: true });
    const resumed = await resume(db.pool, interrupted.runId);
    expect(resumed.status, resumed.message).toBe('succeeded');
    expect(await db.query(`SELECT count(*)::int AS n FROM paused`)).toEqual([{ n: 3000 }]);
  });
});
