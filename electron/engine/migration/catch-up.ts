// Phase 5, catch up: apply the changes the application made during the copy,
// while it keeps making them, until few enough remain for the swap to apply
// them under its lock within a short time budget.
//
// Appliers, one per worker connection, each drain their share of the log (by
// a hash of the row identity) with the set-based replay of
// sql/functions/20_change_capture.sql: one call, one transaction, takes a
// batch of entries, applies each changed row once and consumes the entries,
// so an entry whose transaction committed late is still applied by a later
// batch.
// Meanwhile this connection steers: it measures the backlog and the apply
// rate, reports both, keeps the unique registries' log short, and decides
// when to hand over to the swap. If the application writes faster than the
// appliers apply (rounds stop shrinking), or than this connection syncs the
// registries' log, it pauses the writers for at most PAUSE_MS at a time (a
// SHARE lock: reads go on) while the appliers run alone and this connection
// syncs the registries' log under the lock, with free gaps between pauses
// that shrink until both logs fit the budget. The application's longest wait
// is so bounded by one pause (or the swap), never by how long the application
// keeps writing.
// Beside the other appliers, the first builds the unique registries before it
// applies (they read the original table, not the new one); the hand-over to
// the swap waits for them too.
// A catch-up that had to pause the writers hands over from inside a pause,
// once its appliers' last batches are in (endAppliersInPause), to a swap that
// takes its lock at once (cutover.ts): between the two, nothing applies alone.
import type pg from 'pg';
import { PartwiseError } from '../../db/errors.js';
import { ident } from '../../db/sql.js';
import { lockBudget, serverInfo } from '../catalog.js';
import { DEADLOCK_ATTEMPTS, deadlockTimeoutMs, lockTimeoutFor, retryOnDeadlock, sleep } from '../locks.js';
import { logEntries, ResumableStop, throwIfCancelled, withConnections, type TargetContext } from './context.js';
import {
  buildRegistries,
  pendingRegistryEntries,
  registryLogAnalyzeDue,
  syncLockedRegistries,
  syncRegistries,
} from './unique-registry.js';
import { crashPoint } from './crash-points.js';

/** Log entries one replay call takes: enough that a call's round trip does not count, few enough that the backlog moves smoothly (a batch commits, or not, whole). */
const BATCH = 5_000;
/** How often the steering connection measures the backlog, and while writers are paused. */
const SAMPLE_MS = 250;
const PAUSED_SAMPLE_MS = 50;
/** The backlog may go to the swap when one connection applies it in about this time (under the swap's lock). */
const SWAP_BUDGET_MS = 200;
/**
 * Rounds "stop shrinking" when, at the pace the backlog fell over the last
 * TREND_MS, it would not be gone within CONVERGE_MS. Half a second: two
 * samples, enough to see the backlog not falling (under 4 unthrottled
 * writers it rose from the first sample on, and a whole second of it was
 * waited for before the first pause).
 */
const TREND_MS = 500;
const CONVERGE_MS = 3_000;
/** The longest the writers are paused at a time, and the shortest free gap between two pauses. */
const PAUSE_MS = 400;
const MIN_GAP_MS = 100;
/** The apply rate is measured over this window. */
const RATE_WINDOW_MS = 2_000;
/** An applier whose share of the log is empty waits this long before looking again. */
const IDLE_MS = 20;
export interface Sample {
  at: number;
  applied: number;
  backlog: number;
  /** Distinct keys in the backlog, counted only when the swap's lock share bounds them (see swapKeyRoom). */
  keys?: number;
  /** Entries of the unique registries' log not yet synced, counted once the registries are built. */
  registryBacklog?: number;
}

/** Generates the log's replay function; done again as catch-up starts, so a run prepared by an earlier version replays with this one. */
export async function createReplay(context: TargetContext, client: pg.ClientBase): Promise<void> {
  const { target, sql } = context;
  await client.query(`SELECT ${sql.install}.create_replay($1, $2::regclass, $3::regclass, $4, $5, $6, $7, $8)`, [
    target.saved.changeLog,
    sql.source,
    sql.partitioned,
    target.saved.identity,
    target.keyColumn,
    target.configId,
    target.bucketColumn,
    lockBudget(await serverInfo(client), context.options.workers),
  ]);
}

