// partwise key compact: a key's sparse buckets merged into as few as its limit
// allows, online, then the emptied leaves dropped.
//
// Which buckets: only closed ones, those before the key's current bucket.
// Routing gives each new row the next ticket of its key and the bucket whose
// ticket range holds it (sql/functions/09_assign_bucket.sql), so a closed
// bucket receives no new row, except from an insert that took one of its
// tickets before the next bucket was opened and has not committed yet. Such an
// insert holds a lock on the routing view from its statement's start; the
// compaction therefore waits for every transaction that holds one when it
// starts (as CREATE INDEX CONCURRENTLY waits for older transactions) before it
// counts rows. From then on the closed buckets only lose rows, so the counts
// are upper bounds and no bucket filled goes over its limit. The current bucket
// and those opened ahead of it are left alone.
//
// How rows move: key_compact_batch (sql/functions/30_key_actions.sql), a batch
// at a time under EXCLUSIVE on the source leaf, so that the application's
// UPDATE and DELETE of those rows wait for a table lock rather than a row lock
// and then find the row where it went, instead of failing with "tuple to be
// locked was already moved to another partition". Then key_drop_empty_buckets
// drops the emptied leaves in one short transaction.
//
// Run again after an interruption, it starts over from the key as it is:
// moved rows are committed where they went, emptied leaves are dropped.
import { PartwiseError } from '../../db/errors.js';
import { ident } from '../../db/sql.js';
import type { Queryable } from '../catalog.js';
import { crashPoint } from '../migration/crash-points.js';
import { inLockingTransaction, sleep } from '../locks.js';
import type { ActionContext, ActionOutcome } from './actions.js';
import type { KeyFacts } from './facts.js';

/** Rows moved per transaction: each holds EXCLUSIVE on its source leaf while it moves them. */
export const COMPACT_BATCH_ROWS = 1000;

export interface ClosedBucket {
  bucketId: number;
  leaf: string;
  rows: number;
  /** The most rows it may hold: its capacity, or the key's (or table's) limit if that is lower now. */
  limit: number;
}

export interface CompactionProposal {
  /** Every leaf of the key, the current bucket's and those ahead included. */
  leavesBefore: number;
  leavesAfter: number;
  /** Closed buckets that receive rows (the fullest), and those emptied then dropped. */
  targets: ClosedBucket[];
  sources: ClosedBucket[];
  rowsMoved: number;
}

/** The closed buckets of the key with their rows counted, and how many leaves the key has in all. */
export async function closedBuckets(
  db: Queryable,
  installSchema: string,
  facts: KeyFacts,
): Promise<{ buckets: ClosedBucket[]; leaves: number }> {
  const q = ident(installSchema);
  const { rows } = await db.query<{ bucket_id: number; leaf: string; capacity: string; closed: boolean }>(
    `SELECT b.bucket_id, b.leaf_partition::text AS leaf,
            least(b.capacity, coalesce(t.bucket_limit, c.bucket_limit)) AS capacity,
            b.bucket_id < t.current_bucket_id AS closed
       FROM ${q}.partition_bucket b
       JOIN ${q}.partition_tracker t USING (config_id, key_value)
       JOIN ${q}.partition_config c USING (config_id)
      WHERE b.config_id = $1 AND b.key_value = $2 ORDER BY b.bucket_id`,
    [facts.config.configId, facts.keyValue],
  );
  const closed = rows.filter((r) => r.closed);
  const buckets: ClosedBucket[] = [];
  // One statement for all the counts; each leaf holds at most the limit's rows.
  if (closed.length > 0) {
    const { rows: counted } = await db.query<{ bucket_id: number; n: string }>(
      closed.map((b) => `SELECT ${b.bucket_id}::int AS bucket_id, count(*) AS n FROM ${b.leaf}`).join(' UNION ALL '),
    );
    const byBucket = new Map(counted.map((c) => [c.bucket_id, Number(c.n)]));
    for (const b of closed)
      buckets.push({
        bucketId: b.bucket_id,
        leaf: b.leaf,
        rows: byBucket.get(b.bucket_id) ?? 0,
        limit: Number(b.capacity),
      });
  }
  return { buckets, leaves: rows.length };
}

/**
 * The fewest closed buckets that can hold all their rows: the fullest are kept
 * (fewest rows to move) and filled up to their limit; the others are emptied.
 */
export function proposeCompaction(buckets: readonly ClosedBucket[], leaves: number): CompactionProposal {
  const sorted = [...buckets].sort((a, b) => b.rows - a.rows || a.bucketId - b.bucketId);
  for (let kept = 0; kept <= sorted.length; kept++) {
    const targets = sorted.slice(0, kept);
    const sources = sorted.slice(kept);
    const room = targets.reduce((sum, b) => sum + Math.max(b.limit - b.rows, 0), 0);
    const rowsMoved = sources.reduce((sum, b) => sum + b.rows, 0);
    if (room >= rowsMoved) {
      return {
        leavesBefore: leaves,
        leavesAfter: leaves - sources.length,
        targets: targets.sort((a, b) => a.bucketId - b.bucketId),
        sources: sources.sort((a, b) => a.bucketId - b.bucketId),
        rowsMoved,
      };
    }
  }
  throw new Error('unreachable: keeping every bucket moves no row');
}

