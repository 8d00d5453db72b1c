import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { Pacer, Throttle as Admission } from './throttle.js';
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

describe('admission', () => {
  it('admits a worker only on a look begun after it asked', async () => {
    // Each look asks the host who holds the run; the test answers each one when it likes.
    const answers: ((heldBy: string | null) => void)[] = [];
    const pauses: (string | null)[] = [];
    const stop = new AbortController();
    const throttle = new Admission(
      {},
      {
        pool: null as unknown as pg.Pool,
        signal: stop.signal,
        onPause: (reason) => pauses.push(reason),
        heldBy: () => new Promise((resolve) => answers.push(resolve)),
      },
    );
    const admitted: string[] = [];
    const first = throttle.admit(0).then(() => admitted.push('first'));
    await Promise.resolve();
    expect(answers).toHaveLength(1);
    // A second worker asks while the first one's look is under way: that look
    // may have read the server before the second worker's last unit ended.
    const second = throttle.admit(0).then(() => admitted.push('second'));
    answers[0]!(null);
    await first;
    await new Promise((resolve) => setImmediate(resolve));
    expect(admitted).toEqual(['first']);
    expect(answers).toHaveLength(2);
    // Its own look finds the run held: it waits.
    answers[1]!('held by ada');
    await new Promise((resolve) => setImmediate(resolve));
    expect(pauses).toEqual(['held by ada']);
    expect(admitted).toEqual(['first']);
    stop.abort();
    await expect(second).rejects.toMatchObject({ kind: 'cancelled' });
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
