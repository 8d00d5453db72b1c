import { describe, expect, it } from 'vitest';
import { countByLevel, defaultLogFilter, filterLog, type LogEntry } from './log-filter';

const entries: LogEntry[] = [
  { seq: 1, at: '2025-11-24T09:00:00Z', level: 'debug', message: 'lock_timeout = 5s' },
  { seq: 2, at: '2025-11-24T09:00:01Z', level: 'info', message: 'Copying rows', table: 'public.orders' },
  { seq: 3, at: '2025-11-24T09:00:02Z', level: 'warn', message: 'Key 42 has 5 buckets', table: 'public.invoices' },
  { seq: 4, at: '2025-11-24T09:00:03Z', level: 'error', message: 'Lock timeout at cut-over', table: 'public.orders' },
];

describe('filterLog', () => {
  it('hides debug lines by default', () => {
    expect(filterLog(entries, defaultLogFilter()).map((e) => e.seq)).toEqual([2, 3, 4]);
  });
  it('keeps only the chosen levels', () => {
    expect(filterLog(entries, { levels: new Set(['warn', 'error']), text: '' }).map((e) => e.seq)).toEqual([3, 4]);
    expect(filterLog(entries, { levels: new Set(), text: '' })).toEqual([]);
  });
  it('matches text in the message or the table, case-insensitively', () => {
    const all = new Set(['debug', 'info', 'warn', 'error'] as const);
    expect(filterLog(entries, { levels: all, text: 'LOCK' }).map((e) => e.seq)).toEqual([1, 4]);
    expect(filterLog(entries, { levels: all, text: 'invoices' }).map((e) => e.seq)).toEqual([3]);
    expect(filterLog(entries, { levels: new Set(['info']), text: 'orders' }).map((e) => e.seq)).toEqual([2]);
  });
  it('returns a copy when nothing is filtered, never the input array', () => {
    const all = filterLog(entries, { levels: new Set(['debug', 'info', 'warn', 'error']), text: ' ' });
    expect(all).toEqual(entries);
    expect(all).not.toBe(entries);
  });
});

describe('countByLevel', () => {
  it('counts every level', () => {
    expect(countByLevel(entries)).toEqual({ debug: 1, info: 1, warn: 1, error: 1 });
    expect(countByLevel([])).toEqual({ debug: 0, info: 0, warn: 0, error: 0 });
  });
});
