// Every run action (start, cancel, resume, rollback, finalize) on every state a
// run can be in, against a real database, for the tests of the dispatcher and
// of the bridge: each request must be answered, and the answer must say what
// happened (or why nothing did). A request that is never answered fails the
// case after ANSWER_WITHIN_MS instead of hanging the suite.
import { expect } from 'vitest';
import type { ResponseEnvelope } from '../../shared/contract.js';
import type { FinishedStatus, Phase, RunEvent } from '../../shared/progress.js';
import type { RunActionResult, RunSummary } from '../../shared/runs.js';
import { finalize, migrate, rollback, type EngineOptions, type RunOutcome } from '../engine/index.js';
import type { TestDatabase } from './database.js';

export const RUN_STATES = [
  'running here',
  'running elsewhere',
  'interrupted',
  'interrupted in rollback',
  'succeeded',
  'failed',
  'failed after the swap',
  'cancelled',
  'rolled back',
  'finalized',
] as const;
export type RunState = (typeof RUN_STATES)[number];

export const RUN_ACTIONS = ['start', 'cancel', 'resume', 'rollback', 'finalize'] as const;
export type RunActionName = (typeof RUN_ACTIONS)[number];

/** How long a test waits for an answer before calling the request unanswered. */
export const ANSWER_WITHIN_MS = 30_000;

export type Expected =
  /** Refused, saying why. */
  | { answer: 'error'; kinds: string[]; message: RegExp }
  /** Accepted: the work goes on and its end arrives as a `finished` event. */
  | { answer: 'working'; finished: FinishedStatus }
  /** Nothing to do: answered at once with the outcome. */
  | { answer: 'outcome'; status: string; message: RegExp };

const refused = (message: RegExp, kinds = ['conflict']): Expected => ({ answer: 'error', kinds, message });
const ended = (status: string): Expected =>
  refused(new RegExp(`has already ended \\(${status}\\); there is nothing to cancel`));
const notResumable = (text: string): Expected => refused(new RegExp(`${text}; only an interrupted run can be resumed`));
const notFinalizable = (text: string): Expected =>
  refused(new RegExp(`${text}; only a succeeded run can be finalized`));
/** Starting a migration of a table that is a routing view now: the plan's blockers, before any run is recorded. */
const alreadyMigrated = refused(/cannot be migrated: .* is already partitioned by Partwise/, ['blocked']);

export const EXPECTED: Record<RunState, Record<RunActionName, Expected>> = {
  'running here': {
    start: refused(/is being migrated by run \d+; wait for it to finish/),
    cancel: { answer: 'working', finished: 'cancelled' },
    resume: refused(/is running in this app; wait for it to end/),
    rollback: refused(/is running: cancel it \(which rolls it back\) instead/),
    finalize: refused(/is running in this app; wait for it to end/),
  },
  'running elsewhere': {
    start: refused(/is being migrated by run \d+; wait for it to finish/),
    cancel: refused(/is running in another process .*; cancel it there/),
    resume: refused(/is being worked on by another process/),
    rollback: refused(/is being worked on by another process/),
    finalize: refused(/is being worked on by another process/),
  },
  interrupted: {
    start: refused(/belongs to run \d+, which was interrupted/),
    cancel: refused(/is not running: it was interrupted; resume it or roll it back instead/),
    resume: { answer: 'working', finished: 'succeeded' },
    rollback: { answer: 'working', finished: 'rolled_back' },
    finalize: notFinalizable('was interrupted'),
  },
  'interrupted in rollback': {
    // Its table is still the run's routing view: the run is named.
    start: refused(/belongs to run \d+, which was interrupted/),
    cancel: refused(/is not running: it was interrupted/),
    resume: refused(/stopped while rolling back; continue the rollback instead/),
    rollback: { answer: 'working', finished: 'rolled_back' },
    finalize: notFinalizable('was interrupted'),
  },
  succeeded: {
    start: alreadyMigrated,
    cancel: ended('succeeded'),
    resume: notResumable('succeeded'),
    rollback: { answer: 'working', finished: 'rolled_back' },
    finalize: { answer: 'working', finished: 'finalized' },
  },
  failed: {
    start: { answer: 'working', finished: 'succeeded' },
    cancel: ended('failed'),
    resume: notResumable('failed'),
    rollback: { answer: 'outcome', status: 'rolled_back', message: /failed and was rolled back then; nothing to do/ },
    finalize: notFinalizable('failed'),
  },
  'failed after the swap': {
    start: alreadyMigrated,
    cancel: ended('failed'),
    resume: notResumable('failed'),
    rollback: { answer: 'working', finished: 'rolled_back' },
    finalize: notFinalizable('failed'),
  },
  cancelled: {
    start: { answer: 'working', finished: 'succeeded' },
    cancel: ended('cancelled'),
    resume: notResumable('was cancelled'),
    rollback: {
      answer: 'outcome',
      status: 'rolled_back',
      message: /was cancelled and was rolled back then; nothing to do/,
    },
    finalize: notFinalizable('was cancelled'),
  },
  'rolled back': {
    start: { answer: 'working', finished: 'succeeded' },
    cancel: ended('rolled back'),
    resume: notResumable('was rolled back'),
    rollback: { answer: 'outcome', status: 'rolled_back', message: /was already rolled back; nothing to do/ },
    finalize: notFinalizable('was rolled back'),
  },
  finalized: {
    start: alreadyMigrated,
    cancel: ended('finalized'),
    resume: notResumable('was finalized'),
    rollback: refused(/was finalized: the original tables are gone, so it cannot be rolled back/),
    finalize: { answer: 'outcome', status: 'finalized', message: /was already finalized; nothing to do/ },
  },
};

