// How the catch-up's replay reaches the new table's rows: by an index probe
// per logged row, never by reading a partition whole. A batch holds thousands
// of rows; a plan that scans partitions (or materializes them and compares
// every row with every logged row) costs partitions x rows per batch, and a
// catch-up under steady writes then never converges (seen on 13: 1.5M
// comparisons per partition per batch, the test under unthrottled writers
// timing out). The plans are read as PostgreSQL makes them, through
// auto_explain, for each statement the replay function runs.
import { beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { migrate } from '../index.js';
import { useTestDatabase } from '../../testing/database.js';
import { installPartwise } from '../../testing/fixtures.js';
import { createMirroredTable, expectMirrored } from '../../testing/mirror.js';

const db = useTestDatabase('replay_plans');

beforeAll(async () => {
  await installPartwise(db);
});

/** The plans of every statement `sql` runs as the owner, nested ones included, as auto_explain reports them. */
async function plansOf(sql: string): Promise<string[]> {
  // auto_explain is loaded per session, which takes a superuser.
  const client = new pg.Client({ connectionString: db.admin.url });
  const plans: string[] = [];
  client.on('notice', (notice) => {
    if (notice.message?.includes('duration:')) plans.push(notice.message);
  });
  await client.connect();
  try {
    await client.query(`LOAD 'auto_explain'`);
    await client.query(`SET auto_explain.log_min_duration = 0`);
    await client.query(`SET auto_explain.log_nested_statements = on`);
    await client.query(`SET auto_explain.log_level = notice`);
    // The rest as the table's owner, as the migration runs it (what it creates is the owner's).
    await client.query(`SET ROLE ${db.owner}`);
    await client.query(sql);
  } finally {
    await client.end();
  }
  return plans;
}

describe('the catch-up replay', () => {
  it('reaches the rows of a batch through index probes, not by reading partitions whole', async () => {
    const table = 'replayed';
    // 10 keys of 1,000 rows, 4 buckets of 250 each.
    await createMirroredTable(db, table, 10_000, 10);
    let plans: string[] = [];
    const outcome = await migrate(db.pool, [{ schema: 'public', table, keyColumn: 'customer_id', bucketLimit: 250 }], {
      workers: 1,
      beforePhase: async (phase) => {
        if (phase !== 'cutover') return;
        // 2,000 rows of every key changed, and a new one: one batch of the log, replayed here.
        for (const target of [table, `${table}_expected`]) {
          await db.query(`UPDATE ${target} SET payload = 'changed' WHERE id % 5 = 0`);
          await db.query(`INSERT INTO ${target} (id, customer_id, payload, amount) VALUES (100001, 3, 'new', 1)`);
        }
        const [{ log }] = (await db.query<{ log: string }>(
          `SELECT saved->>'changeLog' AS log FROM partwise.migration_target WHERE table_name = $1`,
          [table],
        )) as [{ log: string }];
        plans = await plansOf(`SELECT partwise.${log}_replay(5000, 0, 1)`);
      },
    });
    expect(outcome.status, outcome.message).toBe('succeeded');
    await expectMirrored(db, table);

    const leaf = new RegExp(`${table}_customer_id_\\d+_bucket_id_\\d+`);
    const updates = plans.filter((p) => /Update on/.test(p) && leaf.test(p));
    expect(updates.length, plans.join('\n\n')).toBeGreaterThan(0);
    for (const plan of plans) {
      const wholeReads = plan.split('\n').filter((line) => /(Seq Scan|Bitmap Heap Scan)/.test(line) && leaf.test(line));
      expect(wholeReads, plan).toEqual([]);
    }
  });
});
