// The key-action journal (sql/migrations/0006_key_actions.sql): one row per
// action on one key. The process acting holds a session advisory lock on the
// (table, key) for the whole action, so that two actions on one key never
// overlap; a running row whose lock nobody holds was interrupted (kill -9),
// and is marked so by the next action on that key.
import type pg from 'pg';
import type { KeyActionKind } from '../../../shared/keys.js';
import { ident } from '../../db/sql.js';
import { PartwiseError } from '../../db/errors.js';
import { PARTWISE_VERSION } from '../../version.js';
import type { ManagedConfig } from '../maintain.js';

/** First key of the advisory locks on keys ("pwky" as an integer). */
export const KEY_LOCK_CLASS = 0x70776b79;

export class KeyJournal {
  private readonly q: string;

  constructor(
    installSchema: string,
    private readonly client: pg.ClientBase,
  ) {
    this.q = ident(installSchema);
  }

  /** Takes the key's lock (or fails with who holds it), then records the action as running. */
  async start(
    config: ManagedConfig,
    keyValue: string,
    action: KeyActionKind,
    options: Record<string, unknown>,
  ): Promise<number> {
    const { rows: locked } = await this.client.query<{ ok: boolean }>(
      `SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok`,
      [KEY_LOCK_CLASS, `${config.configId}/${keyValue}`],
    );
    if (!locked[0]!.ok) {
      throw new PartwiseError(
        'conflict',
        `key ${keyValue} of ${config.schema}.${config.table} is being acted on by another session; wait for it to finish`,
      );
    }
    try {
      // Nobody else holds the lock: a running action of this key was interrupted.
      await this.client.query(
        `UPDATE ${this.q}.key_action SET status = 'interrupted', updated_at = now(), finished_at = now(),
                error = 'the process running it ended before it finished'
          WHERE config_id = $1 AND key_value = $2 AND status = 'running'`,
        [config.configId, keyValue],
      );
      const { rows } = await this.client.query<{ action_id: string }>(
        `INSERT INTO ${this.q}.key_action (config_id, table_schema, table_name, key_value, action, options, partwise_version)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING action_id`,
        [config.configId, config.schema, config.table, keyValue, action, JSON.stringify(options), PARTWISE_VERSION],
      );
      return Number(rows[0]!.action_id);
    } catch (error) {
      await this.release(config, keyValue);
      throw error;
    }
  }

  async step(actionId: number, step: string, detail: Record<string, unknown> = {}): Promise<void> {
    await this.client.query(
      `UPDATE ${this.q}.key_action SET step = $2, detail = detail || $3::jsonb, updated_at = now() WHERE action_id = $1`,
      [actionId, step, JSON.stringify(detail)],
    );
  }

  async finish(
    actionId: number,
    status: 'succeeded' | 'failed',
    detail: Record<string, unknown>,
    error: string | null = null,
  ): Promise<void> {
    await this.client.query(
      `UPDATE ${this.q}.key_action SET status = $2, detail = detail || $3::jsonb, error = $4,
              updated_at = now(), finished_at = now()
        WHERE action_id = $1`,
      [actionId, status, JSON.stringify(detail), error],
    );
  }

  async release(config: ManagedConfig, keyValue: string): Promise<void> {
    await this.client.query(`SELECT pg_advisory_unlock($1, hashtext($2))`, [
      KEY_LOCK_CLASS,
      `${config.configId}/${keyValue}`,
    ]);
  }
}