/**
 * How many keys' changes the swap may apply, or null when any number may. The
 * swap applies what is left in its one transaction, and on a tree larger than
 * a connection's share of the lock table the replay locks every relation of
 * each key it applies (partitions, indexes, TOAST tables) until that
 * transaction ends: thousands of keys would not fit. So the catch-up hands
 * over only when the keys left fit the share, as one replay batch's keys do
 * (replay_key_room in sql/functions/20_change_capture.sql).
 */
async function swapKeyRoom(context: TargetContext, client: pg.ClientBase): Promise<number | null> {
  const { rows } = await client.query<{ room: number | null }>(
    `SELECT ${context.sql.install}.replay_key_room($1::regclass, $2) AS room`,
    [context.sql.partitioned, lockBudget(await serverInfo(client), context.options.workers)],
  );
  return rows[0]!.room;
}

export function pendingChanges(client: pg.ClientBase | pg.Pool, context: TargetContext): Promise<number> {
  return logEntries(client, context, context.target.saved.changeLog);
}

/** The backlog and how many keys it touches. */
async function pendingKeys(client: pg.ClientBase, context: TargetContext): Promise<{ backlog: number; keys: number }> {
  const { rows } = await client.query<{ backlog: string; keys: string }>(
    `SELECT count(*) AS backlog, count(DISTINCT key_value) AS keys FROM ${context.sql.install}.${ident(context.target.saved.changeLog!)}`,
  );
  return { backlog: Number(rows[0]!.backlog), keys: Number(rows[0]!.keys) };
}

function replayFunction(context: TargetContext): string {
  return `${context.sql.install}.${ident(`${context.target.saved.changeLog!}_replay`)}`;
}

/**
 * Creates the keys that the next batch of the share `part` of `parts` would
 * create, each in a transaction of its own (see <log>_new_keys in
 * sql/functions/20_change_capture.sql): the partitioned table's SHARE UPDATE
 * EXCLUSIVE lock, which a new key's partition takes, is then held for one
 * key's DDL, not for a whole batch that other appliers' new keys wait behind.
 */
async function createNewKeys(
  context: TargetContext,
  client: pg.ClientBase,
  part: number,
  parts: number,
): Promise<void> {
  const { target, sql } = context;
  if (target.configId === null) return;
  const { rows } = await client.query<{ key: string }>(
    `SELECT k AS key FROM ${sql.install}.${ident(`${target.saved.changeLog!}_new_keys`)}($1, $2, $3) k`,
    [BATCH, part, parts],
  );
  for (const { key } of rows) {
    await client.query(`SELECT 1 FROM ${sql.install}.ensure_key($1, $2)`, [target.configId, key]);
  }
}

/**
 * One replay call: a batch of the share `part` of `parts`, applied and
 * consumed in one statement (its own transaction unless the caller has one),
 * its new keys created first when `newKeysFirst`.
 */
async function replayBatch(
  context: TargetContext,
  client: pg.ClientBase,
  part: number,
  parts: number,
  { newKeysFirst }: { newKeysFirst: boolean },
): Promise<number> {
  if (newKeysFirst) await createNewKeys(context, client, part, parts);
  const { rows } = await client.query<{ n: string }>(`SELECT ${replayFunction(context)}($1, $2, $3) AS n`, [
    BATCH,
    part,
    parts,
  ]);
  return Number(rows[0]!.n);
}

/**
 * Applies logged entries on one connection. In the swap's transaction, with
 * the original table locked against writers, every entry left (the swap
 * reports the time it took: the measured part of its pause). Outside a
 * transaction, while the application writes, one batch per transaction and
 * no more entries than were pending as it started (else it might never end).
 * Returns the entries and the time it took.
 */
