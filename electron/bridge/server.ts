// The browser bridge: the backend of the desktop app, reachable from a browser
// on this machine. An HTTP server on 127.0.0.1 serves the built renderer, and a
// WebSocket at BRIDGE_WS_PATH carries the contract's commands and events.
//
// Who may connect: only a page that knows the per-launch token (it reaches the
// page in the URL fragment, which browsers never send anywhere), whose Origin is
// the bridge itself (no other web page can drive it), and that asked for the
// bridge by 127.0.0.1 or localhost (a DNS-rebinding page would send its own
// host name).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createReadStream } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { BRIDGE_WS_PATH, ClientMessage, type ServerMessage } from '../../shared/bridge-protocol.js';
import type { ErrorKind } from '../../shared/errors.js';
import { createBackend, type Backend } from '../backend/backend.js';
import { createSandbox, type Sandbox } from '../sandbox/sandbox.js';
import type { SecretStore } from '../secrets/secret-store.js';
import { SessionSecretStore } from '../secrets/session-secret-store.js';
import { contentSecurityPolicy, SECURITY_HEADERS } from '../renderer-files/content-security-policy.js';
import { defaultRendererDir, rendererIsBuilt, resolveStaticFile } from '../renderer-files/static-files.js';

export const BRIDGE_HOST = '127.0.0.1';
/** The largest message a client may send; commands are small JSON objects. */
export const MAX_MESSAGE_BYTES = 1024 * 1024;
/** Requests one socket may have in flight; more get an error instead of piling up. */
export const MAX_IN_FLIGHT = 64;

export interface BridgeOptions {
  dataDir: string;
  /** 0 or undefined: a free port chosen by the OS. */
  port?: number;
  /** The built renderer; defaults to dist/renderer of this checkout. */
  rendererDir?: string;
  /** Defaults to a random 256-bit token. */
  token?: string;
  /** Defaults to a SessionSecretStore: passwords live as long as this process. */
  secrets?: SecretStore;
  /** Defaults to the Sandbox in `<dataDir>/sandbox`; false for none. */
  sandbox?: Sandbox | false;
  autoStartSandbox?: boolean;
  onLog?: (line: string) => void;
  onError?: (error: unknown) => void;
}

export interface Bridge {
  /** The address to open, token included. */
  url: string;
  port: number;
  token: string;
  backend: Backend;
  /** Requests received and not yet answered, over every socket. */
  requestsInFlight(): number;
  close(): Promise<void>;
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** Equal-length digests compared in constant time: neither the token nor its length leaks through timing. */
export function tokenMatches(expected: string, given: string | null): boolean {
  if (given === null) return false;
  return timingSafeEqual(digest(expected), digest(given));
}

function rejectUpgrade(socket: net.Socket, status: number, reason: string): void {
  const body = `${reason}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}\r\n` +
      'Connection: close\r\nContent-Type: text/plain; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  socket.destroy();
}

const NOT_BUILT_PAGE = (rendererDir: string): string => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Partwise: renderer not built</title></head>
<body><h1>The Partwise renderer is not built</h1>
<p>No index.html was found in ${escapeHtml(rendererDir)}.</p>
<p>Run <code>npm run build</code>, then start the bridge again (<code>npm run web</code>).</p>
<p>The backend runs: a WebSocket client with this page's token can already use it.</p></body></html>
`;

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * The HTTP side: the built renderer's files, to this bridge's own host names
 * only (a DNS-rebinding page names another), read-only, with the security
 * headers on every answer.
 */
function rendererPages(
  rendererDir: string,
  allowedHosts: () => Set<string>,
  headers: () => Record<string, string>,
): http.RequestListener {
  return (request, response) => {
    const send = (status: number, text: string, extra: Record<string, string> = {}): void => {
      response.writeHead(status, { ...headers(), 'Content-Type': 'text/plain; charset=utf-8', ...extra });
      response.end(request.method === 'HEAD' ? undefined : `${text}\n`);
    };
    if (!allowedHosts().has(request.headers.host ?? '')) return send(403, 'Unknown host.');
    if (request.method !== 'GET' && request.method !== 'HEAD')
      return send(405, 'Method not allowed.', { Allow: 'GET, HEAD' });
    const pathname = new URL(request.url ?? '/', `http://${BRIDGE_HOST}`).pathname;
    if (pathname === BRIDGE_WS_PATH)
      return send(426, 'This address takes WebSocket connections only.', { Upgrade: 'websocket' });

    if (!rendererIsBuilt(rendererDir)) {
      response.writeHead(503, {
        ...headers(),
        'Content-Type': 'text/html; charset=utf-8',
        'Cache-Control': 'no-store',
      });
      return response.end(request.method === 'HEAD' ? undefined : NOT_BUILT_PAGE(rendererDir));
    }
    const found = resolveStaticFile(rendererDir, pathname);
    if (found.kind === 'bad_request') return send(400, 'Bad request.');
    if (found.kind === 'not_found') return send(404, 'Not found.');
    response.writeHead(200, {
      ...headers(),
      'Content-Type': found.contentType,
      'Content-Length': String(found.size),
      // Vite names assets by content hash; index.html must always be fetched again.
      'Cache-Control': found.isIndex ? 'no-store' : 'public, max-age=31536000, immutable',
    });
    if (request.method === 'HEAD') return response.end();
    createReadStream(found.file)
      .on('error', () => response.destroy())
      .pipe(response);
  };
}

