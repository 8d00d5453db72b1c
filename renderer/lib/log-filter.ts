// Filtering of the run monitor's live log: by level (each toggled on or off)
// and by text (message or table, case-insensitive).
import type { LogLevel } from '../../shared/progress';

export interface LogEntry {
  /** Increasing per run; stable React key even after old lines are dropped. */
  seq: number;
  at: string;
  level: LogLevel;
  message: string;
  table?: string;
}

export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

export interface LogFilter {
  levels: ReadonlySet<LogLevel>;
  text: string;
}

export const defaultLogFilter = (): LogFilter => ({ levels: new Set(['info', 'warn', 'error']), text: '' });

export function filterLog(entries: readonly LogEntry[], filter: LogFilter): LogEntry[] {
  const needle = filter.text.trim().toLowerCase();
  if (filter.levels.size === LOG_LEVELS.length && needle === '') return entries.slice();
  return entries.filter(
    (entry) =>
      filter.levels.has(entry.level) &&
      (needle === '' ||
        entry.message.toLowerCase().includes(needle) ||
        (entry.table !== undefined && entry.table.toLowerCase().includes(needle))),
  );
}

/** How many entries of each level there are, for the filter chips. */
export function countByLevel(entries: readonly LogEntry[]): Record<LogLevel, number> {
  const counts: Record<LogLevel, number> = { debug: 0, info: 0, warn: 0, error: 0 };
  for (const entry of entries) counts[entry.level]++;
  return counts;
}
