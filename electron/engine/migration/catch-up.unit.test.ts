import { describe, expect, it } from 'vitest';
import { DEADLOCK_ATTEMPTS, deadlockPauseMs } from './catch-up.js';

describe("the applier's deadlock retry", () => {
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
