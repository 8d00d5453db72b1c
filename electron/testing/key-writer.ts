// The application writing rows of one key while a key action runs: one row
// per transaction through the routing view, each mirrored in
// `<table>_ledger` in the same transaction, so that the table must end up
// holding exactly the ledger's rows whatever the action did meanwhile.
import type pg from 'pg';
import type { RoutedTable } from './fixtures.js';

export interface KeyWriter {
  /** Stops after the transaction under way; what committed and what failed. */
  stop(): Promise<{ committed: number; errors: string[] }>;
}

/** Inserts rows of `key` on a connection of its own (the role `connect` logs in as) until stopped. */
export async function startKeyWriter(
  connect: () => Promise<pg.Client>,
  t: RoutedTable,
  key: number,
): Promise<KeyWriter> {
  const client = await connect();
  let running = true;
  let committed = 0;
  const errors: string[] = [];
  const loop = (async () => {
    for (let i = 0; running; i++) {
      try {
        await client.query('BEGIN');
        const { rows } = await client.query<{ id: string }>(
          `INSERT INTO ${t.view} (customer_id, payload) VALUES ($1, $2) RETURNING id`,
          [key, `writer ${key} row ${i}`],
        );
        await client.query(`INSERT INTO ${t.table}_ledger (id, customer_id, payload) VALUES ($1, $2, $3)`, [
          rows[0]!.id,
          key,
          `writer ${key} row ${i}`,
        ]);
        await client.query('COMMIT');
        committed++;
      } catch (error) {
        errors.push((error as Error).message);
        await client.query('ROLLBACK');
        // A failing writer should not spin: the errors are the finding.
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      await client.end();
      return { committed, errors };
    },
  };
}