export async function applyRemainingChanges(
  context: TargetContext,
  client: pg.ClientBase,
  { whileWriting }: { whileWriting: boolean },
): Promise<{ entries: number; ms: number }> {
  const started = Date.now();
  const most = whileWriting ? await pendingChanges(client, context) : Infinity;
  let entries = 0;
  while (entries < most) {
    throwIfCancelled(context);
    // Until none is left: a batch may take fewer than BATCH entries while more
    // remain (on a tree too large for the lock table, it takes a few keys' only).
    // Under the swap's lock no other session creates keys: the batch does.
    const n = await replayBatch(context, client, 0, 1, { newKeysFirst: whileWriting });
    entries += n;
    if (n === 0) break;
  }
  context.target.changesApplied += entries;
  await context.journal.updateTarget(client, context.target.runId, context.target.targetNo, {
    changesApplied: context.target.changesApplied,
  });
  return { entries, ms: Date.now() - started };
}

export async function catchUp(context: TargetContext, client: pg.ClientBase): Promise<void> {
  await createReplay(context, client);
  await catchUpRows(context, client);
  // The unique registries follow a log of their own: applying it now leaves
  // the swap only what changes while it waits for its lock. Not after a
  // pause of the writers: the last one emptied that log, and the writers,
  // free again, would log as fast as this sync goes while the swap waits
  // for it (the swap syncs what they log meanwhile under its lock).
  if (!context.writesOutranCatchUp) await syncRegistries(context, client);
}

export interface Appliers {
  /** Entries applied so far by all appliers. */
  applied: number;
  /** Set by the steering connection to end the appliers, or by the appliers when one failed. */
  stop: boolean;
  parts: number;
  /** The most keys the swap may be left to apply (swapKeyRoom), or null. */
  keyRoom: number | null;
  /** The unique registries are built (buildRegistries): their log is counted, and the swap may come. */
  registriesBuilt: boolean;
  /**
   * The first applier builds the registries, then syncs the log written
   * meanwhile: until this is false it applies no change, and it alone syncs
   * that log (two syncs at once would take the same entries).
   */
  builderBusy: boolean;
  /**
   * The others hold off (between batches, holding no lock on the new table)
   * while the first places the registries' triggers (applyingAlone).
   */
  held: boolean;
  /** Appliers in a batch right now, the first not counted. */
  inBatch: number;
  /** Settles once every applier has ended (set as they start). */
  ended?: Promise<unknown>;
}