export interface ActionHarness {
  db: TestDatabase;
  connectionId: string;
  /** Sends a command through the transport under test and returns its answer. */
  call(command: string, input: unknown): Promise<ResponseEnvelope>;
  /** The run events the transport delivered so far, in order. */
  events(): readonly RunEvent[];
  /** Requests the transport has not answered yet, where it can tell. */
  inFlight?(): number;
}

interface Prepared {
  table: string;
  runId: number;
  /** Lets the work the state holds up go on (a swap waiting for a reader). */
  release(): Promise<void>;
  /** Releases, and waits for the run to end. */
  settle(): Promise<void>;
}

let tables = 0;

async function createTable(db: TestDatabase): Promise<string> {
  const table = `run_action_${++tables}`;
  await db.query(`CREATE TABLE ${table} (id bigserial PRIMARY KEY, customer_id int NOT NULL, payload text)`);
  await db.query(
    `INSERT INTO ${table} (customer_id, payload) SELECT 1 + g % 4, 'row ' || g FROM generate_series(1, 1200) g`,
  );
  await db.query(`ANALYZE ${table}`);
  return table;
}

const target = (table: string) => ({ schema: 'public', table, keyColumn: 'customer_id', bucketLimit: 200 });

async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  for (const deadline = Date.now() + ANSWER_WITHIN_MS; Date.now() < deadline;) {
    const found = await probe();
    if (found !== undefined) return found;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`${what} did not happen within ${ANSWER_WITHIN_MS} ms`);
}

/** A reader's open transaction on the table: the swap (ACCESS EXCLUSIVE) waits for it, retrying. */
async function holdSwap(db: TestDatabase, table: string): Promise<() => Promise<void>> {
  const reader = await db.connect();
  await reader.query('BEGIN');
  await reader.query(`SELECT count(*) FROM ${table}`);
  let released: Promise<void> | undefined;
  return () =>
    (released ??= (async () => {
      await reader.query('COMMIT');
      await reader.end();
    })());
}

async function engineRun(db: TestDatabase, table: string, options: EngineOptions): Promise<RunOutcome> {
  return migrate(db.pool, [target(table)], options);
}

/** Options that cancel (`signal`) or interrupt the run when it reaches `phase`. */
function abortBefore(phase: Phase, how: 'signal' | 'interrupt'): EngineOptions {
  const controller = new AbortController();
  return {
    [how]: controller.signal,
    beforePhase: async (next: Phase) => {
      if (next === phase) controller.abort();
    },
  };
}

/** A run of the table that ends as `status`. */
async function endedAs(db: TestDatabase, table: string, status: string, options: EngineOptions): Promise<Prepared> {
  const outcome = await engineRun(db, table, options);
  expect(outcome.status, outcome.message).toBe(status);
  return nothingHeld(table, outcome.runId);
}

function nothingHeld(table: string, runId: number): Prepared {
  return { table, runId, release: async () => undefined, settle: async () => undefined };
}

