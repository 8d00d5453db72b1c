// Catch-up whose unique registries' log outgrows its sync: writers that never
// slow down log a registry entry per row they change, and the sync outside a
// pause takes one entry per transaction (registrySyncBatch 1), far slower than
// they log. The hand-over waits until no more than one batch of that log is
// left (one entry here), which it can only reach if the writers are paused
// and the pause drains the log: before, the catch-up applied the change log,
// found the registries' log too long, and went on syncing it slice after
// slice without pausing anyone, until the writers stopped. So the writers
// here stop only once the swap is done (each after one more commit, through
// the routing view), or at a cap of commits, where the run is cancelled and
// the test fails: the swap must come while they write, after pauses that
// synced the registries' log, with every committed row in the new table and
// nothing else (a ledger written in the same transactions, compared both
// ways), and the registry must then hold exactly the table's keys. They
// start with the catch-up. (The first applier also synced the whole log once
// it had built the registries, an entry per transaction, with nobody able to
// pause the writers: in CI on 13 the cap was reached during that sync, and
// the steering connection now does all the syncing from the build on.)
// Without the fix the cap was reached in every run (at 4,000 commits: 22 s
// on 18, 20.5 s on 13; at 6,000: 18 s on 18); with it the swap came after
// 1,300 to 2,200 commits.
import { beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import type { RunEvent } from '../../../shared/progress.js';
import { migrate } from '../index.js';
import { useTestDatabase } from '../../testing/database.js';
import { installPartwise } from '../../testing/fixtures.js';
import { createMirroredTable, expectMirrored } from '../../testing/mirror.js';
import { expectSameRows } from '../../testing/same-rows.js';

const db = useTestDatabase('catch_up_registry_load');

beforeAll(async () => {
  await installPartwise(db);
});

const WRITERS = 2;
const ROWS = 4_000;
const KEYS = 6;
/** Rows one transaction updates: as many entries in the registries' log per commit. */
const UPDATED = 20;
/**
 * Commits after which the writers stop, and the run is cancelled, if the swap
 * did not come: the test then fails. (Left to run, the catch-up before the
 * fix would only hand over once the sync, an entry per transaction, had
 * drained the log the writers left: minutes.)
 */
const CAP = 6_000;
/** Commits the writers make before the catch-up starts. */
const STARTED = 20;

async function write(
  client: pg.Client,
  table: string,
  w: number,
  stop: () => boolean,
  commit: () => void,
  errors: string[],
): Promise<void> {
  for (let n = 0; !stop(); n++) {
    // This writer's rows only (id % WRITERS = w): writers wait for the migration, not for each other.
    const ids = Array.from({ length: UPDATED }, (_, i) => WRITERS * ((n * 13 + i * 97) % (ROWS / WRITERS)) + w).filter(
      (id) => id > 0,
    );
    try {
      await client.query('BEGIN');
      for (const target of [table, `${table}_expected`])
        await client.query(`UPDATE ${target} SET amount = amount + 1 WHERE id = ANY ($1)`, [ids]);
      const { rows } = await client.query<{ id: string }>(
        `INSERT INTO ${table} (customer_id, payload, amount) VALUES ($1, $2, 1) RETURNING id`,
        [1 + ((n + w) % KEYS), `insert ${w}/${n}`],
      );
      await client.query(`INSERT INTO ${table}_expected (id, customer_id, payload, amount) VALUES ($1, $2, $3, 1)`, [
        rows[0]!.id,
        1 + ((n + w) % KEYS),
        `insert ${w}/${n}`,
      ]);
      await client.query('COMMIT');
      commit();
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      errors.push((error as Error).message);
    }
  }
}

describe("catch-up under writers that outrun the unique registries' sync", () => {
  it('pauses the writers until the pause drains the log, and swaps while they write', async () => {
    const table = 'outpaced';
    await createMirroredTable(db, table, ROWS, KEYS);
    const events: RunEvent[] = [];
    const errors: string[] = [];
    let commits = 0;
    /** Commits when the swap was seen done; null until then. */
    let commitsAtSwap: number | null = null;
    /** Commits since the swap, per writer: each stops after its first (written through the routing view). */
    const since = Array.from({ length: WRITERS }, () => 0);
    const cancel = new AbortController();
    let writing: Promise<void> | null = null;
    /** Resolved once the writers committed STARTED transactions. */
    let started!: () => void;
    const writersStarted = new Promise<void>((resolve) => (started = resolve));
    const clients = await Promise.all(Array.from({ length: WRITERS }, () => db.connect()));
    const startWriters = (): Promise<void> => {
      writing = Promise.all(
        clients.map((client, w) =>
          write(
            client,
            table,
            w,
            () => cancel.signal.aborted || since[w]! > 0,
            () => {
              commits++;
              if (commits === STARTED) started();
              if (commitsAtSwap !== null) since[w]!++;
              if (commits >= CAP) cancel.abort();
            },
            errors,
          ),
        ),
      ).then(() => undefined);
      return writersStarted;
    };
    try {
      const outcome = await migrate(
        db.pool,
        [{ schema: 'public', table, keyColumn: 'customer_id', bucketLimit: 400 }],
        {
          workers: 2,
          registrySyncBatch: 1,
          signal: cancel.signal,
          // From the catch-up on, while the first applier builds the registries.
          beforePhase: async (phase) => {
            if (phase === 'catch_up') await startWriters();
          },
          onEvent: (event) => {
            events.push(event);
            if (event.type === 'phase' && event.phase === 'verify') commitsAtSwap ??= commits;
          },
        },
      );
      expect(cancel.signal.aborted, `the writers reached their cap of ${CAP} commits before the swap`).toBe(false);
      expect(outcome.status, outcome.message).toBe('succeeded');
      // Each writer commits once more, through the routing view, and stops.
      await writing;
      expect(since).toEqual(since.map(() => 1));
    } finally {
      // A failed run must not leave the writers writing.
      cancel.abort();
      await writing;
      await Promise.all(clients.map((c) => c.end()));
    }
    expect(errors).toEqual([]);

    const messages = events.flatMap((e) => (e.type === 'log' ? [e.message] : []));
    // The writers were paused, and their pauses synced the registries' log...
    const pauses = messages.filter((m) => /^paused writes for/.test(m));
    expect(pauses).toContainEqual(expect.stringMatching(/entries of the unique registries' log synced/));
    // ...and the swap was left no more of it than one batch of its sync.
    const handOver = messages.filter((m) => /left for the swap/.test(m));
    expect(handOver).toEqual([expect.stringMatching(/and [01] entries of the unique registries' log$/)]);

    await expectMirrored(db, table);
    const [{ registry }] = (await db.query<{ registry: string }>(
      `SELECT format('partwise.%I', registry_table) AS registry FROM partwise.unique_registry`,
    )) as [{ registry: string }];
    await expectSameRows(db, table, registry, 'id');
    console.info(
      `registries' log under load: ${commits} commits, swap after ${commitsAtSwap}, ${pauses.length} pauses`,
    );
  });
});
