import { describe, expect, it } from 'vitest';
import {
  formatBytes,
  formatCompactNumber,
  formatCount,
  formatDuration,
  formatNumber,
  formatPercent,
  formatRate,
  formatRecent,
  formatTimestamp,
} from './format';

describe('formatNumber', () => {
  it('groups thousands and rounds', () => {
    expect(formatNumber(0)).toBe('0');
    expect(formatNumber(999)).toBe('999');
    expect(formatNumber(1234567)).toBe('1,234,567');
    expect(formatNumber(2_000_000_000)).toBe('2,000,000,000');
    expect(formatNumber(1234.6)).toBe('1,235');
    expect(formatNumber(-4200)).toBe('-4,200');
  });
  it('shows unknown values as a dash', () => {
    expect(formatNumber(null)).toBe('—');
    expect(formatNumber(undefined)).toBe('—');
    expect(formatNumber(Number.NaN)).toBe('—');
    expect(formatNumber(Infinity)).toBe('—');
  });
});

describe('formatCount', () => {
  it('picks singular or plural', () => {
    expect(formatCount(1, 'row')).toBe('1 row');
    expect(formatCount(0, 'row')).toBe('0 rows');
    expect(formatCount(12000, 'leaf', 'leaves')).toBe('12,000 leaves');
  });
});

describe('formatBytes', () => {
  it('uses binary units with three significant digits', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1024)).toBe('1 kB');
    expect(formatBytes(1536)).toBe('1.5 kB');
    expect(formatBytes(8192)).toBe('8 kB');
    expect(formatBytes(12.34 * 1024 ** 2)).toBe('12.3 MB');
    expect(formatBytes(123.4 * 1024 ** 2)).toBe('123 MB');
    expect(formatBytes(1.2345 * 1024 ** 3)).toBe('1.23 GB');
    expect(formatBytes(5 * 1024 ** 4)).toBe('5 TB');
    expect(formatBytes(100 * 1024 ** 2)).toBe('100 MB');
    expect(formatBytes(120 * 1024)).toBe('120 kB');
    expect(formatBytes(10 * 1024 ** 3)).toBe('10 GB');
    expect(formatBytes(10.5 * 1024 ** 3)).toBe('10.5 GB');
  });
  it('carries a rounded 1024 into the next unit', () => {
    expect(formatBytes(1024 * 1024 - 1)).toBe('1 MB');
  });
  it('handles negatives and unknowns', () => {
    expect(formatBytes(-2048)).toBe('-2 kB');
    expect(formatBytes(null)).toBe('—');
  });
});

describe('formatDuration', () => {
  it('reads like a person would say it', () => {
    expect(formatDuration(0.2)).toBe('<1 s');
    expect(formatDuration(45)).toBe('45 s');
    expect(formatDuration(200)).toBe('3 min 20 s');
    expect(formatDuration(180)).toBe('3 min');
    expect(formatDuration(2 * 3600 + 5 * 60 + 9)).toBe('2 h 5 min');
    expect(formatDuration(3600)).toBe('1 h');
    expect(formatDuration(3 * 86400 + 4 * 3600)).toBe('3 d 4 h');
  });
  it('rejects what is not a duration', () => {
    expect(formatDuration(null)).toBe('—');
    expect(formatDuration(-1)).toBe('—');
    expect(formatDuration(Number.NaN)).toBe('—');
  });
});

describe('formatPercent and rates', () => {
  it('keeps a decimal for small shares so they do not read as zero', () => {
    expect(formatPercent(0)).toBe('0%');
    expect(formatPercent(0.004)).toBe('0.4%');
    expect(formatPercent(0.853)).toBe('85%');
    expect(formatPercent(1.12)).toBe('112%');
    expect(formatPercent(null)).toBe('—');
  });
  it('formats throughput', () => {
    expect(formatRate(41234.4, 'rows')).toBe('41,234 rows/s');
  });
  it('formats compact axis numbers', () => {
    expect(formatCompactNumber(950)).toBe('950');
    expect(formatCompactNumber(12_000)).toBe('12k');
    expect(formatCompactNumber(1_250_000)).toBe('1.3M');
    expect(formatCompactNumber(3_400_000_000)).toBe('3.4B');
  });
});

describe('timestamps', () => {
  it('formats local date and time', () => {
    const iso = new Date(2025, 10, 24, 9, 3, 7).toISOString();
    expect(formatTimestamp(iso)).toBe('2025-11-24 09:03:07');
    expect(formatTimestamp(null)).toBe('—');
    expect(formatTimestamp('not a date')).toBe('not a date');
  });
});

describe('formatRecent', () => {
  const now = new Date(2026, 10, 26, 14, 0, 0);
  it('gives the time alone for today, and the date with minutes for another day', () => {
    expect(formatRecent(new Date(2026, 10, 26, 9, 43, 12).toISOString(), now)).toBe('09:43:12');
    expect(formatRecent(new Date(2026, 10, 25, 9, 43, 12).toISOString(), now)).toBe('2026-11-25 09:43');
    expect(formatRecent(null, now)).toBe('—');
  });
});