/** Brings a fresh table's run into `state`; for the running states, the run waits at its swap until settled. */
export async function prepareState(harness: ActionHarness, state: RunState): Promise<Prepared> {
  const { db } = harness;
  const table = await createTable(db);
  const failAt =
    (phase: string): EngineOptions['beforePhase'] =>
    async (next) => {
      if (next === phase) throw new Error(`the disk is full (a test failure before ${phase})`);
    };
  switch (state) {
    case 'running here': {
      const release = await holdSwap(db, table);
      const response = await harness.call('runs.start', {
        connectionId: harness.connectionId,
        targets: [target(table)],
      });
      expect(response, 'runs.start').toMatchObject({ ok: true });
      const { runId } = (response as { result: RunActionResult }).result;
      await waitFor(
        'the swap of the running run',
        () =>
          harness.events().some((e) => e.runId === runId && e.type === 'phase' && e.phase === 'cutover') || undefined,
      );
      return {
        table,
        runId,
        release,
        settle: async () => {
          await release();
          await waitFor(
            `the end of run ${runId}`,
            () => harness.events().some((e) => e.runId === runId && e.type === 'finished') || undefined,
          );
        },
      };
    }
    case 'running elsewhere': {
      const release = await holdSwap(db, table);
      let runId = 0;
      let swapping = false;
      const work = engineRun(db, table, {
        onRunStarted: (id) => (runId = id),
        onEvent: (e) => (swapping ||= e.type === 'phase' && e.phase === 'cutover'),
      });
      await waitFor('the swap of the other process', () => swapping || undefined);
      return {
        table,
        runId,
        release,
        settle: async () => {
          await release();
          expect((await work).status).toBe('succeeded');
        },
      };
    }
    case 'interrupted':
      return endedAs(db, table, 'interrupted', abortBefore('indexes', 'interrupt'));
    case 'interrupted in rollback': {
      // The rollback's connection dies while it waits for its lock: what a
      // kill -9 of its process leaves in the journal.
      const { runId } = await engineRun(db, table, {});
      const release = await holdSwap(db, table);
      const stopped = rollback(db.pool, runId).catch((error: unknown) => error);
      const pid = await waitFor('the rollback waiting for its lock', async () => {
        const [row] = await db.query<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'partwise'
              AND wait_event_type = 'Lock'`,
        );
        return row?.pid;
      });
      await db.query('SELECT pg_terminate_backend($1)', [pid]);
      await stopped;
      await release();
      return nothingHeld(table, runId);
    }
    case 'succeeded':
      return endedAs(db, table, 'succeeded', {});
    case 'failed':
      return endedAs(db, table, 'failed', { beforePhase: failAt('indexes') });
    case 'failed after the swap':
      return endedAs(db, table, 'failed', { beforePhase: failAt('verify') });
    case 'cancelled':
      return endedAs(db, table, 'cancelled', abortBefore('indexes', 'signal'));
    case 'rolled back': {
      const { runId } = await engineRun(db, table, {});
      expect((await rollback(db.pool, runId)).status).toBe('rolled_back');
      return nothingHeld(table, runId);
    }
    case 'finalized': {
      const { runId } = await engineRun(db, table, {});
      expect((await finalize(db.pool, runId)).status).toBe('finalized');
      return nothingHeld(table, runId);
    }
  }
}

/** Sends the action and checks that the answer arrives and says what `expected` says. */
export async function checkAction(
  harness: ActionHarness,
  prepared: Prepared,
  action: RunActionName,
  expected: Expected,
): Promise<void> {
  const seen = harness.events().length;
  const input =
    action === 'start'
      ? { connectionId: harness.connectionId, targets: [target(prepared.table)] }
      : { connectionId: harness.connectionId, runId: prepared.runId };
  const answer = await Promise.race([
    harness.call(`runs.${action}`, input),
    new Promise<never>((_, reject) =>
      setTimeout(
        () => reject(new Error(`runs.${action} was not answered within ${ANSWER_WITHIN_MS} ms`)),
        ANSWER_WITHIN_MS,
      ),
    ),
  ]);
  if (harness.inFlight) await expect.poll(() => harness.inFlight!(), { timeout: 2000 }).toBe(0);

  if (expected.answer === 'error') {
    expect(answer, JSON.stringify(answer)).toMatchObject({ ok: false });
    const { error } = answer as { error: { kind: string; message: string } };
    expect(expected.kinds, error.message).toContain(error.kind);
    expect(error.message).toMatch(expected.message);
    return;
  }
  expect(answer, JSON.stringify(answer)).toMatchObject({ ok: true });
  if (action === 'cancel') {
    expect((answer as { result: unknown }).result).toEqual({});
  } else if (expected.answer === 'outcome') {
    const { result } = answer as { result: RunActionResult };
    expect(result.runId).toBe(prepared.runId);
    expect(result.outcome?.status).toBe(expected.status);
    expect(result.outcome?.message).toMatch(expected.message);
    return;
  } else {
    const { result } = answer as { result: RunActionResult };
    expect(result.outcome, 'the work goes on after the answer').toBeUndefined();
    if (action !== 'start') expect(result.runId).toBe(prepared.runId);
    prepared = { ...prepared, runId: result.runId };
  }
  if (expected.answer !== 'working') return;
  // A cancelled swap's rollback takes the table's lock too: the reader goes.
  await prepared.release();
  const finished = await waitFor(`the end of run ${prepared.runId} after runs.${action}`, () =>
    harness
      .events()
      .slice(seen)
      .find((e) => e.runId === prepared.runId && e.type === 'finished'),
  );
  expect(finished, JSON.stringify(finished)).toMatchObject({ status: expected.finished });
}

/**
 * Every action on every state: refusals and no-ops first on one run per state
 * (they change nothing), then each action that works on a run of its own.
 */
export async function checkEveryRunAction(harness: ActionHarness, state: RunState): Promise<void> {
  const expectations = EXPECTED[state];
  const working = RUN_ACTIONS.filter((action) => expectations[action].answer === 'working');
  const shared = await prepareState(harness, state);
  const held: Prepared[] = [shared];
  try {
    for (const action of RUN_ACTIONS.filter((a) => !working.includes(a))) {
      await checkAction(harness, shared, action, expectations[action]);
    }
    for (const [index, action] of working.entries()) {
      const prepared = index === 0 ? shared : await prepareState(harness, state);
      if (index > 0) held.push(prepared);
      await checkAction(harness, prepared, action, expectations[action]);
    }
  } finally {
    for (const prepared of held) await prepared.settle();
  }
}

/**
 * Pause and continue through the transport: a run held before its first chunk
 * (its prepare phase kept waiting for a lock meanwhile) copies nothing until
 * it is continued, says who holds it, then ends as usual; a run that ended can
 * be neither paused nor continued.
 */
export async function checkPauseAndContinue(harness: ActionHarness): Promise<void> {
  const { db, connectionId } = harness;
  const table = await createTable(db);
  // Adding change capture takes SHARE ROW EXCLUSIVE: the run waits in prepare while this writer's lock stands.
  const writer = await db.connect();
  await writer.query('BEGIN');
  await writer.query(`LOCK TABLE ${table} IN ROW EXCLUSIVE MODE`);
  let runId: number;
  try {
    const started = await harness.call('runs.start', { connectionId, targets: [target(table)] });
    expect(started, 'runs.start').toMatchObject({ ok: true });
    runId = (started as { result: RunActionResult }).result.runId;
    expect(await harness.call('runs.pause', { connectionId, runId })).toEqual({ ok: true, result: {} });
  } finally {
    await writer.query('COMMIT');
    await writer.end();
  }
  const logged = (text: string): RunEvent | undefined =>
    harness.events().find((e) => e.runId === runId && e.type === 'log' && e.message.startsWith(text));
  const paused = await waitFor('the run to pause', () => logged('paused: held by '));
  expect(paused.type === 'log' && paused.message).toMatch(
    new RegExp(`^paused: held by ${db.owner} since \\d\\d:\\d\\d:\\d\\d$`),
  );
  const listed = await harness.call('runs.list', { connectionId });
  expect((listed as { result: RunSummary[] }).result.find((r) => r.runId === runId)?.paused).toMatchObject({
    by: db.owner,
  });
  // Held (it looks again every second): still nothing copied a while later.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const [journal] = await db.query<{ phase: string; rows_copied: string }>(
    `SELECT phase, rows_copied::text FROM partwise.migration_target WHERE run_id = $1`,
    [runId],
  );
  expect(journal).toEqual({ phase: 'provision', rows_copied: '0' });
  expect(harness.events().some((e) => e.runId === runId && e.type === 'finished')).toBe(false);

  expect(await harness.call('runs.continue', { connectionId, runId })).toEqual({ ok: true, result: {} });
  const finished = await waitFor(`the end of run ${runId}`, () =>
    harness.events().find((e) => e.runId === runId && e.type === 'finished'),
  );
  expect(finished).toMatchObject({ status: 'succeeded' });
  expect(logged('resumed after ')).toBeDefined();
  for (const command of ['runs.pause', 'runs.continue']) {
    expect(await harness.call(command, { connectionId, runId })).toMatchObject({
      ok: false,
      error: { kind: 'conflict', message: expect.stringMatching(/has ended \(succeeded\); only a running run can be/) },
    });
  }
}
