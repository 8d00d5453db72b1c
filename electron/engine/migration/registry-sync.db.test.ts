// The registries' log is analyzed before each sync. Its statistics otherwise
// stay those of its first and largest sync (everything written since the
// run prepared, once the registries are filled), and every later sync of a
// few thousand entries joined it to the original table and to the registry
// by full scans: seconds at 3M rows, 7 to 13 s at 10M in the load bench, the
// swap's own sync holding its lock for seconds (see syncRegistries).
//
// What is checked is the mechanism, not a time (speed lives in `npm run
// bench -- load`): with autovacuum off for the log from the moment it exists,
// nothing but the sync's ANALYZE gives it a page count in pg_class (a log
// created empty has relpages 0 until analyzed or vacuumed).
import { beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { migrate } from '../index.js';
import { useTestDatabase } from '../../testing/database.js';
import { installPartwise } from '../../testing/fixtures.js';

const db = useTestDatabase('registry_sync');

beforeAll(async () => {
  await installPartwise(db);
});

describe("the registries' log", () => {
  it('is analyzed by the sync, so that its joins are planned for its size now', async () => {
    await db.query(`CREATE TABLE ledger (id bigint PRIMARY KEY, tenant int NOT NULL, body text NOT NULL)`);
    await db.query(`INSERT INTO ledger SELECT g, 1 + g % 3, 'before' FROM generate_series(1, 3000) g`);
    const registryLog = async (): Promise<string> => {
      const [row] = await db.query<{ log: string | null }>(
        `SELECT saved->>'registryLog' AS log FROM partwise.migration_target WHERE table_name = 'ledger'`,
      );
      expect(row?.log, 'the primary key is kept unique across the table by a registry').toBeTruthy();
      return `partwise.${pg.escapeIdentifier(row!.log!)}`;
    };
    const pages: Record<string, number> = {};
    const relpages = async (log: string): Promise<number> =>
      (await db.query<{ n: number }>(`SELECT relpages AS n FROM pg_class WHERE oid = $1::regclass`, [log]))[0]!.n;
    const outcome = await migrate(
      db.pool,
      [{ schema: 'public', table: 'ledger', keyColumn: 'tenant', bucketLimit: 1000 }],
      {
        workers: 1,
        beforePhase: async (phase) => {
          if (phase === 'provision') {
            const log = await registryLog();
            await db.query(`ALTER TABLE ${log} SET (autovacuum_enabled = false)`);
            pages.before = await relpages(log);
          }
          // Entries for the syncs of the catch-up to take.
          if (phase === 'catch_up') await db.query(`UPDATE ledger SET body = 'changed' WHERE id <= 500`);
          if (phase === 'cutover') pages.synced = await relpages(await registryLog());
        },
      },
    );
    expect(outcome.status, outcome.message).toBe('succeeded');
    expect(pages).toEqual({ before: 0, synced: expect.any(Number) });
    expect(pages.synced).toBeGreaterThan(0);
  });
});