async function catchUpRows(context: TargetContext, control: pg.ClientBase): Promise<void> {
  const appliers: Appliers = {
    applied: 0,
    stop: false,
    parts: Math.max(1, context.options.workers),
    keyRoom: await swapKeyRoom(context, control),
    registriesBuilt: false,
    builderBusy: true,
    held: false,
    inBatch: 0,
  };
  // The unique registries are built here, beside the appliers, rather than at
  // the end of the index phase, where they made the catch-up wait (7 of the
  // 10 s of the index phase in the load bench under 4 unthrottled writers):
  // a registry is filled from the original table (a block range per
  // transaction) and writes only its own table, so neither waits for the
  // other's locks (its inert triggers on the new table would: they are placed
  // while the other appliers hold off, applyingAlone). The first
  // applier builds them before it applies: a connection of their own would be
  // one more than the run's budget (connectionsForRun), and the server or the
  // role may allow no more. Until they are built, nobody else applies their
  // log: a sync meanwhile would consume entries that a registry being filled,
  // not yet visible to it, still needs. The swap waits for them. Built on a
  // connection of their own from the start of the index phase instead (with
  // one more connection in the budget), the swap came later, not sooner: 13.1
  // to 14.4 s after the copy against 9.7 to 12.1 s, three runs of each
  // alternated, load bench at 3M rows on 15 on 2 cores, where the fill took
  // the index builds' CPU (the index phase 1.5 s longer) and the catch-up
  // gained nothing.
  // Once built, the same applier syncs the log written during the fill, at
  // one connection's full pace, before it applies: left to the steering
  // connection, which syncs in slices between its samples and pauses, the
  // 480,000 entries of a 10M-row table took about 80 s. The registries count
  // as built from the start of that sync, so that the steering counts their
  // log and pauses the writers for it (not counted, it was never paused for,
  // and under writers that log as fast as it syncs the sync never ended).
  const applying = withConnections(context, appliers.parts, async (client, part, failed) => {
    if (part === 0) {
      try {
        await crashPoint('catch_up:building-registries');
        await buildRegistries(context, client, 'beside the appliers', (work) => applyingAlone(appliers, work));
        appliers.registriesBuilt = true;
        await syncRegistries(context, client);
      } finally {
        appliers.builderBusy = false;
      }
    }
    while (!appliers.stop && !failed()) {
      throwIfCancelled(context);
      if (appliers.held && part !== 0) {
        await sleep(IDLE_MS);
        continue;
      }
      // Appliers take buckets in key order, but PostgreSQL may still pick one
      // as a deadlock victim (partition creation, advisory locks, another
      // session holding rows of the new table or of the log): its batch
      // rolled back whole, entries included, so it is taken again; after
      // DEADLOCK_ATTEMPTS in a row the run stops where it stands, to be resumed.
      if (part !== 0) appliers.inBatch++;
      let n: number;
      try {
        n = await retryOnDeadlock(
          () => {
            // While the first builds and syncs the registries, the others share every key among themselves.
            const [share, shares] =
              !appliers.builderBusy || part === 0 ? [part, appliers.parts] : [part - 1, appliers.parts - 1];
            return replayBatch(context, client, share, shares, { newKeysFirst: true });
          },
          {
            signal: context.options.signal,
            onRetry: (deadlocks, pause) =>
              context.reporter.log(
                'debug',
                `applier ${part + 1}: deadlock ${deadlocks} of ${DEADLOCK_ATTEMPTS}, batch retried in ${Math.round(pause)} ms`,
                context.label,
              ),
            giveUp: (deadlocks, error) =>
              new ResumableStop(
                'conflict',
                `applying the changes made during the copy was chosen as a deadlock victim ${deadlocks} times in a row (applier ${part + 1}); the changes not yet applied are kept in the log`,
                {
                  hint: 'Look for sessions that hold rows of the new table or of the change log while the run catches up (pg_locks, pg_stat_activity), then resume.',
                  cause: error,
                },
              ),
          },
        );
      } finally {
        if (part !== 0) appliers.inBatch--;
      }
      appliers.applied += n;
      if (n === 0) await sleep(IDLE_MS);
    }
  }).finally(() => {
    appliers.stop = true;
  });
  appliers.ended = applying.catch(() => undefined);
  // This connection's plans, made now (a replay of no entry runs every
  // statement on no rows): the swap replays on it, and a connection's first
  // replay plans every statement over all the partitions (a quarter of a
  // second at 200 keys, seconds under load), which should not happen under
  // the lock. Made while the appliers already apply, not before they start.
  const steering = control
    .query(`SELECT ${replayFunction(context)}(0, 0, 1)`)
    .then(() => steer(context, control, appliers))
    .finally(() => {
      appliers.stop = true;
    });
  const [applied, steered] = await Promise.allSettled([applying, steering]);
  // The journal's count is kept here rather than by every batch: appliers
  // writing the one journal row would queue behind each other's transactions.
  // (A crash during catch-up leaves it short by what catch-up applied; it is
  // a figure for people, and the log, not the count, says what is left.)
  context.target.changesApplied += appliers.applied;
  await context.journal.updateTarget(control, context.target.runId, context.target.targetNo, {
    changesApplied: context.target.changesApplied,
  });
  if (applied.status === 'rejected') throw applied.reason;
  if (steered.status === 'rejected') throw steered.reason;
}

/**
 * Runs `work` on the first applier's connection while the others hold off:
 * they finish the batch they are in, then wait between batches, holding no
 * lock on the new table. For placing the registries' triggers: creating a
 * trigger on a partition conflicts with a batch's writes, and beside the
 * appliers (a batch locks leaves before their parent, the trigger a parent
 * before its leaves) each waited for the other until PostgreSQL ended one as
 * a deadlock victim: at 10M rows on PostgreSQL 18 in the load bench, three
 * deadlocks and about 40 s with no change applied while the backlog grew.
 */
async function applyingAlone<T>(appliers: Appliers, work: () => Promise<T>): Promise<T> {
  appliers.held = true;
  try {
    while (appliers.inBatch > 0 && !appliers.stop) await sleep(IDLE_MS);
    return await work();
  } finally {
    appliers.held = false;
  }
}

