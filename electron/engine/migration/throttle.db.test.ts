// The lag bound, against a physical replication slot that only the test moves
// forward: every WAL byte the migration writes adds to the slot's lag, so the
// run must pause, do nothing while paused, and go on once the slot catches up.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunEvent } from '../../../shared/progress.js';
import { migrate } from '../index.js';
import { useTestDatabase } from '../../testing/database.js';
import { installPartwise } from '../../testing/fixtures.js';
import { createMirroredTable } from '../../testing/mirror.js';

const db = useTestDatabase('throttle');
/** Slots are per cluster: named after this file's database. */
let slot: string;

beforeAll(async () => {
  await installPartwise(db);
  slot = `pw_${db.name.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 63);
  await db.admin.query(`SELECT pg_create_physical_replication_slot($1, true)`, [slot]);
});

afterAll(async () => {
  await db.admin.query(`SELECT pg_drop_replication_slot($1)`, [slot]).catch(() => undefined);
});

const BOUND = 256 * 1024;

describe('throttling on replication lag', () => {
  it('pauses while the slot lags over the bound, working not at all meanwhile', async () => {
    await createMirroredTable(db, 'lagging', 20_000, 10);
    await db.admin.query(`SELECT pg_replication_slot_advance($1, pg_current_wal_lsn())`, [slot]);
    const events: RunEvent[] = [];
    let onEvent = (): void => undefined;
    const run = migrate(db.pool, [{ schema: 'public', table: 'lagging', keyColumn: 'customer_id', bucketLimit: 500 }], {
      workers: 1,
      chunkBlocks: 16,
      throttle: { maxStandbyLagBytes: BOUND, slot },
      onEvent: (event) => {
        events.push(event);
        onEvent();
      },
    });
    let finished = false;
    void run.finally(() => {
      finished = true;
      onEvent();
    });
    const next = (): Promise<void> => new Promise((resolve) => (onEvent = resolve));
    const pausedFigures = (): RunEvent[] => events.filter((e) => e.type === 'progress' && e.paused);
    const copied = async (): Promise<number> =>
      (await db.query<{ n: number }>(`SELECT sum(rows_copied)::int AS n FROM partwise.migration_target`))[0]!.n;

    const logIndex = (prefix: string): number =>
      events.findLastIndex((e) => e.type === 'log' && e.message.startsWith(prefix));
    let watched = 0;
    const lags: number[] = [];
    // Each look at the state after an event or 200 ms: a pause before the phase has figures sends no more events.
    while (!finished) {
      await Promise.race([next(), new Promise((resolve) => setTimeout(resolve, 200))]);
      const pausedAt = logIndex('paused: ');
      if (pausedAt < 0 || pausedAt < logIndex('resumed after ')) continue;
      // A pause while the phase has figures repeats them with its reason at each look at the lag.
      if (events.slice(pausedAt).some((e) => e.type === 'progress' && e.paused)) {
        const atPause = await copied();
        // Two more looks at the lag, each still over the bound: nothing was copied meanwhile.
        const seen = pausedFigures().length;
        while (!finished && pausedFigures().length < seen + 2) await next();
        if (finished) break;
        expect(await copied()).toBe(atPause);
        const [lag] = await db.admin.query<{ bytes: string }>(
          `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint::text AS bytes FROM pg_replication_slots WHERE slot_name = $1`,
          [slot],
        );
        lags.push(Number(lag!.bytes));
        watched++;
      }
      if (watched >= 2) {
        // Seen enough. The slot's lag is every database's WAL (other test files write too): without the slot the
        // run goes on unthrottled.
        await db.admin.query(`SELECT pg_drop_replication_slot($1)`, [slot]);
        break;
      }
      await db.admin.query(`SELECT pg_replication_slot_advance($1, pg_current_wal_lsn())`, [slot]);
      // Until the run says it goes on, this pause is handled.
      while (!finished && logIndex('resumed after ') < pausedAt) {
        await Promise.race([next(), new Promise((resolve) => setTimeout(resolve, 200))]);
        if (logIndex('resumed after ') < pausedAt) {
          await db.admin.query(`SELECT pg_replication_slot_advance($1, pg_current_wal_lsn())`, [slot]);
        }
      }
    }
    const pauses = events.filter((e) => e.type === 'log' && e.message.startsWith('paused: ')).length;
    const outcome = await run;
    expect(outcome.status, outcome.message).toBe('succeeded');
    // The copy writes far more WAL than the bound: the run paused again and again.
    expect(pauses).toBeGreaterThanOrEqual(2);
    expect(watched).toBe(2);
    expect(Math.min(...lags)).toBeGreaterThan(BOUND);
    const reasons = pausedFigures().map((e) => (e.type === 'progress' ? e.paused : ''));
    expect(reasons[0]).toMatch(new RegExp(`^slot ${slot} lag \\d+(\\.\\d+)? [kMG]?B > 256 kB$`));
    expect(events.some((e) => e.type === 'log' && /^resumed after \d+ s paused$/.test(e.message))).toBe(true);
  });

  it('refuses a slot that does not exist, and a standby bound the role cannot watch', async () => {
    await createMirroredTable(db, 'unwatched', 100, 2);
    const runs = async (): Promise<number> =>
      (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM partwise.migration_run`))[0]!.n;
    const before = await runs();
    const target = [{ schema: 'public', table: 'unwatched', keyColumn: 'customer_id', bucketLimit: 500 }];
    await expect(
      migrate(db.pool, target, { throttle: { maxStandbyLagBytes: BOUND, slot: 'no_such_slot' } }),
    ).rejects.toMatchObject({
      kind: 'invalid_input',
      message: 'There is no replication slot "no_such_slot" on this server',
    });
    // The test database's owner is an ordinary role, without pg_read_all_stats.
    await expect(migrate(db.pool, target, { throttle: { maxStandbyLagBytes: BOUND } })).rejects.toMatchObject({
      kind: 'invalid_input',
      hint: expect.stringContaining('GRANT pg_monitor'),
    });
    // Nothing was recorded.
    expect(await runs()).toBe(before);
  });
});
