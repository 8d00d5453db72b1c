// Taking a key's level-1 partition out of the tree.
//
// PostgreSQL 14 and later: DETACH PARTITION ... CONCURRENTLY, which holds
// only SHARE UPDATE EXCLUSIVE on the partitioned table (reads and writes go
// on) and waits for every transaction using the table to end. It may not run
// in a transaction block, so it cannot be retried inside one: a lock_timeout
// is set on the session around it, and an attempt that gave up is repeated.
// One interrupted after its first transaction leaves the partition "detach
// pending" (pg_inherits.inhdetachpending); DETACH ... FINALIZE completes it.
//
// PostgreSQL 13, and any version while the table has a pool of small keys
// (a DEFAULT partition, whose constraint the detach changes: PostgreSQL
// refuses CONCURRENTLY then): the plain DETACH PARTITION, which takes ACCESS
// EXCLUSIVE on the partitioned table and on the pool (not the pool's leaves):
// requested under a short lock_timeout in a transaction and retried
// (inLockingTransaction), since readers and writers queue behind a waiting
// request.
import type pg from 'pg';
import { ident, qualified } from '../../db/sql.js';
import { PartwiseError } from '../../db/errors.js';
import { inLockingTransaction, lockTimeoutFor, deadlockTimeoutMs, sleep, type LockRetryOptions } from '../locks.js';
import type { ManagedConfig } from '../maintain.js';
import { serverMajor } from './facts.js';

async function membership(
  client: pg.ClientBase,
  levelOneOid: number,
  major: number,
): Promise<'out' | 'in' | 'pending'> {
  const { rows } = await client.query<{ pending: boolean }>(
    `SELECT ${major >= 14 ? 'inhdetachpending' : 'false'} AS pending FROM pg_inherits WHERE inhrelid = $1`,
    [levelOneOid],
  );
  if (rows.length === 0) return 'out';
  return rows[0]!.pending ? 'pending' : 'in';
}

/**
 * PostgreSQL (14+) allows one pending detach per partitioned table: while a
 * key's detach is unfinished, no other key of the table can be detached.
 * Says so, naming that key, before anything changes.
 */
export async function refuseWhileAnotherDetachPends(
  client: pg.ClientBase,
  installSchema: string,
  config: ManagedConfig,
  keyValue: string,
): Promise<void> {
  if ((await serverMajor(client)) < 14) return;
  const { rows } = await client.query<{ key_value: string }>(
    `SELECT t.key_value FROM ${ident(installSchema)}.partition_tracker t
       JOIN pg_inherits i ON i.inhrelid = t.level_one_partition AND i.inhdetachpending
      WHERE t.config_id = $1 AND t.key_value <> $2`,
    [config.configId, keyValue],
  );
  const pending = rows[0]?.key_value;
  if (pending === undefined) return;
  const table = `${config.schema}.${config.table}`;
  throw new PartwiseError(
    'conflict',
    `the detach of key ${pending} of ${table} did not finish, and PostgreSQL detaches one partition of a table at a time`,
    { hint: `partwise key detach --table ${table} --value ${pending} finishes it (or attach brings the key back)` },
  );
}

/** Whether the partitioned table has a DEFAULT partition (the pool of small keys). */
export async function hasDefaultPartition(client: pg.ClientBase, parent: string): Promise<boolean> {
  const { rows } = await client.query<{ found: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                     WHERE i.inhparent = $1::regclass AND pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT') AS found`,
    [parent],
  );
  return rows[0]!.found;
}

export async function detachLevelOne(
  client: pg.ClientBase,
  config: ManagedConfig,
  levelOneOid: number,
  lock: LockRetryOptions,
): Promise<void> {
  const parent = qualified(config.schema, config.partitionedTable);
  const levelOne = async (): Promise<string> =>
    (await client.query<{ name: string }>('SELECT $1::oid::regclass::text AS name', [levelOneOid])).rows[0]!.name;
  const major = await serverMajor(client);
  if (
    major < 14 ||
    ((await hasDefaultPartition(client, parent)) && (await membership(client, levelOneOid, major)) === 'in')
  ) {
    await inLockingTransaction(client, lock, async () => {
      if ((await membership(client, levelOneOid, major)) === 'out') return;
      await client.query(`ALTER TABLE ${parent} DETACH PARTITION ${await levelOne()}`);
    });
    return;
  }
  const deadlockMs = await deadlockTimeoutMs(client);
  const timeout = lockTimeoutFor(lock.lockTimeoutMs, deadlockMs);
  const previous = (await client.query<{ t: string }>(`SELECT current_setting('lock_timeout') AS t`)).rows[0]!.t;
  for (let attempt = 1; ; attempt++) {
    if (lock.signal?.aborted) throw new PartwiseError('cancelled', 'Cancelled');
    const state = await membership(client, levelOneOid, major);
    if (state === 'out') return;
    await client.query(`SELECT set_config('lock_timeout', $1, false)`, [`${timeout}ms`]);
    try {
      await client.query(
        `ALTER TABLE ${parent} DETACH PARTITION ${await levelOne()} ${state === 'pending' ? 'FINALIZE' : 'CONCURRENTLY'}`,
      );
      return;
    } catch (error) {
      if ((error as { code?: string }).code !== '55P03' || attempt >= lock.attempts) {
        throw PartwiseError.from(error, `detaching ${await levelOne()} from ${parent}`);
      }
      lock.onRetry?.(attempt, error, {
        attempt,
        attempts: lock.attempts,
        lockTimeoutMs: timeout,
        deadlockTimeoutMs: deadlockMs,
        relation: parent,
        blockers: [],
      });
    } finally {
      await client.query(`SELECT set_config('lock_timeout', $1, false)`, [previous]);
    }
    await sleep(Math.min(50 * 2 ** attempt, 2000) * (0.5 + Math.random()), lock.signal);
  }
}
