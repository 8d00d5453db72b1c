// Watches Partwise's open transactions during a run, for the tests that bound
// how long the engine holds a snapshot (the copy, a registry's fill, a whole
// 10M-row migration). What a long transaction costs the application is vacuum's
// horizon held back: pg_stat_activity's backend_xmin (a snapshot) or
// backend_xid (a transaction id). Their age is not shown, but xact_start is,
// and a transaction's snapshots are no older than the transaction itself, so
// the age of xact_start bounds theirs. Partwise's sessions are known by their
// application_name; the sampler's own connection has another, so it never sees
// itself. Sampling misses transactions shorter than its pause, which is what
// these tests want: a long transaction is in many samples, and each test also
// checks that the sampler saw Partwise at work at all.
import type { TestDatabase } from './database.js';

export interface TransactionSample {
  /** When it was seen (clock_timestamp()). */
  at: string;
  pid: number;
  /** The transaction's start (xact_start). */
  xact: string;
  /** How old the transaction was when seen, in ms. */
  ageMs: number;
  /** The session's last statement, so that a failure names the transaction. */
  query: string;
}

export interface SamplerOptions {
  /** The pause between two passes. */
  everyMs: number;
  /**
   * Only transactions holding vacuum's horizon back (a snapshot or a transaction
   * id); otherwise every open transaction, the stricter watch, even one idle
   * between two statements.
   */
  holdingHorizon: boolean;
}

export interface SnapshotSampler {
  /** Every transaction seen so far, in the order seen (one a pass and session). */
  samples: TransactionSample[];
  /** How many passes saw a Partwise transaction. */
  passes(): number;
  /** The oldest transaction seen in any pass, if any was. */
  oldest(): TransactionSample | undefined;
  /** Ends the sampling (the pass under way finishes first) and closes its connection. */
  stop(): Promise<void>;
}

/** Starts sampling Partwise's open transactions, on a connection of its own, until stopped. */
export function startSnapshotSampler(db: TestDatabase, options: SamplerOptions): SnapshotSampler {
  const samples: TransactionSample[] = [];
  let passes = 0;
  let stopped = false;
  const done = (async () => {
    const client = await db.connect();
    try {
      while (!stopped) {
        const { rows } = await client.query<TransactionSample>(
          `SELECT clock_timestamp()::text AS at, pid, xact_start::text AS xact,
                  extract(epoch FROM clock_timestamp() - xact_start)::float8 * 1000 AS "ageMs", left(query, 300) AS query
             FROM pg_stat_activity
            WHERE datname = current_database() AND application_name = 'partwise' AND xact_start IS NOT NULL
              AND (NOT $1 OR backend_xmin IS NOT NULL OR backend_xid IS NOT NULL)`,
          [options.holdingHorizon],
        );
        if (rows.length > 0) passes++;
        samples.push(...rows);
        await new Promise((r) => setTimeout(r, options.everyMs));
      }
    } finally {
      await client.end();
    }
  })();
  return {
    samples,
    passes: () => passes,
    oldest: () => samples.reduce<TransactionSample | undefined>((a, s) => (a && a.ageMs >= s.ageMs ? a : s), undefined),
    stop: async () => {
      stopped = true;
      await done;
    },
  };
}
