// A unique registry (unique-registry.ts) is filled from the original table a
// block range per short transaction, as the copy is, never in one snapshot of
// the whole table: the ranges are made small here (chunkBlocks) so that a
// small table takes dozens of them, while the application writes as a role
// with only its grants, each write recorded in a ledger in the same
// transaction, and a sampler reads Partwise's sessions from pg_stat_activity.
// Then: a fill killed (kill -9) after its first range resumes with the
// ranges left, adding no row twice; and a table rewritten mid-fill (its rows
// moved without a log entry) is filled again from the start.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../index.js';
import { Journal } from '../journal.js';
import type { RunEvent } from '../../../shared/progress.js';
import { useTestDatabase, type TestRole } from '../../testing/database.js';
import { installPartwise } from '../../testing/fixtures.js';
import { killHard, runCli, runMigrateCliUntil } from '../../testing/cli.js';
import { createMirroredTable, expectMirrored, mirroredWrites } from '../../testing/mirror.js';
import { startSnapshotSampler } from '../../testing/snapshot-sampler.js';
import { startRoundWriters } from '../../testing/round-writers.js';
import { expectSameRows } from '../../testing/same-rows.js';

const db = useTestDatabase('registry_fill');
let partwise: pg.Pool;
let app: TestRole;

beforeAll(async () => {
  await installPartwise(db);
  app = await db.createRole('app');
  partwise = new pg.Pool({ connectionString: db.url, application_name: 'partwise', max: 6 });
});

afterAll(async () => {
  await partwise.end();
});

const ROWS = 200_000;
const KEYS = 20;
/** The application's rounds touch rows ROUND_STRIDE * round + 0..3 (each round its own rows). */
const ROUND_STRIDE = 7;

/**
 * One transaction of the application, mirrored in `<table>_expected`: a new
 * row, a code changed to a new value, two rows trading codes (through a
 * temporary value), a row deleted.
 */
