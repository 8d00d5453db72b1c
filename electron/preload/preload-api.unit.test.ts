import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { ResponseEnvelope } from '../../shared/contract.js';
import { EVENT_CHANNEL, INVOKE_CHANNEL } from './channels.js';
import { createPreloadApi, type IpcRendererLike } from './preload-api.js';

/** ipcRenderer as the preload sees it: invoke answers from a handler, events arrive with an IPC event object first. */
class FakeIpcRenderer extends EventEmitter implements IpcRendererLike {
  calls: unknown[][] = [];
  handler: (...args: unknown[]) => Promise<unknown> = async () => ({ ok: true, result: {} });

  invoke(channel: string, ...args: unknown[]): Promise<unknown> {
    this.calls.push([channel, ...args]);
    return this.handler(...args);
  }

  /** What the main process's webContents.send(EVENT_CHANNEL, name, payload) delivers. */
  deliver(name: string, payload: unknown): void {
    this.emit(EVENT_CHANNEL, { sender: 'the IPC event object' }, name, payload);
  }
}

describe('the preload API', () => {
  it('exposes named functions only', () => {
    const api = createPreloadApi(new FakeIpcRenderer());
    expect(Object.keys(api).sort()).toEqual(['invoke', 'on']);
    expect(Object.values(api).every((value) => typeof value === 'function')).toBe(true);
  });

  it('invokes commands on the invoke channel and returns the envelope', async () => {
    const ipc = new FakeIpcRenderer();
    const envelope: ResponseEnvelope = { ok: true, result: { version: '1' } };
    ipc.handler = async () => envelope;
    const api = createPreloadApi(ipc);
    expect(await api.invoke('app.info', {})).toBe(envelope);
    expect(ipc.calls).toEqual([[INVOKE_CHANNEL, 'app.info', {}]]);
  });

  it('turns a failing channel into an error envelope instead of throwing', async () => {
    const ipc = new FakeIpcRenderer();
    ipc.handler = async () => {
      throw new Error("No handler registered for 'partwise:invoke'");
    };
    const response = await createPreloadApi(ipc).invoke('connections.list', {});
    expect(response).toEqual({
      ok: false,
      error: { kind: 'internal', message: expect.stringContaining('did not answer connections.list') },
    });
    const wrongName = await createPreloadApi(ipc).invoke(42 as never, {});
    expect(wrongName).toMatchObject({ ok: false, error: { kind: 'invalid_input' } });
  });

  it('gives listeners the payload without the IPC event, for their event only', () => {
    const ipc = new FakeIpcRenderer();
    const api = createPreloadApi(ipc);
    const received: unknown[][] = [];
    const unsubscribe = api.on('run.event', (...args: unknown[]) => received.push(args));
    ipc.deliver('run.event', { runId: 1 });
    ipc.deliver('other.event', { runId: 2 });
    expect(received).toEqual([[{ runId: 1 }]]);

    unsubscribe();
    unsubscribe();
    ipc.deliver('run.event', { runId: 3 });
    expect(received).toHaveLength(1);
    expect(ipc.listenerCount(EVENT_CHANNEL)).toBe(0);
  });

  it('keeps other subscriptions when one unsubscribes', () => {
    const ipc = new FakeIpcRenderer();
    const api = createPreloadApi(ipc);
    const a: unknown[] = [];
    const b: unknown[] = [];
    const offA = api.on('run.event', (payload) => a.push(payload));
    api.on('run.event', (payload) => b.push(payload));
    offA();
    ipc.deliver('run.event', 'x');
    expect(a).toEqual([]);
    expect(b).toEqual(['x']);
  });

  it('rejects a listener that is not a function', () => {
    expect(() => createPreloadApi(new FakeIpcRenderer()).on('run.event', 'nope' as never)).toThrow(TypeError);
  });
});
