import { describe, expect, it } from 'vitest';
import { bandLevel, barWidth, bucketFill, fillLevel } from './fill';

const bucket = (assigned: number, rows: number, rowsExact: boolean, capacity = 1000) => ({
  assigned,
  rows,
  rowsExact,
  capacity,
});

describe('bucketFill', () => {
  it('uses counted rows when they are exact', () => {
    expect(bucketFill(bucket(900, 850, true))).toBe(0.85);
  });
  it('uses the tickets handed out (an upper bound) when rows are estimated', () => {
    expect(bucketFill(bucket(900, 850, false))).toBe(0.9);
  });
  it('still counts estimated rows beyond the tickets (rows written around the router)', () => {
    expect(bucketFill(bucket(900, 1200, false))).toBe(1.2);
  });
  it('treats a zero capacity as over-full only when something is in it', () => {
    expect(bucketFill(bucket(0, 0, true, 0))).toBe(0);
    expect(bucketFill(bucket(1, 0, false, 0))).toBe(Infinity);
  });
});

describe('fillLevel', () => {
  it.each([
    [0, 'empty'],
    [0.01, 'low'],
    [0.49, 'low'],
    [0.5, 'mid'],
    [0.79, 'mid'],
    [0.8, 'high'],
    [0.999, 'high'],
    [1, 'full'],
    [1.0001, 'over'],
    [Infinity, 'over'],
    [Number.NaN, 'empty'],
  ] as const)('%s -> %s', (fraction, level) => {
    expect(fillLevel(fraction)).toBe(level);
  });
});

describe('bandLevel', () => {
  it('colours the fill histogram bands like the bars', () => {
    expect([0, 1, 4, 5, 7, 8, 9, 10].map(bandLevel)).toEqual([
      'low',
      'low',
      'low',
      'mid',
      'mid',
      'high',
      'full',
      'over',
    ]);
  });
});

describe('barWidth', () => {
  it('caps over-full bars at the track width', () => {
    expect(barWidth(0.42)).toBeCloseTo(42);
    expect(barWidth(1.5)).toBe(100);
    expect(barWidth(-1)).toBe(0);
    expect(barWidth(Number.NaN)).toBe(0);
  });
});
