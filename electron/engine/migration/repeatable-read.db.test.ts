// A database whose default_transaction_isolation is REPEATABLE READ (a DBA
// may set it for the database or a role) migrates under writes. The
// swap takes its lock in its transaction's second statement and applies the
// log's last entries under it; a writer it waited for commits just before
// the grant. Under REPEATABLE READ the snapshot would come from the first
// statement, before the lock, and the swap would not see that writer's
// entries (without the setting below, the verification after the swap found
// the contents differ and rolled the run back): the run's connections set
// READ COMMITTED (session-defaults.ts).
// The writer's change is made to wait for the swap, as in the swap's
// deadlock test: uncommitted as the swap starts, committed once the swap
// reports it waits for its lock.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../index.js';
import { useTestDatabase } from '../../testing/database.js';
import { installPartwise } from '../../testing/fixtures.js';
import { commitOnSwapWait } from '../../testing/swap-waits.js';

const db = useTestDatabase('repeatable_read');
let partwise: pg.Pool;

beforeAll(async () => {
  await installPartwise(db);
  // Before any connection of the run opens: a database setting applies at login.
  await db.admin.query(
    `ALTER DATABASE ${pg.escapeIdentifier(db.name)} SET default_transaction_isolation = 'repeatable read'`,
  );
  partwise = new pg.Pool({ connectionString: db.url, application_name: 'partwise', max: 6 });
});

afterAll(async () => {
  await partwise.end();
});

describe('a database that defaults to REPEATABLE READ', () => {
  it('swaps with the changes committed while the swap waited for its lock', async () => {
    await db.query(`CREATE TABLE ledger (id bigint PRIMARY KEY, tenant int NOT NULL, body text NOT NULL)`);
    await db.query(`INSERT INTO ledger SELECT g, 1 + g % 3, 'before' FROM generate_series(1, 300) g`);
    const writer = await db.connect();
    expect((await writer.query(`SHOW default_transaction_isolation`)).rows).toEqual([
      { default_transaction_isolation: 'repeatable read' },
    ]);
    const swapWait = commitOnSwapWait(writer);
    try {
      const outcome = await migrate(
        partwise,
        [{ schema: 'public', table: 'ledger', keyColumn: 'tenant', bucketLimit: 1000 }],
        {
          workers: 1,
          beforePhase: async (phase) => {
            if (phase !== 'cutover') return;
            await writer.query('BEGIN');
            await writer.query(`UPDATE ledger SET body = 'changed' WHERE id IN (7, 8, 9)`);
            await writer.query(`DELETE FROM ledger WHERE id = 10`);
            await writer.query(`INSERT INTO ledger VALUES (301, 2, 'new')`);
          },
          onEvent: swapWait.onEvent,
        },
      );
      expect(outcome.status, outcome.message).toBe('succeeded');
      expect(swapWait.committed()).toBe(true);
      expect(await db.query(`SELECT relkind::text AS kind FROM pg_class WHERE oid = 'ledger'::regclass`)).toEqual([
        { kind: 'v' },
      ]);
      expect(await db.query(`SELECT id::int AS id, body FROM ledger WHERE body <> 'before' ORDER BY 1`)).toEqual([
        { id: 7, body: 'changed' },
        { id: 8, body: 'changed' },
        { id: 9, body: 'changed' },
        { id: 301, body: 'new' },
      ]);
      expect(
        await db.query(`SELECT count(*)::int AS n, count(*) FILTER (WHERE id = 10)::int AS gone FROM ledger`),
      ).toEqual([{ n: 300, gone: 0 }]);
    } finally {
      await writer.end();
    }
  }, 120_000);
});
