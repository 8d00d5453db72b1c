// A logical-replication subscription that a later REFRESH PUBLICATION would
// point at a migrated table. The plan refuses a table a subscription already
// writes into (subscription-target.db.test.ts), and the swap looks again
// under its lock; but a publisher may add the table to its publication after
// the swap. PostgreSQL then looks the name up at REFRESH, finds the routing
// view, and refuses it as a replication target: the REFRESH fails whole,
// nothing is written into the view, and the subscription goes on
// replicating what it did. This test holds PostgreSQL to that, with a real
// publisher (a cluster of its own, wal_level logical) and an enabled
// subscription whose apply worker runs.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { PostgresMajor } from '../embedded/binaries.js';
import { THROWAWAY_SETTINGS, type RunningCluster } from '../embedded/cluster.js';
import { startTemporaryCluster } from '../embedded/temporary-cluster.js';
import { useTestDatabase } from '../testing/database.js';
import { installPartwise } from '../testing/fixtures.js';
import { migrate } from './index.js';

const db = useTestDatabase('refresh_subscriber');
let publisher: RunningCluster;
let source: pg.Client;
/** Needs quoting, so that the statements are seen to quote it. */
const SUBSCRIPTION = 'events feed';

const TABLE = `(id bigint PRIMARY KEY, tenant int NOT NULL, payload text)`;

/** A statement on the subscriber's side naming the subscription, quoted by the server. */
async function onSubscription(template: string, ...values: string[]): Promise<void> {
  const [statement] = await db.admin.query<{ sql: string }>(
    `SELECT format($1::text, VARIADIC ARRAY[$2::text] || $3::text[]) AS sql`,
    [template, SUBSCRIPTION, values],
  );
  await db.admin.query(statement!.sql);
}

/** Until `check` holds (30 s at most): the apply worker replicates on its own schedule. */
async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  for (const started = Date.now(); !(await check());) {
    if (Date.now() - started > 30_000) throw new Error(`not within 30 s: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

beforeAll(async () => {
  publisher = await startTemporaryCluster(inject('pgMajor') as PostgresMajor, 'publisher', {
    ...THROWAWAY_SETTINGS,
    wal_level: 'logical',
    max_wal_senders: 4,
    max_replication_slots: 4,
  });
  source = new pg.Client({ connectionString: publisher.url() });
  await source.connect();
  for (const table of ['events', 'other']) {
    await source.query(`CREATE TABLE ${table} ${TABLE}`);
    await db.query(`CREATE TABLE ${table} ${TABLE}`);
  }
  await source.query(`INSERT INTO events SELECT g, g % 3, 'published ' || g FROM generate_series(1001, 1010) g`);
  await source.query(`CREATE PUBLICATION feed FOR TABLE other`);
  await db.query(`INSERT INTO events SELECT g, g % 3, 'row ' || g FROM generate_series(1, 120) g`);
  await db.query(`ANALYZE events`);
  await installPartwise(db);
  // Made by the cluster's superuser (CREATE SUBSCRIPTION needs it before 16),
  // enabled: its worker runs. (A slot's name allows no space.)
  await onSubscription(
    `CREATE SUBSCRIPTION %I CONNECTION %L PUBLICATION feed WITH (slot_name = events_feed)`,
    publisher.url(),
  );
  await source.query(`INSERT INTO other VALUES (1, 1, 'before the migration')`);
  await eventually(
    async () => (await db.query(`SELECT 1 FROM other WHERE id = 1`)).length === 1,
    'the subscription replicates into other',
  );
}, 120_000);

afterAll(async () => {
  // Dropping the subscription drops its slot on the publisher, which must still run.
  await onSubscription(`DROP SUBSCRIPTION IF EXISTS %I`).catch(() => undefined);
  await source?.end();
  await publisher?.stop();
});

describe('a publication that takes in a migrated table after the swap', () => {
  it('makes REFRESH PUBLICATION fail on the routing view, writing nothing, and the subscription goes on', async () => {
    const outcome = await migrate(db.pool, [
      { schema: 'public', table: 'events', keyColumn: 'tenant', bucketLimit: 50 },
    ]);
    expect(outcome.status, outcome.message).toBe('succeeded');
    const [{ kind }] = (await db.query<{ kind: string }>(
      `SELECT relkind::text AS kind FROM pg_class WHERE oid = 'public.events'::regclass`,
    )) as [{ kind: string }];
    expect(kind).toBe('v');

    await source.query(`ALTER PUBLICATION feed ADD TABLE events`);
    const refresh = onSubscription(`ALTER SUBSCRIPTION %I REFRESH PUBLICATION`);
    await expect(refresh).rejects.toMatchObject({
      code: '42809', // wrong_object_type
      message: expect.stringMatching(/cannot use relation "public\.events" as logical replication target/),
    });

    // Nothing of the publisher's rows reached the table, and the subscription
    // does not list it (nor the partitioned table behind the view).
    expect(await db.query(`SELECT count(*)::int AS n, min(id)::int AS low, max(id)::int AS high FROM events`)).toEqual([
      { n: 120, low: 1, high: 120 },
    ]);
    expect(
      await db.admin.query(
        `SELECT r.srrelid::regclass::text AS relation FROM pg_subscription_rel r
           JOIN pg_subscription s ON s.oid = r.srsubid WHERE s.subname = $1 ORDER BY 1`,
        [SUBSCRIPTION],
      ),
    ).toEqual([{ relation: 'other' }]);

    // The subscription still replicates what it did.
    await source.query(`INSERT INTO other VALUES (2, 2, 'after the refresh failed')`);
    await eventually(
      async () => (await db.query(`SELECT 1 FROM other WHERE id = 2`)).length === 1,
      'the subscription still replicates into other',
    );
  });
});
