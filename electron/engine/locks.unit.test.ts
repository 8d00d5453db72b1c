// The pause between lock attempts: cancellable, and leaving nothing behind on
// the run's signal once it is over.
import { getEventListeners } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import { DEADLOCK_ATTEMPTS, deadlockPauseMs, retryOnDeadlock, sleep } from './locks.js';

describe('the pause between lock attempts', () => {
  it('removes its abort listener when it ends', async () => {
    const controller = new AbortController();
    for (let i = 0; i < 5; i++) await sleep(1, controller.signal);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('ends at once, as cancelled, when the signal aborts', async () => {
    const controller = new AbortController();
    const paused = sleep(60_000, controller.signal);
    controller.abort();
    await expect(paused).rejects.toMatchObject({ kind: 'cancelled' });
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });
});

describe('the pause after a deadlock', () => {
  it('pauses longer after each deadlock in a row, jittered, and gives up after DEADLOCK_ATTEMPTS', () => {
    const low = (deadlocks: number) => deadlockPauseMs(deadlocks, () => 0);
    const high = (deadlocks: number) => deadlockPauseMs(deadlocks, () => 1);
    expect([1, 2, 3, 4, 5].map(low)).toEqual([75, 150, 300, 600, 1200]);
    expect([1, 2, 3, 4, 5].map(high)).toEqual([125, 250, 500, 1000, 2000]);
    expect(DEADLOCK_ATTEMPTS).toBe(6);
    expect(deadlockPauseMs(DEADLOCK_ATTEMPTS)).toBeNull();
    expect(deadlockPauseMs(DEADLOCK_ATTEMPTS + 1)).toBeNull();
  });
});

describe('work taken again after a deadlock', () => {
  const deadlock = (): Error => Object.assign(new Error('deadlock detected'), { code: '40P01' });

  it('is taken again after each deadlock in a row, and its result returned once it goes through', async () => {
    vi.useFakeTimers();
    try {
      let calls = 0;
      const retried: number[] = [];
      const done = retryOnDeadlock(
        async () => {
          if (++calls < 3) throw deadlock();
          return 'swapped';
        },
        { onRetry: (deadlocks) => retried.push(deadlocks), giveUp: () => new Error('gave up') },
      );
      await vi.runAllTimersAsync();
      await expect(done).resolves.toBe('swapped');
      expect(retried).toEqual([1, 2]);
    } finally {
      vi.useRealTimers();
    }
  });

  it("gives up with the caller's error after DEADLOCK_ATTEMPTS deadlocks in a row", async () => {
    vi.useFakeTimers();
    try {
      let calls = 0;
      const done = retryOnDeadlock(
        async () => {
          calls++;
          throw deadlock();
        },
        { onRetry: () => undefined, giveUp: (deadlocks) => new Error(`gave up after ${deadlocks}`) },
      );
      const failed = expect(done).rejects.toThrow(`gave up after ${DEADLOCK_ATTEMPTS}`);
      await vi.runAllTimersAsync();
      await failed;
      expect(calls).toBe(DEADLOCK_ATTEMPTS);
    } finally {
      vi.useRealTimers();
    }
  });

  it('passes any other error through at once, and a deadlock the caller says must not be retried', async () => {
    const giveUp = (): Error => new Error('gave up');
    let calls = 0;
    await expect(
      retryOnDeadlock(
        async () => {
          calls++;
          throw Object.assign(new Error('lock timeout'), { code: '55P03' });
        },
        { onRetry: () => undefined, giveUp },
      ),
    ).rejects.toThrow('lock timeout');
    await expect(
      retryOnDeadlock(
        async () => {
          calls++;
          throw deadlock();
        },
        { retryable: () => false, onRetry: () => undefined, giveUp },
      ),
    ).rejects.toThrow('deadlock detected');
    expect(calls).toBe(2);
  });
});
