// The swap waits for its ACCESS EXCLUSIVE lock behind other sessions: it must
// say who they are while it waits (in the run's events, which the app and
// --json show), name them when it gives up, and wait long enough for
// PostgreSQL to cancel an autovacuum in the way (lock_timeout above the
// server's deadlock_timeout). Run as a non-superuser table owner.
import { describe, expect, it, beforeAll } from 'vitest';
import pg from 'pg';
import type { RunEvent } from '../../../shared/progress.js';
import { useTestDatabase, type TestRole } from '../../testing/database.js';
import { inLockingTransaction } from '../locks.js';
import { migrate, resume } from '../index.js';

const db = useTestDatabase('swap_blockers');
let reader: TestRole;

async function session(url: string, applicationName: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, application_name: applicationName });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

beforeAll(async () => {
  // The database's owner (an ordinary role) migrates; a reporting role reads.
  reader = await db.createRole('reader');
  await db.query(`CREATE SCHEMA app`);
  await db.query(`GRANT USAGE ON SCHEMA app TO ${reader.sql}`);
});

async function table(name: string): Promise<string> {
  await db.pool.query(`CREATE TABLE app.${name} (id bigserial PRIMARY KEY, tenant int NOT NULL, note text)`);
  await db.pool.query(`INSERT INTO app.${name} (tenant, note) SELECT g % 4, 'n' FROM generate_series(1, 2000) g`);
  await db.pool.query(`GRANT SELECT ON app.${name} TO ${reader.sql}`);
  return `app.${name}`;
}

/** Two sessions reading the table in open transactions: one of the owner's role, one of another role. */
async function holdReadLocks(
  qualified: string,
): Promise<{ same: pg.Client; other: pg.Client; release(): Promise<void> }> {
  const same = await session(db.url, 'nightly-report');
  const other = await session(reader.url, 'dashboard');
  for (const client of [same, other]) {
    await client.query('BEGIN');
    await client.query(`SELECT count(*) FROM ${qualified}`);
  }
  return {
    same,
    other,
    async release() {
      for (const client of [same, other]) {
        await client.query('COMMIT').catch(() => undefined);
        await client.end();
      }
    },
  };
}

