// The application writing during a run, for the tests that check no write is
// lost: a few connections write round after round (round r is the caller's
// `write(client, r)`), writer w taking rounds w + 1, w + 1 + n, ... of n
// writers, so that two never touch the same rows, with a pause between rounds
// so that the run's transactions get the server too. The first failure stops
// every writer: what follows it would only repeat it.
import type pg from 'pg';

export interface RoundWriters {
  /** Rounds written so far, by all writers. */
  rounds(): number;
  /** Failed rounds' messages; a test expects none. */
  errors: string[];
  /** Resolves once the writers have written `count` more rounds; rejects if they fail or stall. */
  moreRounds(count: number): Promise<void>;
  /** Stops the writers after their current round; the rounds written by then. */
  stop(): Promise<number>;
}

export function startRoundWriters(
  clients: pg.ClientBase[],
  write: (client: pg.ClientBase, round: number) => Promise<unknown>,
  { lastRound, pauseMs }: { lastRound: number; pauseMs: number },
): RoundWriters {
  let writing = true;
  let rounds = 0;
  const errors: string[] = [];
  const writes = clients.map(async (client, w) => {
    for (let round = w + 1; writing && errors.length === 0 && round < lastRound; round += clients.length) {
      await write(client, round).catch((error: Error) => errors.push(error.message));
      rounds++;
      await new Promise((r) => setTimeout(r, pauseMs));
    }
  });
  return {
    rounds: () => rounds,
    errors,
    async moreRounds(count) {
      const target = rounds + count;
      // A minute at most: writers that stop writing are a failure, not a wait.
      for (let i = 0; rounds < target; i++) {
        if (i > 1200 || errors.length > 0) throw new Error(`writers stalled at ${rounds} rounds: ${errors.join('; ')}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop() {
      writing = false;
      await Promise.all(writes);
      return rounds;
    },
  };
}
