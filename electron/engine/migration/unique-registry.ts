// The migration's side of the unique registries (sql/functions/23_unique_registry.sql):
// prepare starts logging the rows the application changes (before any
// registry is filled, so that nothing changed after a range's snapshot goes
// unseen); the indexes phase fills each registry from the original table a
// block range per short transaction, with the rows that have no log entry,
// and creates their (inert) triggers, the row trigger a group of partitions
// per transaction; catch-up and the swap apply the log; the swap gives the
// triggers their bodies; a rollback drops it all.
import type pg from 'pg';
import { ident } from '../../db/sql.js';
import {
  freeRelationName,
  inspectTable,
  leavesPerTransaction,
  rowIdentity,
  serverInfo,
  type TableInfo,
} from '../catalog.js';
import type { JournalTarget } from '../journal.js';
import { registryKeys } from '../uniqueness.js';
import { countOf } from '../../../shared/text.js';
import { PartwiseError } from '../../db/errors.js';
import { logEntries, throwIfCancelled, withWorkers, type TargetContext } from './context.js';
import { chunksOf, MAX_TUPLES_PER_PAGE } from './copy.js';
import { crashPoint } from './crash-points.js';
import { retryOnDeadlock, sleep } from '../locks.js';

export function registryLogName(runId: number, targetNo: number): string {
  return `changes_${runId}_${targetNo}_unique`;
}

export function registryCaptureTrigger(runId: number): string {
  return `partwise_capture_unique_${runId}`;
}

/**
 * Prepare, inside the transaction that starts change capture: decide which
 * keys get a registry (the target's choices, else the plan's defaults) and
 * start logging changed rows for them.
 */
export async function startRegistryLog(context: TargetContext, client: pg.ClientBase, info: TableInfo): Promise<void> {
  const { target, sql } = context;
  if (target.saved.registries) return;
  const keys = registryKeys(info, target.saved.uniqueness ?? {});
  if (keys.length > 0) {
    const log = registryLogName(target.runId, target.targetNo);
    await client.query(`SELECT ${sql.install}.start_change_capture($1, $2::regclass, $3, $4, $5)`, [
      log,
      sql.source,
      rowIdentity(info),
      target.keyColumn,
      registryCaptureTrigger(target.runId),
    ]);
    target.saved = { ...target.saved, registryLog: log };
  }
  target.saved = { ...target.saved, registries: keys.map((key) => key.name) };
  await context.journal.updateTarget(client, target.runId, target.targetNo, { saved: target.saved });
}

/**
 * Each chosen key's registry, created empty, filled from the original table a
 * block range per transaction (fillRegistries), then given its unique
 * constraint; then the rows logged since prepare are applied. Online this
 * runs in the catch-up, on the first applier's connection before it applies
 * (catch-up.ts says why), and `beside` says so: the ranges are then filled on
 * `control` alone, one after another, since the other appliers hold the
 * run's other connections until the registries are built (workers asked of
 * the pool would wait for them, and they for the registries), and the fill's
 * progress is told in the log, not as the catch-up's progress, which counts
 * changes.
 */
