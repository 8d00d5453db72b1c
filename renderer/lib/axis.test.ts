import { describe, expect, it } from 'vitest';
import { byteAxis, logCountTicks } from './axis';

const MB = 1024 ** 2;
const labels = (max: number) => {
  const axis = byteAxis(max);
  return axis.ticks.map(axis.format);
};

describe('byteAxis', () => {
  it('steps in round numbers of one binary unit', () => {
    // The Sizes screen once showed 4.29 / 8.58 / 12.9 MB for this maximum.
    expect(labels(17.2 * MB)).toEqual(['0', '5 MB', '10 MB', '15 MB', '20 MB']);
    expect(labels(510 * MB)).toEqual(['0', '200 MB', '400 MB', '600 MB']);
    expect(labels(1.5 * 1024 * MB)).toEqual(['0', '0.5 GB', '1 GB', '1.5 GB']);
    expect(labels(3.7 * 1024 ** 4)).toEqual(['0', '1 TB', '2 TB', '3 TB', '4 TB']);
    expect(labels(700 * 1024)).toEqual(['0', '200 kB', '400 kB', '600 kB', '800 kB']);
  });

  it('covers the maximum with at most six ticks, whole bytes below a kilobyte', () => {
    for (const max of [1, 3, 999, 1024, 1025, 4095.5 * MB, 1023 * 1024 ** 3]) {
      const { ticks } = byteAxis(max);
      expect(ticks.length, String(max)).toBeLessThanOrEqual(6);
      expect(ticks.at(-1)!, String(max)).toBeGreaterThanOrEqual(max);
      expect(ticks[0]).toBe(0);
    }
    expect(labels(3)).toEqual(['0', '1 B', '2 B', '3 B']);
    expect(labels(0)).toEqual(['0', '1 B']);
  });
});

describe('logCountTicks', () => {
  it('puts 0 and the powers of ten up to the maximum', () => {
    expect(logCountTicks(24_400)).toEqual([0, 1, 10, 100, 1000, 10_000, 100_000]);
    expect(logCountTicks(183)).toEqual([0, 1, 10, 100, 1000]);
    expect(logCountTicks(1)).toEqual([0, 1]);
    expect(logCountTicks(0)).toEqual([0, 1]);
  });
});
