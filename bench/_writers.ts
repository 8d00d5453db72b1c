// Connections that write through a table's name as fast as they can, one row
// per transaction (an insert, an update, a delete in turn, no pause between
// them), recording when each write ended and how long it took: the
// application of the benches that migrate under write load. The table is the
// benches' `orders` (customer_id, module_id, payload, amount).
import pg from 'pg';

/** One write: when it ended (ms since the writers started) and how long it took. */
export interface Write {
  at: number;
  ms: number;
}

export interface Writers {
  started: number;
  writes: Write[];
  failures: number;
  failureMessages: Set<string>;
  /** Stops the writers and waits for them to finish their write. */
  stop(): Promise<void>;
}

export function startWriters(
  url: string,
  { count, rows, keys, syncCommit = true }: { count: number; rows: number; keys: number; syncCommit?: boolean },
): Writers {
  let stopped = false;
  const writers: Writers = {
    started: Date.now(),
    writes: [],
    failures: 0,
    failureMessages: new Set(),
    stop: async () => {
      stopped = true;
      await running;
    },
  };
  const running = Promise.all(
    Array.from({ length: count }, async (_, w) => {
      const client = new pg.Client(url);
      await client.connect();
      if (!syncCommit) await client.query('SET synchronous_commit = off');
      for (let n = w; !stopped; n += count) {
        const begin = Date.now();
        try {
          const id = 1 + ((n * 104729) % rows);
          if (n % 3 === 0)
            await client.query(
              `INSERT INTO orders (customer_id, module_id, payload, amount) VALUES ($1, 1, '{"load": true}', 1)`,
              [1 + (n % keys)],
            );
          else if (n % 3 === 1) await client.query(`UPDATE orders SET amount = amount + 1 WHERE id = $1`, [id]);
          else await client.query(`DELETE FROM orders WHERE id = $1`, [id]);
        } catch (error) {
          writers.failures++;
          writers.failureMessages.add((error as Error).message);
        }
        const end = Date.now();
        writers.writes.push({ at: end - writers.started, ms: end - begin });
      }
      await client.end();
    }),
  );
  return writers;
}