export async function buildRegistries(
  context: TargetContext,
  control: pg.ClientBase,
  beside: 'alone' | 'beside the appliers' = 'alone',
  alone: <T>(work: () => Promise<T>) => Promise<T> = (work) => work(),
): Promise<void> {
  const { target, sql, reporter } = context;
  const wanted = target.saved.registries ?? [];
  if (wanted.length === 0) return;
  const { rows: registered } = await control.query<{ name: string }>(
    `SELECT constraint_name AS name FROM ${sql.install}.unique_registry WHERE config_id = $1`,
    [target.configId],
  );
  const known = new Set(registered.map((r) => r.name));
  const info = await inspectTable(control, { schema: target.schema, name: target.table });
  const keys = registryKeys(info, Object.fromEntries(wanted.map((name) => [name, 'table' as const])));
  const missing = keys.filter((k) => wanted.includes(k.name) && !known.has(k.name));
  if (missing.length > 0) {
    // Created with the fill's starting point in one transaction: a resume finds both or neither.
    await inTransaction(control, async () => {
      for (const key of missing) {
        const registry = await freeRelationName(control, context.options.installSchema, key.name, '_registry');
        const indexName = await freeRelationName(control, context.options.installSchema, key.name, '');
        await control.query(`SELECT ${sql.install}.create_unique_registry($1, $2, $3, $4, $5, $6, $7, $8, $9)`, [
          target.configId,
          key.name,
          registry,
          indexName,
          key.keyColumns,
          rowIdentity(info),
          key.index.nullsNotDistinct,
          key.index.deferrable,
          key.index.deferred,
        ]);
      }
      await startFill(context, control);
    });
  }
  const unfilled = await unfilledRegistries(context, control);
  if (unfilled.length > 0) {
    reporter.log(
      'info',
      `building the ${unfilled.length === 1 ? 'registry' : 'registries'} that keep${unfilled.length === 1 ? 's' : ''} ${unfilled.join(', ')} unique across the table`,
      context.label,
    );
    const started = Date.now();
    const ranges = await fillRegistries(context, control, beside === 'alone');
    const filled = Date.now();
    // Built once filled: one sort is cheaper than maintaining the index row by row through the fill.
    for (const name of unfilled) {
      throwIfCancelled(context);
      await control.query(`SELECT ${sql.install}.index_unique_registry($1, $2)`, [target.configId, name]);
    }
    for (const table of await registryTables(context, control, unfilled)) await control.query(`ANALYZE ${table}`);
    reporter.log(
      'info',
      `${unfilled.length === 1 ? 'registry' : 'registries'} filled in ${countOf(ranges, 'block range')} (${((filled - started) / 1000).toFixed(1)} s), ${unfilled.length === 1 ? 'its unique index' : 'their unique indexes'} built in ${((Date.now() - filled) / 1000).toFixed(1)} s`,
      context.label,
    );
  }
  // Inert until the swap; placed on every partition here rather than under
  // its lock, the catch-up's other appliers holding off meanwhile (`alone`).
  await alone(() => installInertTriggers(context, control));
  // Beside the appliers the caller syncs the log, once the steering counts
  // it as built and can pause the writers for it (catch-up.ts): synced here,
  // everything logged during the fill was synced with nobody able to pause
  // the writers, and under writers that log faster than one connection
  // syncs, the catch-up waited for it as long as they wrote
  // (catch-up-registry-load.db.test.ts reached its cap of commits in CI).
  if (beside === 'alone') await syncRegistries(context, control);
}

/** How long placing the row trigger waits for a partition's locks before passing over it, how long it pauses when every one left was busy, and how many such rounds it makes before it waits. */
const BUSY_LOCK_TIMEOUT_MS = 100;
const BUSY_PAUSE_MS = 200;
const BUSY_ROUNDS = 50;

/**
 * The registries' inert triggers on the new table: their functions and the
 * statement triggers on the partitioned table, then the row trigger on each
 * level-1 partition and pool leaf, a group per transaction within the lock
 * budget (on the partitioned table it would lock the whole tree at once, and
 * its drop at uninstall too: see install_unique_triggers). A partition made
 * meanwhile gets it as it is made; the swap places any still missing.
 * Creating them (a table, then its partitions) and a replay batch (which
 * may lock leaves before their parent) can each wait for the other:
 * PostgreSQL ends one as a deadlock victim, its statement rolled back whole.
 * So the catch-up's other appliers hold off meanwhile (buildRegistries'
 * `alone`); a deadlock with any other session is still taken again, after
 * the appliers' pauses, rather than fail the run.
 */