/** Which rows go where, as the run moves them: each emptied bucket into the first filled one with room left. */
export function plannedMoves(
  proposal: CompactionProposal,
): Array<{ source: ClosedBucket; target: ClosedBucket; rows: number }> {
  const room = new Map(proposal.targets.map((b) => [b.bucketId, Math.max(b.limit - b.rows, 0)]));
  const moves = [];
  for (const source of proposal.sources) {
    let left = source.rows;
    for (const target of proposal.targets) {
      if (left === 0) break;
      const rows = Math.min(left, room.get(target.bucketId)!);
      if (rows === 0) continue;
      moves.push({ source, target, rows });
      room.set(target.bucketId, room.get(target.bucketId)! - rows);
      left -= rows;
    }
  }
  return moves;
}

/** Waits until every transaction that held a lock on the routing view when it was called has ended. */
export async function waitForRoutedInserts(ctx: ActionContext): Promise<void> {
  const view = `${ident(ctx.config.schema)}.${ident(ctx.config.table)}`;
  const { rows } = await ctx.client.query<{ vxids: string[] }>(
    `SELECT coalesce(array_agg(DISTINCT virtualtransaction), '{}') AS vxids FROM pg_locks
      WHERE locktype = 'relation' AND relation = to_regclass($1) AND pid <> pg_backend_pid()
        AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    [view],
  );
  let waiting = rows[0]!.vxids;
  while (waiting.length > 0) {
    if (ctx.signal?.aborted) throw new PartwiseError('cancelled', 'Cancelled');
    ctx.progress({
      step: `waiting for ${waiting.length} transaction${waiting.length === 1 ? '' : 's'} that insert through ${ctx.config.schema}.${ctx.config.table} to end`,
    });
    await sleep(100, ctx.signal);
    const { rows: still } = await ctx.client.query<{ vxids: string[] }>(
      `SELECT coalesce(array_agg(virtualxid), '{}') AS vxids FROM pg_locks
        WHERE locktype = 'virtualxid' AND virtualxid = ANY ($1::text[])`,
      [waiting],
    );
    waiting = still[0]!.vxids;
  }
}

export async function compactKey(ctx: ActionContext): Promise<ActionOutcome> {
  const q = ident(ctx.installSchema);
  const { configId } = ctx.config;
  await ctx.step('waiting');
  await waitForRoutedInserts(ctx);
  const { buckets, leaves } = await closedBuckets(ctx.client, ctx.installSchema, ctx.facts);
  const proposal = proposeCompaction(buckets, leaves);
  await ctx.step('moving rows', {
    leavesBefore: proposal.leavesBefore,
    emptied: proposal.sources.map((b) => b.bucketId),
    filled: proposal.targets.map((b) => b.bucketId),
  });
  // Room left in each target; counts only fall (deletes) while this runs.
  const room = new Map(proposal.targets.map((b) => [b.bucketId, Math.max(b.limit - b.rows, 0)]));
  let moved = 0;
  for (const source of proposal.sources) {
    for (;;) {
      if (ctx.signal?.aborted) throw new PartwiseError('cancelled', 'Cancelled');
      const target = proposal.targets.find((b) => room.get(b.bucketId)! > 0);
      if (!target) break;
      const batch = Math.min(ctx.compactBatchRows ?? COMPACT_BATCH_ROWS, room.get(target.bucketId)!);
      ctx.progress({
        step: `moving rows of ${source.leaf} to ${target.leaf}`,
        done: moved,
        total: proposal.rowsMoved,
        unit: 'rows',
      });
      const count = await inLockingTransaction(ctx.client, ctx.lock, async () => {
        const { rows } = await ctx.client.query<{ n: string }>(
          `SELECT ${q}.key_compact_batch($1, $2, $3, $4, $5) AS n`,
          [configId, ctx.keyValue, source.bucketId, target.bucketId, batch],
        );
        return Number(rows[0]!.n);
      });
      if (count === 0) break;
      moved += count;
      room.set(target.bucketId, room.get(target.bucketId)! - count);
      await ctx.step('moving rows', { rowsMoved: moved });
      await crashPoint('key:compact-after-batch');
    }
  }
  ctx.progress({
    step: `dropping ${proposal.sources.length} emptied leaves`,
    done: moved,
    total: proposal.rowsMoved,
    unit: 'rows',
  });
  await ctx.step('dropping leaves', { rowsMoved: moved });
  const dropped =
    proposal.sources.length === 0
      ? []
      : await inLockingTransaction(ctx.client, ctx.lock, async () => {
          const { rows } = await ctx.client.query<{ dropped: number[] }>(
            `SELECT ${q}.key_drop_empty_buckets($1, $2, $3) AS dropped`,
            [configId, ctx.keyValue, proposal.sources.map((b) => b.bucketId)],
          );
          return rows[0]!.dropped;
        });
  // The filled leaves' statistics still count the rows they had: the
  // Explorer's estimates (and the planner's) are read from them.
  // SHARE UPDATE EXCLUSIVE on one leaf at a time; reads and writes go on.
  if (moved > 0) for (const target of proposal.targets) await ctx.client.query(`ANALYZE ${target.leaf}`);
  return {
    changed: moved > 0 || dropped.length > 0,
    state: 'active',
    rows: moved,
    bytes: null,
    detail: {
      rowsMoved: moved,
      leavesBefore: proposal.leavesBefore,
      leavesAfter: proposal.leavesBefore - dropped.length,
      leavesDropped: dropped.length,
    },
  };
}
