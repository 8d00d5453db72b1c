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
// PostgreSQL 13: the plain DETACH PARTITION, which takes ACCESS EXCLUSIVE on
// the partitioned table: requested under a short lock_timeout in a
// transaction and retried (inLockingTransaction), since readers and writers
// queue behind a waiting request.
import type pg from 'pg';
import { qualified } from '../../db/sql.js';
import { PartwiseError } from '../../db/errors.js';
import { inLockingTransaction, lockTimeoutFor, deadlockTimeoutMs, sleep, type LockRetryOptions } from '../locks.js';
import type { ManagedConfig } from '../maintain.js';
import { serverMajor } from './facts.js';

async function membership(client: pg.ClientBase, levelOneOid: number, major: number): Promise<'out' | 'in' | 'pending'> {
  const { rows } = await client.query<{ pending: boolean }>(
    `SELECT ${major >= 14 ? 'inhdetachpending' : 'false'} AS pending FROM pg_inherits WHERE inhrelid = $1`,
    [levelOneOid],
  );
  if (rows.length === 0) return 'out';
  return rows[0]!.pending ? 'pending' : 'in';
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
  if (major < 14) {
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