async function installInertTriggers(context: TargetContext, client: pg.ClientBase): Promise<void> {
  const again = <T>(work: () => Promise<T>): Promise<T> =>
    retryOnDeadlock(work, {
      signal: context.options.signal,
      onRetry: (deadlocks, pause) =>
        context.reporter.log(
          'debug',
          `creating the registries' triggers met a deadlock (${deadlocks}); again in ${Math.round(pause)} ms`,
          context.label,
        ),
      giveUp: (_deadlocks, error) => PartwiseError.from(error),
    });
  const { sql, target } = context;
  await again(() => client.query(`SELECT ${sql.install}.install_unique_triggers($1, false)`, [target.configId]));
  const budget = leavesPerTransaction(await serverInfo(client), context.options.workers, 0);
  const started = Date.now();
  let placed = 0;
  // Busy partitions (autovacuum at work on their leaves) are passed over and
  // tried again; after BUSY_ROUNDS rounds in a row that placed none, the
  // trigger waits for its locks (which has PostgreSQL cancel an autovacuum).
  for (let idle = 0; ;) {
    throwIfCancelled(context);
    const { rows } = await again(() =>
      client.query<{ placed: number }>(`SELECT ${sql.install}.place_unique_triggers($1, $2, $3) AS placed`, [
        target.configId,
        budget,
        idle < BUSY_ROUNDS ? `${BUSY_LOCK_TIMEOUT_MS}ms` : null,
      ]),
    );
    placed += rows[0]!.placed;
    if (rows[0]!.placed > 0) {
      idle = 0;
      continue;
    }
    const { rows: missing } = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${sql.install}.unique_trigger_missing($1)`,
      [target.configId],
    );
    if (missing[0]!.n === 0) break;
    idle++;
    await sleep(BUSY_PAUSE_MS, context.options.signal);
  }
  if (placed > 0) {
    context.reporter.log(
      'info',
      `the registries' row trigger placed on ${countOf(placed, 'partition')} in ${((Date.now() - started) / 1000).toFixed(1)} s`,
      context.label,
    );
  }
}

