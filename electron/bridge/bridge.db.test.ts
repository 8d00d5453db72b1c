import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { BRIDGE_WS_PATH, ServerMessage } from '../../shared/bridge-protocol.js';
import type { RunEvent } from '../../shared/progress.js';
import { useTestDatabase } from '../testing/database.js';
import { createRoutedTable, installPartwise } from '../testing/fixtures.js';
import { checkEveryRunAction, checkPauseAndContinue, RUN_STATES, type ActionHarness } from '../testing/run-actions.js';
import { MAX_MESSAGE_BYTES, startBridge, tokenMatches, type Bridge } from './server.js';

const db = useTestDatabase('bridge');

let root: string;
let rendererDir: string;
let bridge: Bridge;
let origin: string;

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'partwise-bridge-'));
  rendererDir = path.join(root, 'renderer');
  await fs.mkdir(path.join(rendererDir, 'assets'), { recursive: true });
  await fs.writeFile(
    path.join(rendererDir, 'index.html'),
    '<!doctype html><title>Partwise</title><script type="module" src="/assets/app.js"></script>',
  );
  await fs.writeFile(path.join(rendererDir, 'assets', 'app.js'), 'console.log("partwise");');
  await fs.writeFile(path.join(root, 'secret.txt'), 'outside the renderer');
  bridge = await startBridge({ dataDir: path.join(root, 'data'), rendererDir, sandbox: false });
  origin = `http://127.0.0.1:${bridge.port}`;
});

afterAll(async () => {
  await bridge.close();
  await fs.rm(root, { recursive: true, force: true });
});

function wsUrl(token: string | undefined = bridge.token, host = '127.0.0.1'): string {
  const query = token === undefined ? '' : `?token=${encodeURIComponent(token)}`;
  return `ws://${host}:${bridge.port}${BRIDGE_WS_PATH}${query}`;
}

/** The HTTP status a WebSocket upgrade gets (101 when accepted), with full control of the headers. */
function upgradeStatus(options: { path?: string; host?: string; origin?: string | null }): Promise<number> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {
      Connection: 'Upgrade',
      Upgrade: 'websocket',
      'Sec-WebSocket-Version': '13',
      'Sec-WebSocket-Key': Buffer.from('0123456789abcdef').toString('base64'),
      Host: options.host ?? `127.0.0.1:${bridge.port}`,
    };
    if (options.origin !== null) headers.Origin = options.origin ?? origin;
    const request = http.request({
      host: '127.0.0.1',
      port: bridge.port,
      path: options.path ?? `${BRIDGE_WS_PATH}?token=${encodeURIComponent(bridge.token)}`,
      headers,
    });
    request.on('upgrade', (response, socket) => {
      socket.destroy();
      resolve(response.statusCode ?? 0);
    });
    request.on('response', (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('error', reject);
    request.end();
  });
}

interface Session {
  ws: WebSocket;
  messages: ServerMessage[];
  call(command: string, input: unknown): Promise<ServerMessage & { kind: 'response' }>;
  sendRaw(text: string | Buffer): void;
  next(predicate: (message: ServerMessage) => boolean): Promise<ServerMessage>;
}

async function open(): Promise<Session> {
  const ws = new WebSocket(wsUrl(), { origin });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const messages: ServerMessage[] = [];
  const waiters: Array<{ predicate: (m: ServerMessage) => boolean; resolve: (m: ServerMessage) => void }> = [];
  ws.on('message', (data) => {
    const message = ServerMessage.parse(JSON.parse(data.toString()));
    messages.push(message);
    for (const waiter of [...waiters]) {
      if (waiter.predicate(message)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(message);
      }
    }
  });
  let nextId = 1;
  const next = (predicate: (message: ServerMessage) => boolean): Promise<ServerMessage> => {
    const seen = messages.find(predicate);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => waiters.push({ predicate, resolve }));
  };
  return {
    ws,
    messages,
    next,
    sendRaw: (text) => ws.send(text),
    async call(command, input) {
      const id = nextId++;
      ws.send(JSON.stringify({ id, command, input }));
      return (await next((m) => m.kind === 'response' && m.id === id)) as ServerMessage & { kind: 'response' };
    },
  };
}