/** Changes per second over the last RATE_WINDOW_MS; null until two samples some time apart. */
function applyRate(samples: Sample[]): number | null {
  const last = samples.at(-1)!;
  const first = samples.find((s) => last.at - s.at <= RATE_WINDOW_MS) ?? last;
  const seconds = (last.at - first.at) / 1000;
  return seconds > 0.1 ? (last.applied - first.applied) / seconds : null;
}

/**
 * Few enough changes left for one connection to apply them under the swap's
 * lock within SWAP_BUDGET_MS, and of few enough keys for the swap's share of
 * the lock table. (The registries' log: registryFitsSwap.)
 */
function fitsSwap(context: TargetContext, sample: Sample, rate: number | null, appliers: Appliers): boolean {
  const { parts, keyRoom } = appliers;
  if (keyRoom !== null && sample.keys !== undefined && sample.keys > keyRoom) return false;
  if (sample.backlog <= context.options.catchUpThreshold) return true;
  // The appliers' rate is shared by `parts` connections; the swap has one.
  return rate !== null && sample.backlog <= ((rate / parts) * SWAP_BUDGET_MS) / 1000;
}

/**
 * The unique registries' log, which the swap also syncs under its lock, holds
 * no more than one batch of their sync (the size judged short enough for a
 * transaction beside the application's: syncRegistries), or none to sync.
 * The steering connection syncs it between its samples, and in the writers'
 * pauses, so the catch-up hands over only once it caught up with the
 * writers: a backlog handed over whole (the first sync of a large table took
 * seconds) was synced by the catch-up's last sync while the writers logged
 * more, all of it left to the swap's lock.
 */
export function registryFitsSwap(sample: Sample, batch: number): boolean {
  // Not counted: the registries were not built when the sample was taken.
  return sample.registryBacklog !== undefined && sample.registryBacklog <= batch;
}

/** One of the two logs the catch-up must shorten before the swap: the change log, or the unique registries' log. */
export type Backlog = 'backlog' | 'registryBacklog';

/**
 * The log that keeps the catch-up from handing over, or null when both fit
 * the swap: the change log first (fitsSwap), then the registries' log
 * (registryFitsSwap).
 */
function lagging(context: TargetContext, sample: Sample, rate: number | null, appliers: Appliers): Backlog | null {
  if (!fitsSwap(context, sample, rate, appliers)) return 'backlog';
  return registryFitsSwap(sample, context.options.registrySyncBatch) ? null : 'registryBacklog';
}

/**
 * The application writes about as fast as that log is shortened (the
 * appliers' for the change log, the steering connection's sync for the
 * registries'): at the pace it fell over the last TREND_MS (if it fell), it
 * would not be gone within CONVERGE_MS. False until there is a trend to judge
 * by (samples taken before the registries were built do not count theirs).
 */
export function stalled(samples: Sample[], backlog: Backlog = 'backlog'): boolean {
  const counted = samples.filter((s) => s[backlog] !== undefined);
  const last = counted.at(-1);
  const before = last && counted.findLast((s) => last.at - s.at >= TREND_MS);
  if (!last || !before) return false;
  const fallPerMs = (before[backlog]! - last[backlog]!) / (last.at - before.at);
  return fallPerMs <= 0 || last[backlog]! / fallPerMs > CONVERGE_MS;
}

/**
 * From one pause to the next, that log fell fast enough that, at that pace,
 * the rest would be gone within CONVERGE_MS. Before, the gap shrank only when
 * a pause left more than the last one, so a backlog that fell a little at
 * every pause kept the first gap (a third of the time free for the writers)
 * all the way down: 100,000 changes took 7.4 and 7.8 s of catch-up at 3M rows
 * in the load bench on 15, against 6.2 and 6.9 s with this rule, alternated
 * in one sitting, each pause no longer (the longest write wait 466/453 ms
 * against 473/463 ms).
 */
export function convergesSoon(before: Sample, after: Sample, backlog: Backlog = 'backlog'): boolean {
  const [from, to] = [before[backlog], after[backlog]];
  if (from === undefined || to === undefined) return false;
  const fallPerMs = (from - to) / Math.max(1, after.at - before.at);
  return fallPerMs > 0 && to / fallPerMs <= CONVERGE_MS;
}

