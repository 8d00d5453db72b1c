// `window.partwise`: named functions over two IPC channels, never ipcRenderer
// itself. Listeners get the payload only (the IPC event object would hand the
// page a handle on ipcRenderer), and `on` returns its own unsubscribe.
import type { CommandName, EventName, PreloadApi, ResponseEnvelope } from '../../shared/contract.js';
import { EVENT_CHANNEL, INVOKE_CHANNEL } from './channels.js';

/** The part of Electron's ipcRenderer the preload uses (injected, so that it is testable without Electron). */
export interface IpcRendererLike {
  invoke(channel: string, ...args: unknown[]): Promise<unknown>;
  on(channel: string, listener: (event: unknown, ...args: unknown[]) => void): unknown;
  removeListener(channel: string, listener: (event: unknown, ...args: unknown[]) => void): unknown;
}

function failure(message: string): ResponseEnvelope {
  return { ok: false, error: { kind: 'internal', message } };
}

export function createPreloadApi(ipc: IpcRendererLike): PreloadApi {
  return {
    async invoke(command: CommandName, input: unknown): Promise<ResponseEnvelope> {
      if (typeof command !== 'string')
        return { ok: false, error: { kind: 'invalid_input', message: 'A command name is a string.' } };
      try {
        // The main process answers with an envelope; it only throws when the channel itself fails.
        return (await ipc.invoke(INVOKE_CHANNEL, command, input)) as ResponseEnvelope;
      } catch (error) {
        return failure(
          `The Partwise main process did not answer ${command}: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    },
    on(event: EventName, listener: (payload: unknown) => void): () => void {
      if (typeof event !== 'string' || typeof listener !== 'function') {
        throw new TypeError('partwise.on(event, listener) takes an event name and a function.');
      }
      const forward = (_event: unknown, ...args: unknown[]): void => {
        if (args[0] === event) listener(args[1]);
      };
      ipc.on(EVENT_CHANNEL, forward);
      let subscribed = true;
      return () => {
        if (!subscribed) return;
        subscribed = false;
        ipc.removeListener(EVENT_CHANNEL, forward);
      };
    },
  };
}