function refusal(id: number, kind: ErrorKind, message: string): ServerMessage {
  return { kind: 'response', id, response: { ok: false, error: { kind, message } } };
}

type ReadRequest = { request: ClientMessage; refused?: never } | { refused: ServerMessage; request?: never };

/**
 * A WebSocket message as a request, or the answer that refuses it. A message
 * whose id cannot be read is answered with id -1: ClientMessage ids are never
 * negative.
 */
function readRequest(data: RawData, isBinary: boolean): ReadRequest {
  if (isBinary) return { refused: refusal(-1, 'invalid_input', 'Binary messages are not accepted.') };
  let json: unknown;
  try {
    json = JSON.parse(data.toString());
  } catch {
    return { refused: refusal(-1, 'invalid_input', 'The message is not valid JSON.') };
  }
  const parsed = ClientMessage.safeParse(json);
  if (parsed.success) return { request: parsed.data };
  const rawId = (json as { id?: unknown } | null)?.id;
  const id = typeof rawId === 'number' && Number.isInteger(rawId) && rawId >= 0 ? rawId : -1;
  return { refused: refusal(id, 'invalid_input', 'A message needs an integer id, a command name and an input.') };
}

export async function startBridge(options: BridgeOptions): Promise<Bridge> {
  const token = options.token ?? randomBytes(32).toString('base64url');
  const rendererDir = options.rendererDir ?? defaultRendererDir();
  const sandbox =
    options.sandbox === false
      ? undefined
      : (options.sandbox ?? createSandbox({ dataDir: options.dataDir, onLog: options.onLog }));
  const backend = createBackend({
    dataDir: options.dataDir,
    secrets: options.secrets ?? new SessionSecretStore(),
    shell: 'browser',
    sandbox,
    autoStartSandbox: options.autoStartSandbox,
    onError: options.onError,
    onBackgroundError: options.onError,
  });

  let port = 0;
  const allowedHosts = (): Set<string> => new Set([`${BRIDGE_HOST}:${port}`, `localhost:${port}`]);
  const allowedOrigins = (): Set<string> => new Set([`http://${BRIDGE_HOST}:${port}`, `http://localhost:${port}`]);
  const headers = (): Record<string, string> => ({
    ...SECURITY_HEADERS,
    'Content-Security-Policy': contentSecurityPolicy({
      connectSources: [`ws://${BRIDGE_HOST}:${port}`, `ws://localhost:${port}`],
    }),
  });

  const server = http.createServer(rendererPages(rendererDir, allowedHosts, headers));

  const sockets = new Set<WebSocket>();
  let requestsInFlight = 0;
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES, perMessageDeflate: false });

  server.on('upgrade', (request: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    socket.on('error', () => undefined);
    const url = new URL(request.url ?? '/', `http://${BRIDGE_HOST}`);
    if (url.pathname !== BRIDGE_WS_PATH) return rejectUpgrade(socket, 404, 'Not found.');
    if (!allowedHosts().has(request.headers.host ?? '')) return rejectUpgrade(socket, 403, 'Unknown host.');
    if (!allowedOrigins().has(request.headers.origin ?? '')) return rejectUpgrade(socket, 403, 'Foreign origin.');
    if (!tokenMatches(token, url.searchParams.get('token')))
      return rejectUpgrade(socket, 401, 'Missing or wrong token.');
    wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request));
  });

  const sendTo = (ws: WebSocket, message: ServerMessage): void => {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(message));
  };

  wss.on('connection', (ws: WebSocket) => {
    sockets.add(ws);
    let inFlight = 0;
    ws.on('error', () => undefined);
    ws.on('close', () => sockets.delete(ws));
    ws.on('message', (data: RawData, isBinary: boolean) => {
      const { request, refused } = readRequest(data, isBinary);
      if (refused) return sendTo(ws, refused);
      const { id, command, input } = request;
      if (inFlight >= MAX_IN_FLIGHT) {
        return sendTo(
          ws,
          refusal(id, 'blocked', `More than ${MAX_IN_FLIGHT} requests are in flight on this connection.`),
        );
      }
      inFlight++;
      requestsInFlight++;
      void backend
        .dispatch(command, input)
        .then((response) => sendTo(ws, { kind: 'response', id, response }))
        .finally(() => {
          inFlight--;
          requestsInFlight--;
        });
    });
  });

  const unsubscribe = backend.subscribe((event, payload) => {
    const text = JSON.stringify({ kind: 'event', event, payload } satisfies ServerMessage);
    for (const ws of sockets) if (ws.readyState === ws.OPEN) ws.send(text);
  });

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, BRIDGE_HOST, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    await backend.close();
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new Error(
        `Port ${options.port} on ${BRIDGE_HOST} is in use: pick another PARTWISE_PORT, or leave it unset for a free one.`,
        { cause: error },
      );
    }
    throw error;
  }
  port = (server.address() as net.AddressInfo).port;

  let closing: Promise<void> | undefined;
  return {
    url: `http://${BRIDGE_HOST}:${port}/#token=${token}`,
    port,
    token,
    backend,
    requestsInFlight: () => requestsInFlight,
    close() {
      closing ??= (async () => {
        unsubscribe();
        for (const ws of sockets) ws.terminate();
        wss.close();
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await backend.close();
      })();
      return closing;
    },
  };
}