function handOver(context: TargetContext, last: Sample, samples: Sample[]): void {
  context.handedOverAt = Date.now();
  const rate = applyRate(samples);
  context.reporter.log(
    'info',
    `${last.backlog.toLocaleString('en-US')} changes${last.keys === undefined ? '' : ` of ${last.keys.toLocaleString('en-US')} keys`} left for the swap${rate ? ` (applied at ${Math.round(rate).toLocaleString('en-US')} per second)` : ''}${last.registryBacklog === undefined || !context.target.saved.registryLog ? '' : `, and ${last.registryBacklog.toLocaleString('en-US')} entries of the unique registries' log`}`,
    context.label,
  );
}

/** What the steering connection knows of the registries' sync. */
interface RegistrySync {
  /** Entries per ms, as last measured (null before). */
  perMs: number | null;
  /** Entries in the log at its last ANALYZE (null before). */
  analyzed: number | null;
}

/**
 * The registries' sync outside a pause: a slice of about `ms` (the writers
 * are free meanwhile), then the rest of `ms` waited out if the slice ended
 * sooner, so that samples stay about `ms` apart. Only waits while the
 * registries are not built, or while the applier that built them syncs them.
 */
async function syncBetweenSamples(
  context: TargetContext,
  control: pg.ClientBase,
  appliers: Appliers,
  sync: RegistrySync,
  last: Sample | undefined,
  ms: number,
): Promise<void> {
  const started = Date.now();
  if (appliers.registriesBuilt && !appliers.builderBusy) {
    // Not counted yet (the registries were built since the last sample): analyzed, and again once counted.
    const entries = last?.registryBacklog;
    const analyze = entries === undefined || registryLogAnalyzeDue(sync.analyzed, entries);
    const synced = await syncRegistries(context, control, { forMs: ms, analyze });
    if (analyze) sync.analyzed = entries ?? null;
    if (synced > 0) sync.perMs = synced / Math.max(1, Date.now() - started);
  }
  const left = ms - (Date.now() - started);
  if (left > 0) await sleep(left, context.options.signal);
}

async function steer(context: TargetContext, control: pg.ClientBase, appliers: Appliers): Promise<void> {
  const samples: Sample[] = [];
  const sample = async (): Promise<Sample> => {
    const next: Sample =
      appliers.keyRoom === null
        ? { at: Date.now(), applied: appliers.applied, backlog: await pendingChanges(control, context) }
        : { at: Date.now(), applied: appliers.applied, ...(await pendingKeys(control, context)) };
    if (appliers.registriesBuilt) next.registryBacklog = await pendingRegistryEntries(context, control);
    samples.push(next);
    while (samples.length > 2 && next.at - samples[0]!.at > TREND_MS + RATE_WINDOW_MS) samples.shift();
    // Done and total as the progress line shows them: the backlog is what total - done leaves,
    // and the reporter's rate is the apply rate.
    context.reporter.progress(
      'catch_up',
      context.target.changesApplied + next.applied,
      context.target.changesApplied + next.applied + next.backlog,
      'changes',
      { table: context.label, pending: next.backlog },
    );
    return next;
  };
  const sync: RegistrySync = { perMs: null, analyzed: null };
  let pausing = false;
  // Paused half the time to begin with; less free time while that is not enough.
  let gapMs = PAUSE_MS / 2;
  let afterLastPause: Sample | null = null;
  // The writers' free time before the next sample: SAMPLE_MS until they are paused, then the gap.
  let freeMs = 0;
  for (;;) {
    if (appliers.stop) return; // an applier failed: its error ends the phase
    throwIfCancelled(context);
    // A slice of the registries' sync, not all of it: its first sync here
    // may be long, and this loop must go on sampling and pausing meanwhile.
    await syncBetweenSamples(context, control, appliers, sync, samples.at(-1), freeMs);
    const now = await sample();
    const behind = lagging(context, now, applyRate(samples), appliers);
    if (behind === null) return handOver(context, now, samples);
    freeMs = SAMPLE_MS;
    // Applied as far as the swap needs, the registries still being built:
    // a pause would not build them sooner.
    if (now.registryBacklog === undefined && behind === 'registryBacklog') continue;
    // The writes are paused when the log that keeps the swap waiting, the
    // change log or the registries', does not fall fast enough: the
    // registries' log alone, under writers that log as fast as one
    // connection syncs it, was never paused for, and the catch-up went on
    // until the writers stopped.
    if (!pausing && stalled(samples, behind)) {
      pausing = true;
      context.writesOutranCatchUp = true;
      context.reporter.log(
        'warn',
        behind === 'backlog'
          ? `the application writes about as fast as changes are applied (${now.backlog.toLocaleString('en-US')} pending, ${Math.round(applyRate(samples) ?? 0).toLocaleString('en-US')} applied per second); pausing its writes for up to ${PAUSE_MS} ms at a time until the rest fits the swap`
          : `the application writes about as fast as the unique registries' log is synced (${now.registryBacklog!.toLocaleString('en-US')} entries pending); pausing its writes for up to ${PAUSE_MS} ms at a time until the rest fits the swap`,
        context.label,
      );
    }
    if (!pausing) continue;
    const paused = await pauseWriters(context, control, appliers, sync, sample, samples);
    if (paused?.handOver) return handOver(context, paused.after, samples);
    const after = paused?.after ?? null;
    // A pause and its gap that did not bring the log down fast enough
    // leave the application a shorter gap before the next: the paused share
    // grows until the rest would be gone within CONVERGE_MS.
    const cycle = after ?? now;
    if (afterLastPause && !convergesSoon(afterLastPause, cycle, behind)) gapMs = Math.max(MIN_GAP_MS, gapMs / 2);
    afterLastPause = cycle;
    freeMs = gapMs;
  }
}

