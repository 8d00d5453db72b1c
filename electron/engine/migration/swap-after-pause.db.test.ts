// What the swap does with the changes made between the catch-up's hand-over
// and its lock. When the catch-up converged on its own, one connection
// applies them while the application writes, so that less is left for the
// lock. When the catch-up had to pause the application's writes (they outran
// every applier), that connection alone would fall further behind while they
// write, and its time would delay the lock: the swap takes its lock at once
// and applies them under it. Either way the ledger must match, both ways.
//
// The catch-up is made to pause without any timing: a session holds every
// entry of the log (FOR UPDATE) until the catch-up says it pauses the writes,
// so the appliers cannot consume one and the backlog cannot fall.
import { beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import type { RunEvent } from '../../../shared/progress.js';
import { migrate } from '../index.js';
import { useTestDatabase, type TestRole } from '../../testing/database.js';
import { installPartwise } from '../../testing/fixtures.js';
import { createMirroredTable, expectMirrored } from '../../testing/mirror.js';

const db = useTestDatabase('swap_after_pause');
let app: TestRole;

beforeAll(async () => {
  await installPartwise(db);
  app = await db.createRole('app');
});

/** The application's role, with only its grants on the table and its ledger. */
async function grantApp(table: string): Promise<void> {
  await db.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ${table}, ${table}_expected TO ${app.sql}`);
  await db.query(`GRANT USAGE ON SEQUENCE ${table}_id_seq TO ${app.sql}`);
}

/** Updates rows `ids` of the table and of its ledger, in one transaction, as the application. */
async function mirroredUpdate(table: string, ids: string, payload: string): Promise<void> {
  const client = await app.connect();
  try {
    await client.query('BEGIN');
    for (const target of [table, `${table}_expected`])
      await client.query(`UPDATE ${target} SET payload = $1 WHERE ${ids}`, [payload]);
    await client.query('COMMIT');
  } finally {
    await client.end();
  }
}

/** The changes the swap applied under its lock, as its log line says. */
function appliedUnderLock(events: RunEvent[]): number {
  const line = events.find((e) => e.type === 'log' && /logged changes in \d+ ms under the lock/.test(e.message));
  if (!line || line.type !== 'log') throw new Error('the swap logged no changes applied under its lock');
  return Number(/applied the last ([\d,]+) /.exec(line.message)![1]!.replace(/,/g, ''));
}

const logLines = (events: RunEvent[], pattern: RegExp): string[] =>
  events.flatMap((e) => (e.type === 'log' && pattern.test(e.message) ? [e.message] : []));

describe('the changes made between the hand-over and the swap', () => {
  it('are applied under the lock at once when the catch-up had to pause the writes', async () => {
    const table = 'outran';
    await createMirroredTable(db, table, 4_000, 4);
    await grantApp(table);
    const holder = await db.connect();
    let released: Promise<unknown> = Promise.resolve();
    const events: RunEvent[] = [];
    try {
      const outcome = await migrate(
        db.pool,
        [{ schema: 'public', table, keyColumn: 'customer_id', bucketLimit: 500 }],
        {
          workers: 2,
          catchUpThreshold: 10,
          onEvent: (event) => {
            events.push(event);
            // The catch-up judged that the writes outran it: the entries are let go.
            if (event.type === 'log' && /pausing its writes/.test(event.message)) released = holder.query('ROLLBACK');
          },
          beforePhase: async (phase) => {
            if (phase === 'catch_up') {
              await mirroredUpdate(table, 'id <= 1000', 'during the copy');
              const [{ log }] = (await db.query<{ log: string }>(
                `SELECT saved->>'changeLog' AS log FROM partwise.migration_target WHERE table_name = $1`,
                [table],
              )) as [{ log: string }];
              await holder.query('BEGIN');
              await holder.query(`SELECT 1 FROM partwise.${pg.escapeIdentifier(log)} FOR UPDATE`);
            }
            // Written after the catch-up handed over, before the swap's lock.
            if (phase === 'cutover') await mirroredUpdate(table, 'id BETWEEN 2001 AND 2050', 'after the hand-over');
          },
        },
      );
      expect(outcome.status, outcome.message).toBe('succeeded');
    } finally {
      await released;
      await holder.end();
    }
    expect(logLines(events, /pausing its writes/)).toHaveLength(1);
    // The catch-up handed over from inside its last pause, its appliers
    // ended while the writers still waited: the last pause says so, and no
    // pause came after the hand-over.
    const pausesAndHandOver = logLines(events, /paused writes|changes left for the swap/);
    expect(pausesAndHandOver.at(-1)).toMatch(/changes left for the swap/);
    expect(pausesAndHandOver.at(-2)).toMatch(/; handing over, the appliers (ended in it|still ending as it ended)$/);
    expect(logLines(events, /handing over/)).toHaveLength(1);
    expect(logLines(events, /before the lock/)).toEqual([]);
    expect(appliedUnderLock(events)).toBeGreaterThanOrEqual(50);
    await expectMirrored(db, table);
  });

  it('are applied before the lock while the application writes when the catch-up converged on its own', async () => {
    const table = 'kept_up';
    await createMirroredTable(db, table, 4_000, 4);
    await grantApp(table);
    const events: RunEvent[] = [];
    const outcome = await migrate(db.pool, [{ schema: 'public', table, keyColumn: 'customer_id', bucketLimit: 500 }], {
      workers: 2,
      onEvent: (event) => events.push(event),
      beforePhase: async (phase) => {
        if (phase === 'cutover') await mirroredUpdate(table, 'id BETWEEN 2001 AND 2050', 'after the hand-over');
      },
    });
    expect(outcome.status, outcome.message).toBe('succeeded');
    expect(logLines(events, /pausing its writes/)).toEqual([]);
    expect(logLines(events, /applied [\d,]+ logged changes in \d+ ms before the lock/)).toHaveLength(1);
    expect(appliedUnderLock(events)).toBe(0);
    await expectMirrored(db, table);
  });
});
