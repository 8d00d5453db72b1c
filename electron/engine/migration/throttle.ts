// How hard the copy and the index builds press on the server (shared/throttle.ts):
// before each unit of work (a chunk to count or copy, a group of leaves to
// index) the worker asks to be admitted. Admission waits while a user holds
// the run (partwise pause: the journal says so, whichever process set it) and
// while a standby's replay lag or the named slot's lag is over the bound, all
// of it between transactions, so a waiting run holds no snapshot; then for the unit's
// turn under the rate cap. Units are what is paced, not bytes within one: a
// unit runs at full speed and the next one starts later, so the rate holds on
// average over a few units.
//
// What the lag bound guarantees: a unit is admitted only on a look at the lag
// taken after its worker asked (so after that worker's previous unit), that
// found it at or under the bound, the lag counting every WAL byte the server
// has generated, written to its files or not. Work admitted just under the
// bound still writes its WAL, so the lag can pass the bound by what the
// units in flight at that look write: at most one unit per worker (a chunk
// or a group of index builds reads at most a quarter of the bound; a batch of
// partitions writes its catalog rows), plus the run's bookkeeping between
// units. WAL from anything else on the server adds to the lag too, and is not
// Partwise's to hold back.
import type pg from 'pg';
import type { Throttle as ThrottleSettings } from '../../../shared/throttle.js';
import { formatBytes } from '../../../shared/text.js';
import { PartwiseError } from '../../db/errors.js';
import { sleep } from '../locks.js';

/** How often a paused run looks again (at the lag, and whether a user still holds it). */
export const LAG_POLL_MS = 1000;

export interface Lag {
  /** The largest lag in bytes, with what it is ("standby replica1", "slot s1"); null with no standby or slot. */
  bytes: number;
  of: string;
}

/** What admission needs from the run: where to look, whom to tell, what stops it. */
export interface ThrottleHost {
  pool: pg.Pool;
  signal: AbortSignal;
  /** The reason the work waits, or null when it goes on. */
  onPause(reason: string | null): void;
  /** Who holds the run (partwise pause), in words, or null. */
  heldBy(): Promise<string | null>;
}

/** Reservations of time under a rate: each unit starts once the units before it have had their share. */
export class Pacer {
  private next = 0;

