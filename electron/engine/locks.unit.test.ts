// The pause between lock attempts: cancellable, and leaving nothing behind on
// the run's signal once it is over.
import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { sleep } from './locks.js';

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