/**
 * Holds the original table in SHARE mode (writers wait, readers do not) for
 * at most PAUSE_MS while the appliers apply, and returns the last sample
 * taken under it, and whether both logs fit the swap so that the catch-up
 * hands over (its appliers ended); null when the lock was not granted in
 * time (the next round tries again). The lock is requested with the swap's
 * lock_timeout, raised past deadlock_timeout so that an autovacuum in the way
 * is cancelled (see locks.ts). Ends sooner once both logs fit the swap.
 * Meanwhile this connection syncs the registries' log, in the pause's own
 * transaction, towards empty: with the writers held out, what that log
 * holds is all it will hold until the pause ends, and batches sized to the
 * pause's time left drain it (outside, one connection syncing beside
 * unthrottled writers may never catch up with them). Read committed, so that
 * the samples see the appliers' progress and each statement of the sync
 * sees what the application's last commits left, as the swap's in-lock sync
 * does (syncLockedRegistries).
 */
async function pauseWriters(
  context: TargetContext,
  control: pg.ClientBase,
  appliers: Appliers,
  sync: RegistrySync,
  sample: () => Promise<Sample>,
  samples: Sample[],
): Promise<{ after: Sample; handOver: boolean } | null> {
  const timeout = lockTimeoutFor(context.options.lock.lockTimeoutMs, await deadlockTimeoutMs(control));
  await control.query('BEGIN ISOLATION LEVEL READ COMMITTED');
  try {
    await control.query(`SET LOCAL lock_timeout = ${Math.round(timeout)}`);
    try {
      await control.query(`LOCK TABLE ${context.sql.source} IN SHARE MODE`);
    } catch (error) {
      if (PartwiseError.from(error).sqlstate !== '55P03') throw error; // lock_not_available
      await control.query('ROLLBACK');
      context.reporter.log('debug', `no pause of writes: the lock was not granted in ${timeout} ms`, context.label);
      return null;
    }
    const pausedAt = Date.now();
    const left = (): number => PAUSE_MS - (Date.now() - pausedAt);
    const before = samples.at(-1)!;
    let synced = 0;
    let handingOver = false;
    let appliersEnded = false;
    while (!appliers.stop && left() > 0) {
      throwIfCancelled(context);
      const last = samples.at(-1)!;
      const batch = appliers.builderBusy ? 0 : registryPauseBatch(context, last, sync, left());
      if (batch > 0) {
        const started = Date.now();
        const entries = await syncLockedRegistries(context, control, batch);
        synced += entries;
        if (entries > 0) sync.perMs = entries / Math.max(1, Date.now() - started);
      } else await sleep(Math.min(PAUSED_SAMPLE_MS, left()), context.options.signal);
      if (lagging(context, await sample(), applyRate(samples), appliers) === null) {
        handingOver = true;
        // Meanwhile this connection syncs what the time left allows of the
        // registries' log (at most one batch: registryFitsSwap), which the
        // swap would otherwise sync under its lock.
        const batch = appliers.builderBusy ? 0 : registryPauseBatch(context, samples.at(-1)!, sync, left());
        const [ended, entries] = await Promise.all([
          endAppliersInPause(appliers, left()),
          batch > 0 ? syncLockedRegistries(context, control, batch) : 0,
        ]);
        appliersEnded = ended;
        synced += entries;
        throwIfCancelled(context);
        // The figures handed over: what the appliers left.
        await sample();
        break;
      }
    }
    await control.query('COMMIT');
    const after = samples.at(-1)!;
    context.reporter.log(
      'debug',
      `paused writes for ${Date.now() - pausedAt} ms: ${before.backlog.toLocaleString('en-US')} -> ${after.backlog.toLocaleString('en-US')} changes pending${synced > 0 ? `, ${synced.toLocaleString('en-US')} entries of the unique registries' log synced (${(after.registryBacklog ?? 0).toLocaleString('en-US')} left)` : ''}${handingOver ? `; handing over, the appliers ${appliersEnded ? 'ended in it' : 'still ending as it ended'}` : ''}`,
      context.label,
    );
    return { after, handOver: handingOver };
  } catch (error) {
    await control.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/**
 * The catch-up hands over from inside this pause: the appliers end here,
 * their last batches applied while the writers still wait, rather than
 * after it, while the writers are free and log more for the swap's lock
 * (the hand-over waits for the appliers either way: catch-up-load.db.test.ts
 * on 18 took the swap's lock 12 to 23 ms after the hand-over instead of 59
 * to 119, with 788 to 1,378 changes left for it instead of 2,766 to 6,281,
 * four runs of each alternated). Waited for no longer than the pause has
 * left, so that the writers' wait stays within PAUSE_MS and an applier
 * waiting for a session that waits for this pause's lock (a DBA's, say)
 * cannot hold it forever. Resolves true when they all ended in time.
 */
export async function endAppliersInPause(appliers: Pick<Appliers, 'stop' | 'ended'>, leftMs: number): Promise<boolean> {
  appliers.stop = true;
  if (!appliers.ended) return true;
  if (leftMs <= 0) return false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const pauseEnds = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), leftMs);
  });
  return Promise.race([appliers.ended.then(() => true), pauseEnds]).finally(() => clearTimeout(timer));
}

