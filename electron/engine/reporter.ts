// Turns what the engine does into RunEvents for the CLI and the app, and keeps
// the run's log in the journal. Progress events are throttled (at most a few
// per second per phase) so that a UI can render every one of them cheaply.
import type pg from 'pg';
import type { FinishedStatus, LockBlocker, LogLevel, Phase, ProgressUnit, RunEvent } from '../../shared/progress.js';
import { ident } from '../db/sql.js';

export type EventSink = (event: RunEvent) => void;

const PROGRESS_INTERVAL_MS = 250;

export class Reporter {
  private lastProgressAt = new Map<string, number>();
  /** Per table: the latest figures reported, and why the work waits (a throttle), while it does. */
  private latest = new Map<string, { phase: Phase; done: number; total: number; unit: ProgressUnit }>();
  private pausedFor = new Map<string, { reason: string; since: number }>();
  private rateWindow = new Map<string, { at: number; done: number }[]>();

  constructor(
    readonly runId: number,
    private readonly sink: EventSink,
    private readonly journal: { pool: pg.Pool; schema: string } | null,
  ) {}

  private now(): string {
    return new Date().toISOString();
  }

  phase(phase: Phase, message: string, table?: string): void {
    this.sink({ type: 'phase', runId: this.runId, table, phase, message, at: this.now() });
    this.persist('info', message, table);
  }

  log(level: LogLevel, message: string, table?: string, details: { blockers?: LockBlocker[] } = {}): void {
    this.sink({ type: 'log', runId: this.runId, table, level, message, ...details, at: this.now() });
    if (level !== 'debug') this.persist(level, message, table);
  }

  /** Reports progress; `force` bypasses throttling (use it for the final figure of a phase). */
  progress(
    phase: Phase,
    done: number,
    total: number,
    unit: ProgressUnit,
    options: { table?: string; currentKey?: string; pending?: number; force?: boolean } = {},
  ): void {
    const key = `${options.table ?? ''}/${phase}/${unit}`;
    this.latest.set(options.table ?? '', { phase, done, total, unit });
    const now = Date.now();
    const window = this.rateWindow.get(key) ?? [];
    window.push({ at: now, done });
    while (window.length > 2 && now - window[0]!.at > 10_000) window.shift();
    this.rateWindow.set(key, window);
    if (!options.force && now - (this.lastProgressAt.get(key) ?? 0) < PROGRESS_INTERVAL_MS) return;
    this.lastProgressAt.set(key, now);
    // A rate needs two reports some time apart: the first report of a phase has none.
    const first = window[0]!;
    const seconds = (now - first.at) / 1000;
    const perSecond = seconds > 0 ? Math.max(0, (done - first.done) / seconds) : null;
    const etaSeconds =
      perSecond !== null && perSecond > 0 && total >= done ? Math.round((total - done) / perSecond) : null;
    this.sink({
      type: 'progress',
      runId: this.runId,
      table: options.table,
      phase,
      done,
      total,
      unit,
      perSecond: perSecond === null ? null : Math.round(perSecond),
      etaSeconds,
      currentKey: options.currentKey,
      ...(options.pending === undefined ? {} : { pending: options.pending }),
      paused: this.pausedFor.get(options.table ?? '')?.reason,
      at: new Date(now).toISOString(),
    });
  }

  /**
   * The table's work waits (reason) or goes on again (null): said in the log
   * when it starts and ends, and on every progress figure meanwhile.
   */
  paused(reason: string | null, table?: string): void {
    const before = this.pausedFor.get(table ?? '');
    if (reason === null) {
      if (!before) return;
      this.pausedFor.delete(table ?? '');
      this.log('info', `resumed after ${Math.round((Date.now() - before.since) / 1000)} s paused`, table);
    } else {
      this.pausedFor.set(table ?? '', { reason, since: before?.since ?? Date.now() });
      if (!before) this.log('info', `paused: ${reason}`, table);
    }
    const latest = this.latest.get(table ?? '');
    if (latest) this.progress(latest.phase, latest.done, latest.total, latest.unit, { table, force: true });
  }

  /** How the run ended. A cancel is the user's choice, reported as plainly as a success. */
  finished(status: FinishedStatus, message: string): void {
    this.sink({ type: 'finished', runId: this.runId, status, message, at: this.now() });
    this.persist(status === 'failed' ? 'error' : 'info', message);
  }

  private pending: Promise<unknown> = Promise.resolve();

  private persist(level: LogLevel, message: string, table?: string): void {
    if (!this.journal) return;
    const { pool, schema } = this.journal;
    const text = table ? `${table}: ${message}` : message;
    // Journal writes are queued in order and never fail the run: the events already went out.
    this.pending = this.pending
      .then(() =>
        pool.query(`INSERT INTO ${ident(schema)}.migration_log (run_id, level, message) VALUES ($1, $2, $3)`, [
          this.runId,
          level,
          text,
        ]),
      )
      .catch(() => undefined);
  }

  /** Waits until every log line is in the journal. */
  async flush(): Promise<void> {
    await this.pending;
  }
}