async function write(client: pg.ClientBase, table: string, round: number): Promise<void> {
  const base = round * ROUND_STRIDE;
  const both = async (statement: string, params: unknown[]): Promise<void> => {
    await client.query(statement.replace('$table', table), params);
    await client.query(statement.replace('$table', `${table}_expected`), params);
  };
  await client.query('BEGIN');
  try {
    const { rows } = await client.query<{ id: string }>(
      `INSERT INTO ${table} (customer_id, code, payload) VALUES ($1, $2, 'new') RETURNING id`,
      [1 + (round % KEYS), `n${round}`],
    );
    await client.query(`INSERT INTO ${table}_expected (id, customer_id, code, payload) VALUES ($1, $2, $3, 'new')`, [
      rows[0]!.id,
      1 + (round % KEYS),
      `n${round}`,
    ]);
    await both(`UPDATE $table SET code = $2 WHERE id = $1`, [base, `m${round}`]);
    await both(`UPDATE $table SET code = $2 WHERE id = $1`, [base + 1, `t${round}`]);
    await both(`UPDATE $table SET code = $2 WHERE id = $1`, [base + 2, `c${base + 1}`]);
    await both(`UPDATE $table SET code = $2 WHERE id = $1`, [base + 1, `c${base + 2}`]);
    await both(`DELETE FROM $table WHERE id = $1`, [base + 3]);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/** Rows of the registry of `constraint` that the table lacks, and the other way round, doubles included. */
async function registryDrift(constraint: string, table: string, columns: string[]): Promise<unknown[]> {
  const [registry] = await db.query<{ table: string }>(
    `SELECT registry_table AS table FROM partwise.unique_registry WHERE constraint_name = $1`,
    [constraint],
  );
  const list = columns.join(', ');
  return db.query(
    `(SELECT 'registry only' AS side, ${list} FROM partwise.${registry!.table} EXCEPT ALL SELECT 'registry only', ${list} FROM ${table})
     UNION ALL
     (SELECT 'table only', ${list} FROM ${table} EXCEPT ALL SELECT 'table only', ${list} FROM partwise.${registry!.table})
     LIMIT 5`,
  );
}

describe('a unique registry filled range by range', () => {
  it('fills in short transactions while the application writes, losing no write and refusing duplicates', async () => {
    const table = 'filling';
    await db.query(`CREATE TABLE ${table} (id bigserial PRIMARY KEY, customer_id int NOT NULL,
      code text NOT NULL CONSTRAINT ${table}_code_key UNIQUE, payload text NOT NULL)`);
    await db.query(
      `INSERT INTO ${table} (customer_id, code, payload) SELECT 1 + g % $2, 'c' || g, '' FROM generate_series(1, $1) g`,
      [ROWS, KEYS],
    );
    await db.query(`CREATE TABLE ${table}_expected AS SELECT * FROM ${table}`);
    await db.query(`VACUUM ANALYZE ${table}`);
    await db.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ${table}, ${table}_expected TO ${app.sql}`);
    await db.query(`GRANT USAGE ON SEQUENCE ${table}_id_seq TO ${app.sql}`);

    const writers = await Promise.all([app.connect(), app.connect()]);
    let roundsAtIndexes = 0;
    let roundsAtCatchUp = 0;
    const writing = startRoundWriters(writers, (client, round) => write(client, table, round), {
      lastRound: ROWS / ROUND_STRIDE,
      pauseMs: 10,
    });
    const events: RunEvent[] = [];
    const sampler = startSnapshotSampler(db, { everyMs: 5, holdingHorizon: true });
    try {
      const outcome = await migrate(
        partwise,
        [{ schema: 'public', table, keyColumn: 'customer_id', bucketLimit: 4000 }],
        {
          workers: 2,
          chunkBlocks: 16,
          onEvent: (event) => events.push(event),
          beforePhase: async (phase) => {
            if (phase === 'indexes') roundsAtIndexes = writing.rounds();
            // The writes the registries' log must carry are those made while
            // they are filled; catching up under writes is catch-up-load.db.test.ts's.
            if (phase === 'catch_up') roundsAtCatchUp = await writing.stop();
          },
        },
      );
      expect(outcome.status, outcome.message).toBe('succeeded');
    } finally {
      await writing.stop();
      for (const client of writers) await client.end();
      await sampler.stop();
    }
    expect(writing.errors).toEqual([]);
    expect(roundsAtCatchUp).toBeGreaterThan(roundsAtIndexes);

    // The ledger both ways, and both registries equal to the table, no entry twice.
    await expectSameRows(db, `${table}_expected`, table, 'id, customer_id, code, payload');
    expect(await registryDrift(`${table}_pkey`, table, ['id'])).toEqual([]);
    expect(await registryDrift(`${table}_code_key`, table, ['code', 'id'])).toEqual([]);

    // Filled by dozens of transactions (each entry keeps the xmin of the one that added it), none of them
    // adding more than a tenth of the rows: one transaction over the whole table would have added them all.
    const [fill] = await db.query<{ transactions: number; most: number; rows: number }>(
      `SELECT count(*)::int AS transactions, max(n)::int AS most, sum(n)::int AS rows
         FROM (SELECT count(*) AS n FROM partwise.${table}_pkey_registry GROUP BY xmin::text) t`,
    );
    expect(fill!.transactions).toBeGreaterThanOrEqual(20);
    expect(fill!.most).toBeLessThanOrEqual(fill!.rows / 10);
    // Built beside the catch-up's appliers, whose progress counts changes: the log says how it went.
    expect(
      events.some(
        (e) =>
          e.type === 'log' &&
          /registr(y|ies) filled in \d+ block ranges \(.*\), (its unique index|their unique indexes) built/.test(
            e.message,
          ),
      ),
    ).toBe(true);

    // No transaction of the fill lasted more than a quarter of the fill. (The unique index is
    // built afterwards, one transaction that sorts the registry: snapshot-age.db.test.ts bounds
    // it, with every other transaction, at 10M rows.)
    const [seen] = await db.query<{ samples: number; fill_ms: number; longest_ms: number; longest: string }>(
      `WITH s AS (SELECT * FROM json_to_recordset($1::json) AS s(at timestamptz, pid int, xact timestamptz, query text)
                   WHERE s.query ~ '(create|fill|build)_unique_registr'),
            t AS (SELECT pid, xact, max(at) AS last, min(query) AS query FROM s GROUP BY pid, xact)
       SELECT (SELECT count(*)::int FROM s) AS samples,
              extract(epoch FROM (SELECT max(last) - min(xact) FROM t))::float8 * 1000 AS fill_ms,
              (SELECT extract(epoch FROM last - xact)::float8 * 1000 FROM t ORDER BY last - xact DESC LIMIT 1) AS longest_ms,
              (SELECT query FROM t ORDER BY last - xact DESC LIMIT 1) AS longest`,
      [JSON.stringify(sampler.samples)],
    );
    console.info(
      `registry fill: ${Math.round(seen!.fill_ms)} ms, ${fill!.transactions} transactions, longest ${Math.round(seen!.longest_ms)} ms (${seen!.longest.slice(0, 80)}), ${seen!.samples} samples`,
    );
    expect(seen!.samples).toBeGreaterThan(0);
    expect(seen!.longest_ms, seen!.longest).toBeLessThan(seen!.fill_ms / 4);

    // After the swap a code taken under one key is refused under another (another partition):
    // the application's role, the original constraint's name and message.
    await expect(
      app.query(`INSERT INTO ${table} (customer_id, code, payload) VALUES (2, 'c1', 'dup')`),
    ).rejects.toMatchObject({
      code: '23505',
      constraint: `${table}_code_key`,
      table,
      message: `duplicate key value violates unique constraint "${table}_code_key"`,
      detail: 'Key (code)=(c1) already exists.',
    });
  }, 600_000);

  it('resumes a fill killed after its first range with the ranges left, adding no row twice', async () => {
    const table = 'fill_crash';
    // About 600 blocks: the copy's chunking makes several ranges of them.
    await createMirroredTable(db, table, 60_000, 12);
    const child = await runMigrateCliUntil(db, table, 'indexes:registry-after-first-range', {
      bucketLimit: 2000,
      workers: 1,
    });
    // Killed between two ranges: the registry exists, partly filled, without its unique constraint.
    const during = mirroredWrites(db.pool, table, 1);
    await during;
    await killHard(child, db.url);
    const [partial] = await db.query<{ entries: number; constrained: boolean; ranges: number; filled: number }>(
      `SELECT (SELECT count(*)::int FROM partwise.${table}_pkey_registry) AS entries,
              EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'partwise.${table}_pkey_registry'::regclass AND contype = 'u') AS constrained,
              jsonb_array_length(t.saved -> 'registryFill' -> 'filled') AS filled,
              ceil((t.saved -> 'registryFill' ->> 'blocks')::numeric / (t.saved -> 'registryFill' ->> 'rangeBlocks')::numeric)::int AS ranges
         FROM partwise.migration_target t WHERE t.table_name = $1`,
      [table],
    );
    expect(partial).toMatchObject({ constrained: false, filled: 1 });
    expect(partial!.ranges).toBeGreaterThan(2);
    expect(partial!.entries).toBeGreaterThan(0);
    expect(partial!.entries).toBeLessThan(60_000 / 2);

    const journal = new Journal('partwise');
    const [run] = (await journal.listRuns(db.pool)).filter((r) => r.targets[0]!.table === table);
    expect(run).toMatchObject({ status: 'interrupted', canResume: true });
    await mirroredWrites(db.pool, table, 2);
    const resumed = await runCli(['resume', '--url', db.url, '--run', String(run!.runId), '--yes']);
    expect(resumed.code, resumed.stderr + resumed.stdout).toBe(0);
    // The CLI tells the fill's end.
    expect(resumed.stdout).toMatch(/registry filled in \d+ block ranges/);
    await mirroredWrites(db.pool, table, 3);

    await expectMirrored(db, table);
    expect(await registryDrift(`${table}_pkey`, table, ['id'])).toEqual([]);
    await expect(
      db.query(`INSERT INTO ${table} (id, customer_id, payload) VALUES (100, 5, 'dup')`),
    ).rejects.toMatchObject({ code: '23505', constraint: `${table}_pkey` });
  });

  it('fills again from the start a table rewritten while it was being filled', async () => {
    const table = 'fill_rewritten';
    await createMirroredTable(db, table, 40_000, 8);
    const events: RunEvent[] = [];
    let rewrite: Promise<unknown> | undefined;
    const outcome = await migrate(
      partwise,
      [{ schema: 'public', table, keyColumn: 'customer_id', bucketLimit: 2000 }],
      {
        workers: 2,
        chunkBlocks: 8,
        onEvent: (event) => {
          events.push(event);
          // As the fill starts (its ranges divided): the rewrite waits for the range under way, the next one for it.
          if (!rewrite && event.type === 'log' && event.message.startsWith('building the registr'))
            rewrite = db.query(`VACUUM FULL ${table}`);
        },
      },
    );
    await rewrite;
    expect(outcome.status, outcome.message).toBe('succeeded');
    expect(events.some((e) => e.type === 'log' && e.message.includes('filling them again'))).toBe(true);
    await mirroredWrites(db.pool, table, 1);
    await expectMirrored(db, table);
    expect(await registryDrift(`${table}_pkey`, table, ['id'])).toEqual([]);
  });
});
