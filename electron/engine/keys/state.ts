// A key's state changes (sql/functions/30_key_actions.sql), each in its own
// short transaction under the lock-retry rules: the key's tracker row is
// locked FOR UPDATE only while the state is written.
import type pg from 'pg';
import { ident } from '../../db/sql.js';
import type { KeyState } from '../../../shared/keys.js';
import { inLockingTransaction, type LockRetryOptions } from '../locks.js';

export async function beginKeyState(
  client: pg.ClientBase,
  installSchema: string,
  configId: number,
  keyValue: string,
  action: 'detach' | 'attach' | 'drop',
  lock: LockRetryOptions,
): Promise<KeyState> {
  return inLockingTransaction(client, lock, async () => {
    const { rows } = await client.query<{ before: KeyState }>(
      `SELECT ${ident(installSchema)}.key_begin($1, $2, $3) AS before`,
      [configId, keyValue, action],
    );
    return rows[0]!.before;
  });
}

export async function finishKeyState(
  client: pg.ClientBase,
  installSchema: string,
  configId: number,
  keyValue: string,
  state: 'active' | 'detached',
  lock: LockRetryOptions,
): Promise<void> {
  await inLockingTransaction(client, lock, async () => {
    await client.query(`SELECT ${ident(installSchema)}.key_finish($1, $2, $3)`, [configId, keyValue, state]);
  });
}
