// How the renderer reaches the main process: through the preload's
// `window.partwise` in Electron, or through the browser bridge's WebSocket.
// Both speak the contract of shared/contract.ts; errors arrive as ApiError.
import type {
  CommandInput,
  CommandName,
  CommandOutput,
  EventName,
  EventPayload,
  PartwiseApi,
  PreloadApi,
} from '../../shared/contract';
import { BRIDGE_WS_PATH, ServerMessage } from '../../shared/bridge-protocol';
import type { ErrorInfo, ErrorKind } from '../../shared/errors';

export class ApiError extends Error {
  readonly info: ErrorInfo;
  constructor(info: ErrorInfo) {
    super(info.message);
    this.name = 'ApiError';
    this.info = info;
  }
  get kind(): ErrorKind {
    return this.info.kind;
  }
  get hint(): string | undefined {
    return this.info.hint;
  }
}

declare global {
  interface Window {
    partwise?: PreloadApi;
  }
}

type Listener = (payload: unknown) => void;

/** The bridge client: one WebSocket, reconnecting, with request ids. */
export function createBridgeApi(url: string): PartwiseApi {
  let socket: WebSocket | undefined;
  let opening: Promise<WebSocket> | undefined;
  let nextId = 1;
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: unknown) => void }>();
  const listeners = new Map<string, Set<Listener>>();

  const open = (): Promise<WebSocket> => {
    if (socket && socket.readyState === WebSocket.OPEN) return Promise.resolve(socket);
    opening ??= new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.onopen = () => {
        socket = ws;
        opening = undefined;
        resolve(ws);
      };
      ws.onerror = () => {
        opening = undefined;
        reject(
          new ApiError({
            kind: 'connection',
            message: 'The Partwise bridge is not reachable. Is `npm run web` still running?',
          }),
        );
      };
      ws.onclose = () => {
        socket = undefined;
        for (const [, request] of pending) {
          request.reject(
            new ApiError({ kind: 'connection', message: 'The connection to the Partwise bridge closed.' }),
          );
        }
        pending.clear();
      };
      ws.onmessage = (message) => {
        const parsed = ServerMessage.safeParse(JSON.parse(String(message.data)));
        if (!parsed.success) return;
        const data = parsed.data;
        if (data.kind === 'event') {
          for (const listener of listeners.get(data.event) ?? []) listener(data.payload);
          return;
        }
        const request = pending.get(data.id);
        if (!request) return;
        pending.delete(data.id);
        if (data.response.ok) request.resolve(data.response.result);
        else request.reject(new ApiError(data.response.error));
      };
    });
    return opening;
  };

  return {
    async invoke<C extends CommandName>(command: C, input: CommandInput<C>): Promise<CommandOutput<C>> {
      const ws = await open();
      const id = nextId++;
      return new Promise<CommandOutput<C>>((resolve, reject) => {
        pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
        ws.send(JSON.stringify({ id, command, input }));
      });
    },
    on<E extends EventName>(event: E, listener: (payload: EventPayload<E>) => void): () => void {
      void open().catch(() => undefined); // events flow once the socket is open
      const set = listeners.get(event) ?? new Set<Listener>();
      set.add(listener as Listener);
      listeners.set(event, set);
      return () => set.delete(listener as Listener);
    },
  };
}

/** The token of the bridge, from the page URL's fragment (kept for reloads in sessionStorage). */
function bridgeToken(): string | null {
  const fromHash = new URLSearchParams(window.location.hash.replace(/^#/, '')).get('token');
  if (fromHash) {
    sessionStorage.setItem('partwise.token', fromHash);
    return fromHash;
  }
  return sessionStorage.getItem('partwise.token');
}

/** The Electron transport: the preload's envelopes, unwrapped. */
export function createPreloadApi(preload: PreloadApi): PartwiseApi {
  return {
    async invoke<C extends CommandName>(command: C, input: CommandInput<C>): Promise<CommandOutput<C>> {
      const response = await preload.invoke(command, input);
      if (!response.ok) throw new ApiError(response.error);
      return response.result as CommandOutput<C>;
    },
    on<E extends EventName>(event: E, listener: (payload: EventPayload<E>) => void): () => void {
      return preload.on(event, listener as (payload: unknown) => void);
    },
  };
}

export function createApi(): PartwiseApi {
  if (window.partwise) return createPreloadApi(window.partwise);
  const token = bridgeToken();
  const scheme = window.location.protocol === 'https:' ? 'wss' : 'ws';
  return createBridgeApi(
    `${scheme}://${window.location.host}${BRIDGE_WS_PATH}?token=${encodeURIComponent(token ?? '')}`,
  );
}