/** The registries still being filled (created, their unique constraint not yet added). */
async function unfilledRegistries(context: TargetContext, client: pg.ClientBase): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT n AS name FROM ${context.sql.install}.unfilled_unique_registries($1) n`,
    [context.target.configId],
  );
  return rows.map((r) => r.name);
}

async function inTransaction<T>(client: pg.ClientBase, work: () => Promise<T>, begin = 'BEGIN'): Promise<T> {
  await client.query(begin);
  try {
    const result = await work();
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/** The original table's storage (relfilenode): another one means its rows moved. */
async function storageOf(context: TargetContext, client: pg.ClientBase): Promise<string> {
  const { rows } = await client.query<{ f: string }>('SELECT pg_relation_filenode($1::regclass)::text AS f', [
    context.sql.source,
  ]);
  return rows[0]!.f;
}

/**
 * In the caller's transaction: divides the original table, as it stands now,
 * into block ranges (the copy's chunks: chunksOf), empties the registries
 * still being filled, and records where their fill starts. Every row the
 * fill may take lies in these blocks: a row written since the registries'
 * log started (prepare, earlier) is logged, and left to the sync.
 */
async function startFill(context: TargetContext, client: pg.ClientBase): Promise<void> {
  const { target, sql, options } = context;
  await client.query(`LOCK TABLE ${sql.source} IN ACCESS SHARE MODE`);
  const { rows } = await client.query<{ filenode: string; blocks: string; block_size: number }>(
    `SELECT pg_relation_filenode($1::regclass)::text AS filenode,
            pg_relation_size($1::regclass) / current_setting('block_size')::bigint AS blocks,
            current_setting('block_size')::int AS block_size`,
    [sql.source],
  );
  const { filenode, block_size: blockSize } = rows[0]!;
  const blocks = Number(rows[0]!.blocks);
  const chunkBlocks = Math.max(
    1,
    Math.min(options.chunkBlocks, Math.floor(context.throttle.largestUnitBytes() / blockSize)),
  );
  const first = chunksOf(blocks, blockSize, chunkBlocks, options.workers, false)[0]!;
  const rangeBlocks = Math.max(1, first.endBlock! - first.firstBlock);
  const emptied = await registryTables(context, client, await unfilledRegistries(context, client));
  if (emptied.length > 0) await client.query(`TRUNCATE ${emptied.join(', ')}`);
  target.saved = { ...target.saved, registryFill: { filenode, blocks, rangeBlocks, filled: [] } };
  await context.journal.updateTarget(client, target.runId, target.targetNo, { saved: target.saved });
}

/** How often a fill beside the appliers, or a long sync, says how far it is. */
const FILL_LOG_EVERY_MS = 5_000;

/** A range's transaction found the original rewritten since the fill started. */
class StorageMoved extends Error {}

/**
 * Fills the registries still being filled, a block range per transaction on
 * the workers (fill_unique_registries says why no row is missed or taken
 * twice). Each range is recorded as filled in its own transaction, so a
 * resume goes on with the ranges not filled. A table rewritten meanwhile
 * (VACUUM FULL, CLUSTER, TRUNCATE) moved its rows without logging them: the
 * fill starts over on its new storage. Returns how many ranges the fill took.
 */
async function fillRegistries(context: TargetContext, control: pg.ClientBase, onWorkers: boolean): Promise<number> {
  const { target, reporter } = context;
  for (;;) {
    const fill = target.saved.registryFill;
    if (!fill || (await storageOf(context, control)) !== fill.filenode) {
      if (fill) {
        reporter.log(
          'warn',
          `${context.label} was rewritten (VACUUM FULL, CLUSTER, TRUNCATE or an ALTER TABLE) while its unique registries were being filled, which moves its rows: filling them again`,
          context.label,
        );
      }
      await inTransaction(control, () => startFill(context, control));
      continue;
    }
    try {
      await fillRanges(context, control, fill, onWorkers);
      return Math.ceil(fill.blocks / fill.rangeBlocks);
    } catch (error) {
      if (!(error instanceof StorageMoved)) throw error;
    }
  }
}

async function fillRanges(
  context: TargetContext,
  control: pg.ClientBase,
  fill: NonNullable<JournalTarget['saved']['registryFill']>,
  onWorkers: boolean,
): Promise<void> {
  const { target, sql, reporter } = context;
  const log = target.saved.registryLog;
  if (!log) throw new PartwiseError('internal', `${context.label}: the unique registries have no change log`);
  const done = new Set(fill.filled);
  const ranges = Array.from({ length: Math.ceil(fill.blocks / fill.rangeBlocks) }, (_, index) => ({
    index,
    first: index * fill.rangeBlocks,
    end: Math.min((index + 1) * fill.rangeBlocks, fill.blocks),
  })).filter((r) => !done.has(r.index));
  const { rows: sizes } = await control.query<{ block_size: number }>(
    `SELECT current_setting('block_size')::int AS block_size`,
  );
  const blockSize = sizes[0]!.block_size;
  // Rows, as the copy counted them: the fill takes fewer (rows changed since are the sync's).
  let registered = done.size > 0 ? await registeredRows(context, control) : 0;
  const total = (): number => Math.max(target.rowsTotal ?? 0, registered);
  // Beside the appliers the phase's progress counts changes: the fill tells
  // how far it is in the log instead, every few seconds.
  let toldAt = Date.now();
  const progress = (force: boolean): void => {
    if (onWorkers) reporter.progress('indexes', registered, total(), 'rows', { table: context.label, force });
    else if (!force && Date.now() - toldAt >= FILL_LOG_EVERY_MS) {
      toldAt = Date.now();
      reporter.log(
        'info',
        `unique registries: ${registered.toLocaleString('en-US')} of about ${total().toLocaleString('en-US')} rows registered`,
        context.label,
      );
    }
  };
  progress(true);
  const fillRange = async (client: pg.ClientBase, range: (typeof ranges)[number]): Promise<void> => {
    // Admitted before its transaction starts: a pause holds no snapshot.
    await context.throttle.admit((range.end - range.first) * blockSize);
    let rows: number;
    try {
      // Read committed whatever the server's default: the range's record is
      // appended to the journal row that other ranges' transactions update too.
      await client.query('BEGIN ISOLATION LEVEL READ COMMITTED');
      // A crash before commit loses the range and its record together: the resume fills it again.
      await client.query(`SELECT set_config('synchronous_commit', 'off', true)`);
      // Locked before the fill's statement takes its snapshot: no rewrite can come between the check and the read.
      await client.query(`LOCK TABLE ${sql.source} IN ACCESS SHARE MODE`);
      if ((await storageOf(context, client)) !== fill.filenode) throw new StorageMoved();
      const { rows: filled } = await client.query<{ n: string }>(
        `SELECT ${sql.install}.fill_unique_registries($1, $2, $3, $4, $5) AS n`,
        [target.configId, log, range.first, range.end, MAX_TUPLES_PER_PAGE],
      );
      rows = Number(filled[0]!.n);
      // Appended where it stands (read committed: after any other range's record), not rewritten from memory.
      await client.query(
        `UPDATE ${sql.install}.migration_target
            SET saved = jsonb_set(saved, '{registryFill,filled}', (saved #> '{registryFill,filled}') || to_jsonb($3::int))
          WHERE run_id = $1 AND target_no = $2`,
        [target.runId, target.targetNo, range.index],
      );
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
    fill.filled.push(range.index);
    registered += rows;
    progress(false);
    await crashPoint('indexes:registry-after-first-range');
  };
  if (onWorkers) await withWorkers(context, ranges, fillRange);
  else {
    for (const range of ranges) {
      throwIfCancelled(context);
      await fillRange(control, range);
    }
  }
  registered = total();
  progress(true);
}

/** Rows in the registry of most rows still being filled: where a resumed fill's progress starts. */
async function registeredRows(context: TargetContext, client: pg.ClientBase): Promise<number> {
  let most = 0;
  for (const table of await registryTables(context, client, await unfilledRegistries(context, client))) {
    const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`);
    most = Math.max(most, Number(rows[0]!.n));
  }
  return most;
}

