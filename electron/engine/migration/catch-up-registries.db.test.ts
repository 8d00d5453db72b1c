// The unique registries are built by the catch-up, beside its appliers, not
// before it: the log of changes is applied while a registry is being filled
// (which reads the original table and writes only the registry), and the
// swap comes only once the registries are built and caught up (their log
// too: no more of it than one batch of their sync is left to the swap).
// Under writers that keep writing, nothing may be lost or invented (a ledger
// written in the same transactions, compared both ways), and the registry
// must still see every key.
//
// No timing: a session holds the registries' catalog (SHARE) from before the
// index phase, so the build cannot finish; the test then waits for the
// appliers to empty the change log, which they can only do if they run
// while the build waits.
import { beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import type { RunEvent } from '../../../shared/progress.js';
import { migrate } from '../index.js';
import { useTestDatabase, type TestRole } from '../../testing/database.js';
import { installPartwise } from '../../testing/fixtures.js';
import { createMirroredTable, expectMirrored } from '../../testing/mirror.js';

const db = useTestDatabase('catch_up_registries');
let app: TestRole;

beforeAll(async () => {
  await installPartwise(db);
  app = await db.createRole('app');
});

const KEYS = 6;

/** The application: updates a row and inserts one per transaction, with its ledger, until stopped. */
async function write(table: string, stop: () => boolean, errors: string[]): Promise<number> {
  const client = await app.connect();
  let commits = 0;
  try {
    for (let n = 0; !stop(); n++) {
      try {
        await client.query('BEGIN');
        for (const target of [table, `${table}_expected`])
          await client.query(`UPDATE ${target} SET amount = amount + 1 WHERE id = $1`, [1 + ((n * 37) % 3000)]);
        const { rows } = await client.query<{ id: string }>(
          `INSERT INTO ${table} (customer_id, payload, amount) VALUES ($1, $2, 1) RETURNING id`,
          [1 + (n % KEYS), `insert ${n}`],
        );
        await client.query(`INSERT INTO ${table}_expected (id, customer_id, payload, amount) VALUES ($1, $2, $3, 1)`, [
          rows[0]!.id,
          1 + (n % KEYS),
          `insert ${n}`,
        ]);
        await client.query('COMMIT');
        commits++;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        errors.push((error as Error).message);
      }
      // An application's pace: the appliers must be able to empty the log.
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  } finally {
    await client.end();
  }
  return commits;
}

describe('the unique registries', () => {
  it('are built while the catch-up applies the log, and lose or invent nothing', async () => {
    const table = 'registered';
    await createMirroredTable(db, table, 6_000, KEYS);
    await db.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ${table}, ${table}_expected TO ${app.sql}`);
    await db.query(`GRANT USAGE ON SEQUENCE ${table}_id_seq TO ${app.sql}`);
    const holder = await db.connect();
    let holding = false;
    let stopped = false;
    const errors: string[] = [];
    const events: RunEvent[] = [];
    const writer = write(table, () => stopped, errors);
    let log: string | null = null;
    /** The last entry logged when the hold began: the appliers must consume it and every one before it. */
    let last: string | null = null;
    try {
      const run = migrate(db.pool, [{ schema: 'public', table, keyColumn: 'customer_id', bucketLimit: 400 }], {
        workers: 2,
        // The registries' log, written all through the hold, takes many batches.
        registrySyncBatch: 20,
        onEvent: (event) => events.push(event),
        beforePhase: async (phase) => {
          if (phase !== 'indexes') return;
          [{ log }] = (await db.query<{ log: string }>(
            `SELECT saved->>'changeLog' AS log FROM partwise.migration_target WHERE table_name = $1`,
            [table],
          )) as [{ log: string }];
          await holder.query('BEGIN');
          await holder.query(`LOCK TABLE partwise.unique_registry IN SHARE MODE`);
          [{ last }] = (await db.query<{ last: string }>(
            `SELECT max(change_id)::text AS last FROM partwise.${pg.escapeIdentifier(log!)}`,
          )) as [{ last: string }];
          holding = true;
        },
      });
      const failed = run.then((outcome) => `the run ended while the registry was held: ${outcome.message}`);
      // The appliers apply what was logged before the hold (the writers go on
      // logging more) while the registry's build waits for the lock.
      for (let i = 0; ; i++) {
        const outcome = await Promise.race([failed, new Promise((resolve) => setTimeout(resolve, 100))]);
        if (typeof outcome === 'string') throw new Error(outcome);
        if (i > 600) throw new Error('the change log was not applied while the registry was being built');
        if (!holding || log === null || last === null) continue;
        const [{ n }] = (await db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM partwise.${pg.escapeIdentifier(log)} WHERE change_id <= $1`,
          [last],
        )) as [{ n: number }];
        if (n === 0) break;
      }
      expect(events.some((e) => e.type === 'phase' && e.phase === 'cutover')).toBe(false);
      await holder.query('ROLLBACK');
      holding = false;
      const outcome = await run;
      expect(outcome.status, outcome.message).toBe('succeeded');
    } finally {
      if (holding) await holder.query('ROLLBACK');
      await holder.end();
      stopped = true;
      await writer;
    }
    expect(errors).toEqual([]);

    // The registry was built in the catch-up, not before it.
    const phases = events.flatMap((e) => (e.type === 'phase' ? [e.phase] : []));
    const built = events.findIndex((e) => e.type === 'log' && /building the registry that keeps/.test(e.message));
    expect(built).toBeGreaterThan(events.findIndex((e) => e.type === 'phase' && e.phase === 'catch_up'));
    expect(phases.indexOf('catch_up')).toBeGreaterThan(phases.indexOf('indexes'));

    // The hand-over counted the registries' log too, and left the swap's
    // lock no more of it than one batch of their sync.
    const handOver = events.flatMap((e) =>
      e.type === 'log' && /left for the swap/.test(e.message) ? [e.message] : [],
    );
    expect(handOver).toEqual([expect.stringMatching(/and [\d,]+ entries of the unique registries' log$/)]);
    const registryLeft = Number(
      /and ([\d,]+) entries of the unique registries' log$/.exec(handOver[0]!)![1]!.replace(/,/g, ''),
    );
    expect(registryLeft).toBeLessThanOrEqual(20);

    await expectMirrored(db, table);
    // Every id, copied, replayed or written since, is in the registry: one
    // taken under another key is refused (only the registry sees across keys).
    const [{ id }] = (await db.query<{ id: string }>(`SELECT max(id)::text AS id FROM ${table}`)) as [{ id: string }];
    await expect(
      db.query(`INSERT INTO ${table} (id, customer_id, payload, amount) VALUES ($1, 999, 'taken', 0)`, [id]),
    ).rejects.toMatchObject({ code: '23505' });
    await expect(
      db.query(`INSERT INTO ${table} (id, customer_id, payload, amount) VALUES (1, 999, 'taken', 0)`),
    ).rejects.toMatchObject({ code: '23505' });
  });
});
