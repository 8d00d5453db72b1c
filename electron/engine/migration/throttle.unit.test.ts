import { describe, expect, it } from 'vitest';
import { Pacer } from './throttle.js';
import { parseSize, Throttle } from '../../../shared/throttle.js';

describe('Pacer', () => {
  it('starts each unit once the units before it had their share of the rate', () => {
    let now = 1000;
    const pacer = new Pacer(1024 * 1024, () => now);
    // 1 MB/s: the first unit at once, the next after its 2 MB took 2 s, and so on.
    expect(pacer.reserve(2 * 1024 * 1024)).toBe(0);
    expect(pacer.reserve(1024 * 1024)).toBe(2000);
    expect(pacer.reserve(0)).toBe(3000);
    // Time that passed counts: no wait is owed once the booked share is over.
    now += 5000;
    expect(pacer.reserve(512 * 1024)).toBe(0);
    expect(pacer.reserve(512 * 1024)).toBe(500);
  });
});

describe('throttle settings', () => {
  it('reads sizes as PostgreSQL settings write them', () => {
    expect(parseSize('8MB')).toBe(8 * 1024 * 1024);
    expect(parseSize('512 kB')).toBe(512 * 1024);
    expect(parseSize('1.5GB')).toBe(1.5 * 1024 ** 3);
    expect(parseSize('4096')).toBe(4096);
    expect(parseSize('8 MiB')).toBeNull();
    expect(parseSize('-1MB')).toBeNull();
    expect(parseSize('')).toBeNull();
  });

  it('refuses what cannot work', () => {
    expect(Throttle.safeParse({ maxRateMBps: 0 }).success).toBe(false);
    expect(Throttle.safeParse({ maxStandbyLagBytes: 1000 }).success).toBe(false);
    expect(Throttle.safeParse({ slot: 'standby_1' }).success).toBe(false);
    expect(Throttle.safeParse({ slot: 'Standby-1', maxStandbyLagBytes: 8 * 1024 * 1024 }).success).toBe(false);
    expect(
      Throttle.safeParse({ maxRateMBps: 50, maxStandbyLagBytes: 8 * 1024 * 1024, slot: 'standby_1' }).success,
    ).toBe(true);
  });
});