/** The registry tables of these constraints, quoted and qualified. */
async function registryTables(context: TargetContext, client: pg.ClientBase, names: string[]): Promise<string[]> {
  const { sql, target } = context;
  const { rows } = await client.query<{ table: string }>(
    `SELECT registry_table AS table FROM ${sql.install}.unique_registry
      WHERE config_id = $1 AND constraint_name = ANY ($2) ORDER BY constraint_name`,
    [target.configId, names],
  );
  return rows.map((r) => `${sql.install}.${ident(r.table)}`);
}

/**
 * Log entries per transaction of a registries' sync when none is set
 * (MigrationOptions.registrySyncBatch): twice the catch-up's replay batch, an
 * entry costing the sync a few index probes where the replay writes a row.
 */
export const REGISTRY_SYNC_BATCH = 10_000;

/**
 * Applies the rows logged since the last sync, a batch of `registrySyncBatch`
 * entries per REPEATABLE READ transaction (the log, the registries and the
 * original table of a batch read in one snapshot), in log order: the first
 * sync once the registries are filled takes everything written since
 * prepare (about 700,000 entries at 10M rows under 4 writers), which in one
 * transaction held its locks and its snapshot for seconds. Batches leave the
 * registries as one sync would (sync_unique_registries says why). Stops when
 * a batch finds no more, once as many entries as were pending at the start
 * were applied (writers may log as fast as it applies), or, given `forMs`,
 * after the first batch that ends past it (the catch-up's steering
 * connection, which must keep sampling). Returns the entries consumed.
 * `analyze` false skips the log's ANALYZE: the catch-up's steering, which
 * syncs a slice at a time, has it done only when the log's size changed
 * enough since the last one to plan otherwise (registryLogAnalyzeDue).
 */
export async function syncRegistries(
  context: TargetContext,
  client: pg.ClientBase,
  { forMs = Infinity, analyze = true }: { forMs?: number; analyze?: boolean } = {},
): Promise<number> {
  const { target, sql, options, reporter } = context;
  const log = target.saved.registryLog;
  if (!log) return 0;
  const started = Date.now();
  // The sync joins the log to the original table and to the registries.
  // Planned with the log's statistics from when it held hundreds of
  // thousands of entries (its first sync, once the registries are filled),
  // those joins hash over a full scan of both at every later sync: 1.5 and
  // 2.6 s at 3M rows for a log of 3,000 entries, against 86 ms by index
  // probes once the log is analyzed; at 10M rows under 4 writers the syncs
  // took 7 to 13 s each, the writes unpaused meanwhile, and the swap's own
  // sync held its lock for seconds. ANALYZE of the log: 50 to 100 ms. Here,
  // not in the swap's transaction: an autovacuum of the log would make it
  // wait under the lock, and the last sync's statistics serve the swap.
  if (analyze) await client.query(`ANALYZE ${sql.install}.${ident(log)}`);
  const pending = await pendingRegistryEntries(context, client);
  const batch = options.registrySyncBatch;
  let entries = 0;
  let toldAt = started;
  for (;;) {
    throwIfCancelled(context);
    const n = await retryOnDeadlock(() => syncBatch(context, client, log, batch), {
      signal: options.signal,
      onRetry: (deadlocks, pause) =>
        reporter.log(
          'debug',
          `a batch of the unique registries' sync met a deadlock (${deadlocks}); again in ${Math.round(pause)} ms`,
          context.label,
        ),
      giveUp: (_deadlocks, error) => PartwiseError.from(error),
    });
    entries += n;
    if (n < batch || entries >= pending || Date.now() - started >= forMs) return entries;
    // A long sync (the first) says how far it is, as the fill does beside the appliers.
    if (Date.now() - toldAt >= FILL_LOG_EVERY_MS) {
      toldAt = Date.now();
      reporter.log(
        'info',
        `unique registries: ${entries.toLocaleString('en-US')} of about ${pending.toLocaleString('en-US')} logged changes applied`,
        context.label,
      );
    }
  }
}