  constructor(
    private readonly bytesPerSecond: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Milliseconds to wait before a unit of `bytes` may start (and its share is booked). */
  reserve(bytes: number): number {
    const now = this.now();
    const start = Math.max(now, this.next);
    this.next = start + (bytes / this.bytesPerSecond) * 1000;
    return start - now;
  }
}

/**
 * The largest replay lag among connected standbys and the slot's lag, in bytes.
 * A role without pg_read_all_stats sees standbys but not their positions:
 * refused in checkThrottle, before any work.
 *
 * Measured from where WAL is inserted, not from where it is written
 * (pg_current_wal_lsn): with asynchronous commits a unit's WAL can sit in the
 * WAL buffers (up to wal_buffers, 4 MB by default) until the WAL writer gets
 * to it, later still on a busy machine, and a lag that left it out let the
 * next units in on a reading that missed the units before them.
 */
export async function replicationLag(db: pg.Pool | pg.ClientBase, slot: string | null): Promise<Lag | null> {
  const { rows } = await db.query<{ of: string; bytes: string | null }>(
    `SELECT 'standby ' || coalesce(nullif(application_name, ''), client_addr::text, pid::text) AS of,
            pg_wal_lsn_diff(pg_current_wal_insert_lsn(), replay_lsn)::bigint::text AS bytes
       FROM pg_stat_replication
      WHERE replay_lsn IS NOT NULL
     UNION ALL
     SELECT 'slot ' || slot_name, pg_wal_lsn_diff(pg_current_wal_insert_lsn(), coalesce(confirmed_flush_lsn, restart_lsn))::bigint::text
       FROM pg_replication_slots
      WHERE slot_name = $1 AND coalesce(confirmed_flush_lsn, restart_lsn) IS NOT NULL`,
    [slot],
  );
  let worst: Lag | null = null;
  for (const row of rows) {
    const bytes = Math.max(0, Number(row.bytes));
    if (!worst || bytes > worst.bytes) worst = { bytes, of: row.of };
  }
  return worst;
}

/**
 * Refuses settings that could not work, before the run starts: a slot that
 * does not exist, or a lag bound the role cannot watch.
 */
export async function checkThrottle(db: pg.Pool | pg.ClientBase, settings: ThrottleSettings): Promise<void> {
  if (settings.maxStandbyLagBytes === undefined) return;
  const { rows } = await db.query<{ slot_found: boolean; sees: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1) AS slot_found,
            pg_has_role('pg_read_all_stats', 'USAGE') AS sees`,
    [settings.slot ?? null],
  );
  const row = rows[0]!;
  if (settings.slot !== undefined && !row.slot_found) {
    throw new PartwiseError('invalid_input', `There is no replication slot "${settings.slot}" on this server`, {
      hint: 'SELECT slot_name, slot_type, active FROM pg_replication_slots;',
    });
  }
  if (!row.sees && settings.slot === undefined) {
    throw new PartwiseError(
      'invalid_input',
      "The standby lag bound cannot be watched: this role cannot read standbys' replay positions (pg_stat_replication)",
      { hint: "GRANT pg_monitor TO <this role>;  -- or bound a replication slot's lag instead (--slot NAME)" },
    );
  }
}

/** The limits in words, or null when there are none. */
export function throttleSummary(settings: ThrottleSettings): string | null {
  const { maxRateMBps, maxStandbyLagBytes, slot } = settings;
  const parts = [
    ...(maxRateMBps ? [`reading at most ${maxRateMBps} MB/s`] : []),
    ...(maxStandbyLagBytes !== undefined
      ? [
          `pausing while ${slot ? `slot ${slot} or a standby` : 'a standby'} lags over ${formatBytes(maxStandbyLagBytes)}`,
        ]
      : []),
  ];
  return parts.length > 0 ? `copy and index builds throttled: ${parts.join(', ')}` : null;
}

export class Throttle {
  private readonly pacer: Pacer | null;

  constructor(
    private readonly settings: ThrottleSettings,
    private readonly host: ThrottleHost,
  ) {
    this.pacer = settings.maxRateMBps ? new Pacer(settings.maxRateMBps * 1024 * 1024) : null;
  }

  /**
   * The most table bytes one unit of work should read: a unit admitted just
   * under the lag bound writes its WAL whatever the lag becomes meanwhile, so
   * under a lag bound units are kept to a quarter of it (a copied row writes
   * about its size in WAL, and its share of the indexes more).
   */
  largestUnitBytes(): number {
    const bound = this.settings.maxStandbyLagBytes;
    return bound === undefined ? Infinity : Math.max(1, Math.floor(bound / 4));
  }

  /** Waits until a unit reading `bytes` of the table may start. */
  async admit(bytes: number): Promise<void> {
    await this.gate();
    if (this.pacer) {
      const wait = this.pacer.reserve(bytes);
      if (wait > 0) await sleep(wait, this.host.signal);
    }
  }

  /** One wait shared by every worker: the run pauses and goes on as one. */
  private gateWait: Promise<void> | null = null;

  private async gate(): Promise<void> {
    // A look begun before this worker asked may have read the lag before its
    // previous unit's WAL: it does not admit this worker, who waits for it to
    // end and then looks (or joins a look begun since).
    const begunBefore = this.gateWait;
    if (begunBefore) await begunBefore;
    this.gateWait ??= this.waitAtGate().finally(() => {
      this.gateWait = null;
    });
    return this.gateWait;
  }

  private async waitAtGate(): Promise<void> {
    let paused = false;
    try {
      for (;;) {
        const reason = await this.reasonToWait();
        if (reason === null) return;
        this.host.onPause(reason);
        paused = true;
        await sleep(LAG_POLL_MS, this.host.signal);
      }
    } finally {
      if (paused) this.host.onPause(null);
    }
  }

  /** A user holding the run first, then the lag bound. */
  private async reasonToWait(): Promise<string | null> {
    const held = await this.host.heldBy();
    if (held) return held;
    const bound = this.settings.maxStandbyLagBytes;
    if (bound === undefined) return null;
    const lag = await replicationLag(this.host.pool, this.settings.slot ?? null);
    return lag && lag.bytes > bound ? `${lag.of} lag ${formatBytes(lag.bytes)} > ${formatBytes(bound)}` : null;
  }
}