const pidOf = async (client: pg.Client): Promise<number> =>
  (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;

describe('the swap, when other sessions hold locks on the table', () => {
  it('names every session in the way while it waits, then swaps once they are gone', async () => {
    const qualified = await table('orders');
    const events: RunEvent[] = [];
    let holders: Awaited<ReturnType<typeof holdReadLocks>> | null = null;
    let released: Promise<void> | null = null;
    const outcome = await migrate(
      db.pool,
      [{ schema: 'app', table: 'orders', keyColumn: 'tenant', bucketLimit: 500 }],
      {
        beforePhase: async (phase) => {
          if (phase === 'cutover') holders = await holdReadLocks(qualified);
        },
        onEvent: (event) => {
          events.push(event);
          // Released only once the swap has named them: the test cannot pass by timing.
          if (event.type === 'log' && event.blockers && holders && !released) released = holders.release();
        },
      },
    );
    await released;
    expect(outcome.status, outcome.message).toBe('succeeded');
    const named = events.find((e) => e.type === 'log' && e.blockers);
    expect(named).toBeDefined();
    if (named?.type !== 'log') return;
    const [first, second] = named.blockers!;
    const byApp = new Map(named.blockers!.map((b) => [b.applicationName, b]));
    expect(named.blockers).toHaveLength(2);
    expect(first!.pid).toBeLessThan(second!.pid);
    expect(byApp.get('nightly-report')).toMatchObject({
      user: db.owner,
      state: 'idle in transaction',
      query: `SELECT count(*) FROM ${qualified}`,
      autovacuum: false,
      wraparound: false,
      modes: 'AccessShareLock',
      detailsHidden: false,
    });
    expect(byApp.get('nightly-report')!.transactionStart).toMatch(/^\d{4}-\d\d-\d\dT/);
    // Another role's session: who it is, not what it runs (pg_stat_activity hides that from the owner).
    expect(byApp.get('dashboard')).toMatchObject({
      user: reader.name,
      state: null,
      query: null,
      autovacuum: false,
      modes: 'AccessShareLock',
      detailsHidden: true,
    });
    const nightly = byApp.get('nightly-report')!.pid;
    const dashboard = byApp.get('dashboard')!.pid;
    expect(named.level).toBe('warn');
    expect(named.table).toBe(qualified);
    expect(named.message).toMatch(
      new RegExp(
        `^swap waiting for the lock on ${qualified.replace('.', '\\.')} \\(attempt 1 of 30, each waiting up to 1500 ms\\); in the way: `,
      ),
    );
    expect(named.message).toContain(
      `pid ${nightly} (application "nightly-report", role ${db.owner}, idle in transaction since `,
    );
    expect(named.message).toContain(`last query started `);
    expect(named.message).toContain(`: SELECT count(*) FROM ${qualified}), holding AccessShareLock`);
    expect(named.message).toContain(
      `pid ${dashboard} (application "dashboard", role ${reader.name}), holding AccessShareLock; what it runs is visible only to superusers, its own role and members of pg_read_all_stats`,
    );
    expect(named.message).not.toMatch(/long-running transaction/);
  });

  it('names them when it gives up, and stops resumably: the original table kept, the copy kept, resume swaps', async () => {
    const qualified = await table('invoices');
    let holders: Awaited<ReturnType<typeof holdReadLocks>> | null = null;
    let released: Promise<void> | null = null;
    let nightly = 0;
    let dashboard = 0;
    let runId: number | undefined;
    const events: RunEvent[] = [];
    try {
      const outcome = await migrate(
        db.pool,
        [{ schema: 'app', table: 'invoices', keyColumn: 'tenant', bucketLimit: 500 }],
        {
          lock: { attempts: 2 },
          beforePhase: async (phase) => {
            if (phase !== 'cutover') return;
            holders = await holdReadLocks(qualified);
            nightly = await pidOf(holders.same);
            dashboard = await pidOf(holders.other);
          },
          onEvent: (event) => {
            events.push(event);
            // The swap gave up: the sessions in the way go.
            if (event.type === 'log' && event.level === 'error' && holders && !released) released = holders.release();
          },
        },
      );
      await released;
      expect(outcome.status).toBe('interrupted');
      runId = outcome.runId;
      expect(outcome.message).toMatch(
        new RegExp(
          `stopped in phase cutover of ${qualified.replace('.', '\\.')}: Could not get the lock on ${qualified.replace('.', '\\.')} within 1\\.5 s in 2 attempts; in the way: pid ${Math.min(nightly, dashboard)} `,
        ),
      );
      expect(outcome.message).toContain(`pid ${nightly} (application "nightly-report"`);
      expect(outcome.message).toContain(`pid ${dashboard} (application "dashboard"`);
      expect(outcome.message).toMatch(
        new RegExp(`; nothing is lost: resume it with "partwise resume --run ${outcome.runId}"$`),
      );
      expect(outcome.error?.hint).toBe(
        `Let them finish, or end them (SELECT pg_terminate_backend(pid) FROM unnest(ARRAY[${[nightly, dashboard].sort((a, b) => a - b).join(', ')}]) AS pid;), then resume.`,
      );
      const retried = events.filter((e) => e.type === 'log' && e.message.startsWith('swap gave up waiting'));
      expect(retried.map((e) => (e.type === 'log' ? e.message : ''))).toEqual([
        `swap gave up waiting for the lock on ${qualified} after 1500 ms (attempt 1 of 2); retrying`,
      ]);
    } finally {
      if (!released) await (holders as Awaited<ReturnType<typeof holdReadLocks>> | null)?.release();
    }
    expect(
      await db.pool.query(`SELECT relkind FROM pg_class WHERE oid = '${qualified}'::regclass`).then((r) => r.rows),
    ).toEqual([{ relkind: 'r' }]);
    // The sessions gone, resume swaps without copying again.
    const resumed = await resume(db.pool, runId!);
    expect(resumed.status, resumed.message).toBe('succeeded');
    expect(
      await db.pool.query(`SELECT relkind FROM pg_class WHERE oid = '${qualified}'::regclass`).then((r) => r.rows),
    ).toEqual([{ relkind: 'v' }]);
    const copies = await db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM partwise.migration_step WHERE run_id = $1 AND phase = 'copy'`,
      [runId],
    );
    expect(copies.rows).toEqual([{ n: 1 }]);
  });
});

describe('lock_timeout of strong lock requests', () => {
  async function lockTimeoutWith(deadlockTimeout: string | null, requestedMs: number): Promise<string> {
    // deadlock_timeout is a superuser setting: the owner only reads it.
    if (deadlockTimeout) await db.admin.query(`ALTER DATABASE ${db.name} SET deadlock_timeout = '${deadlockTimeout}'`);
    else await db.admin.query(`ALTER DATABASE ${db.name} RESET deadlock_timeout`);
    const client = await session(db.url, 'lock-timeout-check');
    try {
      return await inLockingTransaction(client, { lockTimeoutMs: requestedMs, attempts: 1 }, async () => {
        const { rows } = await client.query<{ deadlock: string; lock: string }>(
          `SELECT current_setting('deadlock_timeout') AS deadlock, current_setting('lock_timeout') AS lock`,
        );
        return `${rows[0]!.deadlock} ${rows[0]!.lock}`;
      });
    } finally {
      await client.end();
    }
  }

  it("waits past the server's deadlock_timeout, so that PostgreSQL cancels an autovacuum in the way, within a bound", async () => {
    try {
      expect(await lockTimeoutWith(null, 1000)).toBe('1s 1500ms');
      expect(await lockTimeoutWith('3s', 1000)).toBe('3s 3500ms');
      // Every session queued behind the request waits as long: no more than 5 s for that reason...
      expect(await lockTimeoutWith('20s', 1000)).toBe('20s 5s');
      // ...but a longer lock_timeout asked for is kept.
      expect(await lockTimeoutWith('1s', 8000)).toBe('1s 8s');
    } finally {
      await db.admin.query(`ALTER DATABASE ${db.name} RESET deadlock_timeout`);
    }
  });
});