/** Below this difference in entries, the registries' log's statistics are left as they are. */
const ANALYZE_MIN_CHANGE = 1_000;

/**
 * The registries' log holds `entries` now and `analyzed` at its last ANALYZE
 * (null: none yet by this caller): worth analyzing again when it doubled or
 * halved since, by more than ANALYZE_MIN_CHANGE entries. The statistics that
 * made every sync hash over full scans were those of a log hundreds of times
 * its size; an ANALYZE before every slice of the catch-up's steering (30 to
 * 50 ms each, in slices of 250 ms: 187 to 297 ms of 3.4 to 4.2 s of syncs,
 * 5 to 9%, in catch-up-load.db.test.ts on 18) bought nothing between such
 * changes.
 */
export function registryLogAnalyzeDue(analyzed: number | null, entries: number): boolean {
  if (analyzed === null) return true;
  if (Math.abs(entries - analyzed) <= ANALYZE_MIN_CHANGE) return false;
  return entries > 2 * analyzed || 2 * entries < analyzed;
}

/** One batch of the registries' sync, in a transaction of its own; returns the entries it consumed. */
async function syncBatch(context: TargetContext, client: pg.ClientBase, log: string, batch: number): Promise<number> {
  return inTransaction(
    client,
    async () => {
      const { rows } = await client.query<{ n: string }>(
        `SELECT ${context.sql.install}.sync_unique_registries($1, $2, $3) AS n`,
        [context.target.configId, log, batch],
      );
      return Number(rows[0]!.n);
    },
    'BEGIN ISOLATION LEVEL REPEATABLE READ',
  );
}

/**
 * In the caller's transaction, with the original table locked against
 * writers (the swap; a pause of the catch-up): the first `limit` entries of
 * the registries' log (all of them given null), applied and consumed. No
 * REPEATABLE READ needed: once the lock is granted no transaction that wrote
 * the table or the log is in flight, and none starts until the caller
 * commits, so every statement of the sync, each with its own snapshot taken
 * since the lock, sees the same table and log. Returns the entries consumed.
 */
export async function syncLockedRegistries(
  context: TargetContext,
  client: pg.ClientBase,
  limit: number | null,
): Promise<number> {
  const log = context.target.saved.registryLog;
  if (!log) return 0;
  const { rows } = await client.query<{ n: string }>(
    `SELECT ${context.sql.install}.sync_unique_registries($1, $2, $3) AS n`,
    [context.target.configId, log, limit],
  );
  return Number(rows[0]!.n);
}

/** Entries in the registries' log, not yet synced (0 without one). */
export function pendingRegistryEntries(context: TargetContext, client: pg.ClientBase): Promise<number> {
  return logEntries(client, context, context.target.saved.registryLog);
}

/**
 * The swap, in its transaction with the original table locked: the last
 * logged rows are applied, logging stops, and the partitioned table's
 * triggers take over (sql/functions/23_unique_registry.sql).
 */
export async function enforceRegistries(context: TargetContext, client: pg.ClientBase): Promise<void> {
  const { target, sql } = context;
  if (!target.saved.registries?.length) return;
  if (target.saved.registryLog) {
    await syncLockedRegistries(context, client, null);
    await stopRegistryLog(context, client);
  }
  await client.query(`SELECT ${sql.install}.install_unique_triggers($1, true)`, [target.configId]);
}

/** Removes the registry log's trigger (from the original table, while it has one) and the log. */
export async function stopRegistryLog(context: TargetContext, client: pg.ClientBase): Promise<void> {
  const { target, sql } = context;
  if (!target.saved.registryLog) return;
  const { rows } = await client.query<{ kind: string | null }>(
    `SELECT (SELECT relkind::text FROM pg_class WHERE oid = to_regclass($1)) AS kind`,
    [sql.source],
  );
  await client.query(`SELECT ${sql.install}.stop_change_capture($1, $2::regclass, $3)`, [
    target.saved.registryLog,
    rows[0]?.kind === 'r' ? sql.source : null,
    registryCaptureTrigger(target.runId),
  ]);
}