/**
 * Entries of the registries' log to sync next in a pause with `leftMs` to
 * go: none while it is empty (or the registries are not built), else what
 * half the time left syncs at the last measured pace (the rest of the pause
 * takes further, smaller batches, so that the lock is not held past PAUSE_MS
 * by a batch larger than the pace allows); while no pace was measured, a
 * tenth of a batch of the sync outside pauses, to measure it: a whole batch
 * (10,000 entries) taken blind held the writers 642 and 666 ms in the load
 * bench at 3M rows, the first pause after the registries were built. The
 * whole log when the pace allows, not only down to one batch: the pause that
 * hands over leaves the catch-up's last sync (catchUp), which the writers do
 * not wait for but which comes before the swap's lock, next to nothing: in
 * catch-up-load.db.test.ts on 18, with pauses that synced only down to one
 * batch, that sync took 0.9 and 1.2 s (8,115 and 20,000 entries) while the
 * writers logged changes for the swap to apply under its lock, and a write
 * waited 2.7 s; emptied, it took 21 and 234 ms, the longest write wait 0.7
 * and 1.1 s.
 */
export function registryPauseBatch(
  context: Pick<TargetContext, 'options'>,
  last: Sample,
  sync: RegistrySync,
  leftMs: number,
): number {
  if (!last.registryBacklog) return 0;
  const paced =
    sync.perMs === null ? Math.ceil(context.options.registrySyncBatch / 10) : Math.floor((sync.perMs * leftMs) / 2);
  return Math.min(last.registryBacklog, Math.max(1, paced));
}
