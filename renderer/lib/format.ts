// Number, size, duration and time formatting for every screen. One locale
// (en-US digits and separators) so that columns line up and tests are stable
// whatever the machine's settings.

import { formatBytes as formatSize } from '../../shared/text';

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const oneDecimal = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });

export const DASH = '—';

/** 1234567 -> "1,234,567". Non-finite values (unknown) -> "—". */
export function formatNumber(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return DASH;
  return integer.format(Math.round(value));
}

/** A count with its noun: 1 row, 2 rows, 1,024 partitions. */
export function formatCount(value: number, singular: string, plural = `${singular}s`): string {
  return `${formatNumber(value)} ${Math.round(value) === 1 ? singular : plural}`;
}

/** Compact numbers for chart axes: 950, 12k, 1.2M, 3.4B. */
export function formatCompactNumber(value: number): string {
  if (!Number.isFinite(value)) return DASH;
  const abs = Math.abs(value);
  const units: Array<[number, string]> = [
    [1e9, 'B'],
    [1e6, 'M'],
    [1e3, 'k'],
  ];
  for (const [size, suffix] of units) {
    if (abs >= size) return `${oneDecimal.format(value / size)}${suffix}`;
  }
  return integer.format(value);
}

/** Sizes as the engine and the command line print them (shared/text.ts), or a dash when unknown. */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return DASH;
  return formatSize(bytes);
}

/** Durations for ETAs and elapsed times: "<1 s", "45 s", "3 min 20 s", "2 h 5 min", "3 d 4 h". */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return DASH;
  if (seconds < 1) return '<1 s';
  const total = Math.round(seconds);
  const days = Math.floor(total / 86_400);
  const hours = Math.floor((total % 86_400) / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const secs = total % 60;
  if (days > 0) return hours > 0 ? `${days} d ${hours} h` : `${days} d`;
  if (hours > 0) return minutes > 0 ? `${hours} h ${minutes} min` : `${hours} h`;
  if (minutes > 0) return secs > 0 ? `${minutes} min ${secs} s` : `${minutes} min`;
  return `${secs} s`;
}

/** 0.853 -> "85%"; small non-zero fractions keep one decimal ("0.4%") so they do not read as empty. */
export function formatPercent(fraction: number | null | undefined): string {
  if (fraction === null || fraction === undefined || !Number.isFinite(fraction)) return DASH;
  const percent = fraction * 100;
  if (percent !== 0 && Math.abs(percent) < 10) return `${oneDecimal.format(percent)}%`;
  return `${integer.format(percent)}%`;
}

/** A throughput: "12,345 rows/s". */
export function formatRate(perSecond: number, unit: string): string {
  if (!Number.isFinite(perSecond)) return DASH;
  return `${formatNumber(perSecond)} ${unit}/s`;
}

const pad = (value: number) => String(value).padStart(2, '0');

/** ISO timestamp -> local "2025-11-24 09:43:12"; unparseable input is returned as given. */
export function formatTimestamp(iso: string | null | undefined): string {
  if (!iso) return DASH;
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`
  );
}

/**
 * ISO timestamp -> local time for narrow columns: "09:43:12" today,
 * "2026-11-25 09:43" on another day (the whole timestamp belongs in a title).
 */
export function formatRecent(iso: string | null | undefined, now = new Date()): string {
  if (!iso) return DASH;
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  if (date.toDateString() === now.toDateString()) return formatClock(iso);
  return formatTimestamp(iso).slice(0, 16);
}

/** ISO timestamp -> local "09:43:12" for log lines. */
export function formatClock(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}
