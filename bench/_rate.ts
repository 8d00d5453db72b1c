// Calls per second of one statement over several connections, each calling
// it in a loop: the rate the access benches compare, a plain table against
// the routing view. A warm-up first, not counted, so that plans are cached
// and pages read before the clock starts.
import pg from 'pg';

/**
 * Opens `clients` connections to `url`, has each run `call` in a loop (the
 * i-th call of worker w gets i = w, w + clients, ...: the workers never take
 * the same i at once) for `warmUpMs`, then for `seconds` counted, and closes
 * them. Returns the calls per second of the counted part.
 */
export async function callsPerSecond(
  url: string,
  clients: number,
  call: (client: pg.Client, i: number) => Promise<unknown>,
  { warmUpMs, seconds }: { warmUpMs: number; seconds: number },
): Promise<number> {
  const connections = await Promise.all(
    Array.from({ length: clients }, async () => {
      const client = new pg.Client(url);
      await client.connect();
      return client;
    }),
  );
  let calls = 0;
  const run = async (client: pg.Client, worker: number, until: number, count: boolean): Promise<void> => {
    for (let i = worker; Date.now() < until; i += clients) {
      await call(client, i);
      if (count) calls++;
    }
  };
  try {
    const warmUp = Date.now() + warmUpMs;
    await Promise.all(connections.map((client, w) => run(client, w, warmUp, false)));
    const started = Date.now();
    await Promise.all(connections.map((client, w) => run(client, w, started + seconds * 1000, true)));
    return calls / ((Date.now() - started) / 1000);
  } finally {
    await Promise.all(connections.map((client) => client.end()));
  }
}
