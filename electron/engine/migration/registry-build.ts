// Online, the unique registries are built in the background, beside the
// index builds and then the catch-up's appliers, on a connection of their
// own, and the swap waits for them.
//
// A registry reads the original table, not the new one (it is filled a block
// range per short transaction, then indexed), so nothing it does waits for
// the index builds or for the appliers. Built on the first applier's
// connection once the catch-up started, as before, it took that applier away
// for as long as the build lasted (about 26 s at 10M rows under 4 unthrottled
// writers, half of the catch-up), while the writers' pauses went on for it.
// Started with the index phase instead, it is mostly done when the catch-up
// starts, and every applier applies from the first batch. Only its last
// steps touch the new table (the registries' inert triggers, on every
// partition): they wait for the catch-up, since beside the index builds they
// deadlocked with them.
//
// Its connection is one of the run's beside the workers (RUN_EXTRA_CONNECTIONS
// in shared/workers.ts), which the server was checked to serve: taken from
// the two the run had for its journal writes and the swap's look at who
// blocks its lock, a run with one worker opened one more than its budget
// when both kinds of writes met (connection-budget.db.test.ts, on 18).
//
// A build still under way when a phase fails is stopped (its query
// cancelled, and it goes no further) and waited for before the run rolls
// back, which drops what it made, or is left for a resume.
import { buildRegistries } from './unique-registry.js';
import { withConnections, type TargetContext } from './context.js';
import { crashPoint } from './crash-points.js';

export interface RegistryBuild {
  /** Settles when the build is over: resolves when the registries are ready for the swap, rejects with why not. */
  readonly done: Promise<void>;
  /** Lets the build go on to the new table (its triggers): the index builds are over. */
  catchUpStarts(): void;
  /** Stops the build: cancels what it runs, and it ends before its next transaction. */
  stop(): Promise<void>;
}

/** Starts building the registries in the background, once per run of this process. */
export function startRegistryBuild(context: TargetContext): RegistryBuild {
  if (context.registryBuild) return context.registryBuild;
  let stopped = false;
  /** The build's server process while the build holds its connection; then null. */
  let pid: number | null = null;
  /** A cancel on its way to that process: the connection goes back to the pool only after it. */
  let cancelling: Promise<unknown> = Promise.resolve();
  let catchUpStarts: () => void = () => undefined;
  const newTableFree = new Promise<void>((resolve) => (catchUpStarts = resolve));
  const wanted = context.target.saved.registries ?? [];
  const done =
    wanted.length === 0
      ? Promise.resolve()
      : withConnections(context, 1, async (client) => {
          pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
          try {
            await crashPoint('indexes:building-registries');
            await buildRegistries(context, client, 'in the background', () => stopped, newTableFree);
          } finally {
            // A cancel sent now reaches an idle process, which ignores it;
            // given back to the pool before, it could stop another's query.
            pid = null;
            await cancelling;
          }
        });
  // Kept settled: a failure is for whoever waits for the build (the catch-up,
  // or the phase that fails), never an unhandled rejection meanwhile.
  done.catch(() => undefined);
  context.registryBuild = {
    done,
    catchUpStarts,
    stop: async () => {
      stopped = true;
      // Waiting for the catch-up that will not come: it goes no further either.
      catchUpStarts();
      // What it runs now (a range, the unique index's build, a wait for a
      // lock) is cancelled too: a build stopped only between transactions
      // could keep the run's failure waiting for as long as one lasts.
      if (pid !== null) cancelling = context.pool.query('SELECT pg_cancel_backend($1)', [pid]).catch(() => undefined);
      await cancelling;
    },
  };
  return context.registryBuild;
}

/**
 * The catch-up starts: waits for the registries, starting their build if this
 * process has not (a run resumed at its catch-up), and lets it go on to the
 * new table, whose index builds are over.
 */
export function registriesReady(context: TargetContext): Promise<void> {
  const build = startRegistryBuild(context);
  build.catchUpStarts();
  return build.done;
}

/** A phase failed: the build, if one runs, stops and is waited for (its own failure, if any, is the lesser news). */
export async function stopRegistryBuild(context: TargetContext): Promise<void> {
  const build = context.registryBuild;
  if (!build) return;
  await build.stop();
  await build.done.catch(() => undefined);
}