/** A connection profile for the test database, as the Connections form would send it. */
function harnessProfile(name: string) {
  const url = new URL(db.url);
  return {
    name,
    host: url.hostname,
    port: Number(url.port),
    database: url.pathname.slice(1),
    user: url.username,
    sslMode: 'disable',
    password: decodeURIComponent(url.password),
  };
}

describe('who may open the WebSocket', () => {
  it('accepts the right token, Origin and Host', async () => {
    expect(await upgradeStatus({})).toBe(101);
    expect(await upgradeStatus({ host: `localhost:${bridge.port}`, origin: `http://localhost:${bridge.port}` })).toBe(
      101,
    );
  });

  it('refuses a missing or wrong token', async () => {
    expect(await upgradeStatus({ path: BRIDGE_WS_PATH })).toBe(401);
    expect(await upgradeStatus({ path: `${BRIDGE_WS_PATH}?token=` })).toBe(401);
    expect(await upgradeStatus({ path: `${BRIDGE_WS_PATH}?token=${bridge.token.slice(1)}` })).toBe(401);
    expect(await upgradeStatus({ path: `${BRIDGE_WS_PATH}?token=${bridge.token}x` })).toBe(401);
  });

  it('refuses a foreign or missing Origin', async () => {
    expect(await upgradeStatus({ origin: 'http://evil.example' })).toBe(403);
    expect(await upgradeStatus({ origin: `http://127.0.0.1:${bridge.port + 1}` })).toBe(403);
    expect(await upgradeStatus({ origin: `https://127.0.0.1:${bridge.port}` })).toBe(403);
    expect(await upgradeStatus({ origin: 'null' })).toBe(403);
    expect(await upgradeStatus({ origin: null })).toBe(403);
  });

  it('refuses a foreign Host even with the right token and Origin (DNS rebinding)', async () => {
    expect(await upgradeStatus({ host: `evil.example:${bridge.port}` })).toBe(403);
    expect(await upgradeStatus({ host: `127.0.0.1:${bridge.port + 1}` })).toBe(403);
    expect(await upgradeStatus({ host: '127.0.0.1' })).toBe(403);
  });

  it('refuses other paths', async () => {
    expect(await upgradeStatus({ path: `/other?token=${bridge.token}` })).toBe(404);
  });

  it('compares tokens by value', () => {
    expect(tokenMatches('abc', 'abc')).toBe(true);
    expect(tokenMatches('abc', 'abd')).toBe(false);
    expect(tokenMatches('abc', '')).toBe(false);
    expect(tokenMatches('abc', null)).toBe(false);
  });

  it('refuses through a real client too', async () => {
    const ws = new WebSocket(wsUrl('wrong'), { origin });
    const status = await new Promise<number>((resolve) => {
      ws.on('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
      ws.on('error', () => undefined);
    });
    expect(status).toBe(401);
  });
});

describe('commands over the WebSocket', () => {
  it('answers a command round trip', async () => {
    const session = await open();
    try {
      const info = await session.call('app.info', {});
      expect(info.response).toEqual({
        ok: true,
        result: { version: expect.any(String), shell: 'browser', secretStorage: 'session_only' },
      });

      const saved = await session.call('connections.save', harnessProfile('Harness'));
      expect(saved.response.ok).toBe(true);
      expect(JSON.stringify(saved)).not.toContain(harnessProfile('Harness').password);
      const id = (saved.response as { result: { id: string } }).result.id;
      const tested = await session.call('connections.test', { id });
      expect(tested.response).toMatchObject({ ok: true, result: { ok: true } });
      const listed = await session.call('connections.list', {});
      expect(listed.response).toMatchObject({ ok: true, result: [{ id, name: 'Harness', hasPassword: true }] });
      await session.call('connections.delete', { id });
    } finally {
      session.ws.close();
    }
  });

  it('carries the connection-string commands: services import and a read-only profile refusing writes', async () => {
    const session = await open();
    try {
      const services = await session.call('connections.services', { file: '/nonexistent/pg_service.conf' });
      expect(services.response).toEqual({
        ok: true,
        result: { files: ['/nonexistent/pg_service.conf'], services: [] },
      });
      const missing = await session.call('connections.importServices', {
        file: '/nonexistent/pg_service.conf',
        names: ['x'],
      });
      expect(missing.response).toMatchObject({ ok: false, error: { kind: 'not_found' } });
      const saved = await session.call('connections.save', { ...harnessProfile('Read only'), readOnly: true });
      const id = (saved.response as { result: { id: string } }).result.id;
      const refused = await session.call('runs.cancel', { connectionId: id, runId: 1 });
      expect(refused.response).toMatchObject({
        ok: false,
        error: { kind: 'blocked', message: expect.stringContaining('is read-only') },
      });
      await session.call('connections.delete', { id });
    } finally {
      session.ws.close();
    }
  });

  it('carries key actions: the plan, a detach the tree then shows, and a read-only profile refusing them', async () => {
    await installPartwise(db);
    const table = await createRoutedTable(db, { table: 'bridge_keys', bucketLimit: 10 });
    await db.query(
      `INSERT INTO ${table.view} (customer_id, payload) SELECT 1 + g % 2, 'p' FROM generate_series(1, 30) g`,
    );
    const session = await open();
    try {
      const saved = await session.call('connections.save', harnessProfile('Keys'));
      const id = (saved.response as { result: { id: string } }).result.id;
      const input = { connectionId: id, configId: table.configId, action: 'detach', keyValues: ['2'], options: {} };
      const plan = await session.call('keys.plan', input);
      expect(plan.response).toMatchObject({ ok: true, result: [{ keyValue: '2', rows: 15, state: 'active' }] });
      const run = await session.call('keys.run', input);
      expect(run.response).toMatchObject({ ok: true, result: [{ keyValue: '2', state: 'detached', changed: true }] });
      // Its progress came over the socket as events.
      const progress = session.messages.flatMap((m) =>
        m.kind === 'event' && m.event === 'keys.progress' ? [m.payload] : [],
      );
      expect(progress[0]).toEqual({
        connectionId: id,
        configId: table.configId,
        action: 'detach',
        keyValue: '2',
        position: 1,
        of: 1,
        progress: { step: 'detach key 2' },
      });
      // A browser page has no save dialog to offer: the path is typed.
      const choose = await session.call('files.chooseSavePath', { suggestedName: 'bridge_keys-2.csv' });
      expect(choose.response).toMatchObject({
        ok: false,
        error: { kind: 'invalid_input', message: expect.stringContaining('type the full path') },
      });
      const tree = await session.call('explorer.tree', { connectionId: id, configId: table.configId });
      expect(tree.response).toMatchObject({
        ok: true,
        result: {
          levelOne: [
            { keyValue: '1', state: 'active' },
            { keyValue: '2', state: 'detached' },
          ],
        },
      });
      const readOnly = await session.call('connections.save', { ...harnessProfile('Keys read only'), readOnly: true });
      const roId = (readOnly.response as { result: { id: string } }).result.id;
      const refused = await session.call('keys.run', { ...input, connectionId: roId, action: 'attach' });
      expect(refused.response).toMatchObject({ ok: false, error: { kind: 'blocked' } });
      expect(await db.query(`SELECT state FROM partwise.partition_tracker WHERE key_value = '2'`)).toEqual([
        { state: 'detached' },
      ]);
      await session.call('connections.delete', { id });
      await session.call('connections.delete', { id: roId });
    } finally {
      session.ws.close();
    }
  });

  it('carries a compaction: its plan, the run, and the tree with fewer leaves', async () => {
    await installPartwise(db);
    const table = await createRoutedTable(db, { table: 'bridge_compact', bucketLimit: 10 });
    await db.query(`INSERT INTO ${table.view} (customer_id, payload) SELECT 1, 'p' FROM generate_series(1, 40) g`);
    await db.query(`DELETE FROM ${table.root} WHERE bucket_id < 3 AND id % 10 NOT IN (1, 2)`);
    const session = await open();
    try {
      const saved = await session.call('connections.save', harnessProfile('Compact'));
      const id = (saved.response as { result: { id: string } }).result.id;
      const input = { connectionId: id, configId: table.configId, action: 'compact', keyValues: ['1'], options: {} };
      const plan = await session.call('keys.plan', input);
      expect(plan.response).toMatchObject({
        ok: true,
        result: [{ keyValue: '1', compaction: { leavesBefore: 4, leavesAfter: 2 } }],
      });
      const run = await session.call('keys.run', input);
      expect(run.response).toMatchObject({ ok: true, result: [{ keyValue: '1', changed: true, rows: 4 }] });
      const tree = await session.call('explorer.tree', { connectionId: id, configId: table.configId });
      expect(
        (
          tree.response as { result: { levelOne: Array<{ buckets: Array<{ bucketId: number }> }> } }
        ).result.levelOne[0]!.buckets.map((b) => b.bucketId),
      ).toEqual([0, 3]);
      await session.call('connections.delete', { id });
    } finally {
      session.ws.close();
    }
  });

  it('carries an isolation and a share: the plans, the runs, and the tree with the key out of the pool and back', async () => {
    await installPartwise(db);
    const table = await createRoutedTable(db, { table: 'bridge_isolate', bucketLimit: 10 });
    await db.query('SELECT partwise.share_small_keys($1, 10)', [table.configId]);
    await db.query(
      `INSERT INTO ${table.view} (customer_id, payload) SELECT 1 + g % 3, 'p' FROM generate_series(1, 45) g`,
    );
    const session = await open();
    const pooled = async (id: string) => {
      const tree = await session.call('explorer.tree', { connectionId: id, configId: table.configId });
      const result = (tree.response as { result: { levelOne: Array<{ keyValue: string; pooled: boolean }> } }).result;
      return result.levelOne.map((k) => [k.keyValue, k.pooled]);
    };
    try {
      const saved = await session.call('connections.save', harnessProfile('Isolate'));
      const id = (saved.response as { result: { id: string } }).result.id;
      // Maintenance proposes isolating each key that outgrew the pool, naming the command.
      const report = await session.call('maintenance.run', { connectionId: id, configId: table.configId, ahead: null });
      const findings = (
        report.response as { result: { findings: Array<{ keyValue: string; kind: string; detail: string }> } }
      ).result.findings.filter((f) => f.kind === 'outgrown');
      expect(findings.map((f) => [f.keyValue, f.detail])).toEqual(
        ['1', '2', '3'].map((k) => [
          k,
          `15 rows in the pool, at or above the threshold of 10 rows: give it a partition of its own with partwise key isolate --table public.bridge_isolate --value ${k}`,
        ]),
      );
      const input = { connectionId: id, configId: table.configId, action: 'isolate', keyValues: ['2'], options: {} };
      const plan = await session.call('keys.plan', input);
      expect(plan.response).toMatchObject({ ok: true, result: [{ keyValue: '2', rows: 15, action: 'isolate' }] });
      const run = await session.call('keys.run', input);
      expect(run.response).toMatchObject({ ok: true, result: [{ keyValue: '2', changed: true, rows: 15 }] });
      expect(await pooled(id)).toEqual([
        ['1', true],
        ['2', false],
        ['3', true],
      ]);
      const share = await session.call('keys.run', { ...input, action: 'share' });
      expect(share.response).toMatchObject({ ok: true, result: [{ keyValue: '2', changed: true, rows: 15 }] });
      expect(await pooled(id)).toEqual([
        ['1', true],
        ['2', true],
        ['3', true],
      ]);
      await session.call('connections.delete', { id });
    } finally {
      session.ws.close();
    }
  });

  it('answers concurrent requests by id', async () => {
    const session = await open();
    try {
      const responses = await Promise.all([
        session.call('connections.list', {}),
        session.call('app.info', {}),
        session.call('connections.list', {}),
      ]);
      expect(responses.map((r) => r.id)).toEqual([1, 2, 3]);
      expect(responses.every((r) => r.response.ok)).toBe(true);
    } finally {
      session.ws.close();
    }
  });

  it('returns invalid_input for an invalid payload and keeps the socket open', async () => {
    const session = await open();
    try {
      const invalid = await session.call('connections.save', { name: '', host: 'h', port: 0 });
      expect(invalid.response).toMatchObject({ ok: false, error: { kind: 'invalid_input' } });
      const unknown = await session.call('no.such.command', {});
      expect(unknown.response).toMatchObject({ ok: false, error: { kind: 'invalid_input' } });
      // A slot without the lag bound to hold it under is refused before any connection is made.
      const slotAlone = await session.call('runs.start', {
        connectionId: 'any',
        targets: [{ schema: 'public', table: 't', keyColumn: 'k', bucketLimit: 10 }],
        throttle: { slot: 'replica_1' },
      });
      expect(slotAlone.response).toMatchObject({ ok: false, error: { kind: 'invalid_input' } });

      session.sendRaw('{not json');
      const malformed = await session.next((m) => m.kind === 'response' && m.id === -1);
      expect(malformed).toMatchObject({
        response: { ok: false, error: { kind: 'invalid_input', message: 'The message is not valid JSON.' } },
      });

      session.sendRaw(JSON.stringify({ id: 77, command: 42 }));
      const badShape = await session.next((m) => m.kind === 'response' && m.id === 77);
      expect(badShape).toMatchObject({ response: { ok: false, error: { kind: 'invalid_input' } } });

      session.sendRaw(Buffer.from([1, 2, 3]));
      await session.next(
        (m) => m.kind === 'response' && m.id === -1 && !m.response.ok && /Binary/.test(m.response.error.message),
      );

      expect((await session.call('app.info', {})).response.ok).toBe(true);
      expect(session.ws.readyState).toBe(WebSocket.OPEN);
    } finally {
      session.ws.close();
    }
  });

  it('closes a socket that sends an oversized message, and keeps serving others', async () => {
    const big = await open();
    const other = await open();
    try {
      const closed = new Promise<number>((resolve) => big.ws.once('close', (code) => resolve(code)));
      big.sendRaw(JSON.stringify({ id: 1, command: 'app.info', input: { pad: 'x'.repeat(MAX_MESSAGE_BYTES) } }));
      expect(await closed).toBe(1009);
      expect((await other.call('app.info', {})).response.ok).toBe(true);
    } finally {
      other.ws.close();
    }
  });

  it('broadcasts events emitted by handlers to every open socket', async () => {
    const a = await open();
    const b = await open();
    const gone = await open();
    gone.ws.close();
    await new Promise((resolve) => gone.ws.once('close', resolve));
    try {
      const event: RunEvent = {
        runId: 7,
        type: 'log',
        level: 'info',
        message: 'copying',
        at: new Date().toISOString(),
      };
      bridge.backend.emit('run.event', event);
      for (const session of [a, b]) {
        expect(await session.next((m) => m.kind === 'event')).toEqual({
          kind: 'event',
          event: 'run.event',
          payload: event,
        });
      }
    } finally {
      a.ws.close();
      b.ws.close();
    }
  });
});

describe('the renderer over HTTP', () => {
  function get(
    urlPath: string,
    options: { host?: string; method?: string; dir?: Bridge } = {},
  ): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
    const target = options.dir ?? bridge;
    return new Promise((resolve, reject) => {
      const request = http.request(
        {
          host: '127.0.0.1',
          port: target.port,
          path: urlPath,
          method: options.method ?? 'GET',
          headers: { Host: options.host ?? `127.0.0.1:${target.port}` },
        },
        (response) => {
          let body = '';
          response.on('data', (chunk: Buffer) => (body += chunk.toString()));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
        },
      );
      request.on('error', reject);
      request.end();
    });
  }

  it('serves index.html with a strict policy and the security headers', async () => {
    const response = await get('/');
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(response.body).toContain('<title>Partwise</title>');
    const csp = response.headers['content-security-policy'] as string;
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain(`connect-src 'self' ws://127.0.0.1:${bridge.port} ws://localhost:${bridge.port}`);
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    expect(response.headers['referrer-policy']).toBe('no-referrer');
    expect(response.headers['cache-control']).toBe('no-store');
  });

  it('serves assets with their type, and client routes with index.html', async () => {
    const asset = await get('/assets/app.js');
    expect(asset.status).toBe(200);
    expect(asset.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(asset.body).toBe('console.log("partwise");');
    expect((await get('/tables/public/orders')).body).toContain('<title>Partwise</title>');
    expect((await get('/assets/missing.js')).status).toBe(404);
    expect((await get('/', { method: 'HEAD' })).body).toBe('');
  });

  it('never serves a file outside the renderer directory', async () => {
    for (const attempt of [
      '/../secret.txt',
      '/%2e%2e/secret.txt',
      '/assets/..%2f..%2fsecret.txt',
      '/..%5csecret.txt',
    ]) {
      const response = await get(attempt);
      expect(response.body, attempt).not.toContain('outside the renderer');
      expect([400, 404], attempt).toContain(response.status);
    }
    expect((await get('/%00')).status).toBe(400);
    expect((await get('/%E0%A4%A')).status).toBe(400);
  });

  it('refuses foreign Host headers and other methods', async () => {
    expect((await get('/', { host: 'evil.example' })).status).toBe(403);
    expect((await get('/', { method: 'POST' })).status).toBe(405);
    expect((await get(BRIDGE_WS_PATH)).status).toBe(426);
  });

  it('says plainly when the renderer is not built', async () => {
    const empty = await startBridge({
      dataDir: path.join(root, 'data-2'),
      rendererDir: path.join(root, 'nothing'),
      sandbox: false,
    });
    try {
      const response = await get('/', { dir: empty });
      expect(response.status).toBe(503);
      expect(response.body).toContain('npm run build');
      expect(response.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    } finally {
      await empty.close();
    }
  });
});

describe('every run action on every run state, over the WebSocket', () => {
  let session: Session;
  let harness: ActionHarness;

  beforeAll(async () => {
    session = await open();
    const saved = await session.call('connections.save', harnessProfile('Run actions'));
    const connectionId = (saved.response as { result: { id: string } }).result.id;
    harness = {
      db,
      connectionId,
      call: async (command, input) => (await session.call(command, input)).response,
      events: () =>
        session.messages.flatMap((m) => (m.kind === 'event' && m.event === 'run.event' ? [m.payload as RunEvent] : [])),
      inFlight: () => bridge.requestsInFlight(),
    };
  });

  afterAll(() => session.ws.close());

  for (const state of RUN_STATES) {
    it(
      `a run that is ${state}: answered, and no request left in flight`,
      () => checkEveryRunAction(harness, state),
      120_000,
    );
  }

  it('pauses a running migration and lets it go on', () => checkPauseAndContinue(harness), 120_000);
});
