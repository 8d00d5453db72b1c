// The main process's wiring, checked without an Electron binary: main.ts runs
// against a stand-in for the `electron` module that records what it is asked
// to do. The backend behind it is the real one (profiles, secrets, dispatch);
// what this cannot show (that Chromium honours the settings) is the job of
// electron-smoke.unit.test.ts wherever the binary exists.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { EVENT_CHANNEL, INVOKE_CHANNEL } from '../preload/channels.js';
import { ProfileStore } from '../connections/profile-store.js';

const electron = vi.hoisted(() => {
  type Handler = (...args: unknown[]) => unknown;
  const appEvents = new Map<string, Handler[]>();
  const state = {
    userData: '',
    windows: [] as Array<{ options: Record<string, unknown>; loaded: string[]; webContents: Record<string, unknown> }>,
    schemes: [] as unknown[],
    protocolHandlers: new Map<string, (request: Request) => Promise<Response>>(),
    ipcHandlers: new Map<string, Handler>(),
    permissionRequest: undefined as Handler | undefined,
    permissionCheck: undefined as Handler | undefined,
    quitCalls: 0,
    sent: [] as unknown[][],
    saveDialogs: [] as unknown[][],
    appEvents,
  };
  let nextId = 1;
  class BrowserWindow {
    options: Record<string, unknown>;
    loaded: string[] = [];
    webContents: Record<string, unknown>;
    constructor(options: Record<string, unknown>) {
      this.options = options;
      const mainFrame = { url: 'app://partwise/index.html' };
      this.webContents = {
        id: nextId++,
        mainFrame,
        send: (...args: unknown[]) => state.sent.push(args),
        once: () => undefined,
        on: () => undefined,
      };
      state.windows.push(this);
    }
    once(): void {}
    on(): void {}
    loadURL(url: string): Promise<void> {
      this.loaded.push(url);
      return Promise.resolve();
    }
    isDestroyed(): boolean {
      return false;
    }
    isMinimized(): boolean {
      return false;
    }
  }
  const module = {
    app: {
      setPath: (name: string, value: string) => {
        if (name === 'userData') state.userData = value;
      },
      getPath: (name: string) => (name === 'downloads' ? '/home/me/Downloads' : state.userData),
      requestSingleInstanceLock: () => true,
      whenReady: () => Promise.resolve(),
      on: (event: string, handler: Handler) => appEvents.set(event, [...(appEvents.get(event) ?? []), handler]),
      quit: () => {
        state.quitCalls++;
      },
      exit: () => undefined,
    },
    BrowserWindow,
    protocol: {
      registerSchemesAsPrivileged: (schemes: unknown[]) => state.schemes.push(...schemes),
      handle: (scheme: string, handler: (request: Request) => Promise<Response>) =>
        state.protocolHandlers.set(scheme, handler),
    },
    ipcMain: { handle: (channel: string, handler: Handler) => state.ipcHandlers.set(channel, handler) },
    session: {
      defaultSession: {
        setPermissionRequestHandler: (handler: Handler) => (state.permissionRequest = handler),
        setPermissionCheckHandler: (handler: Handler) => (state.permissionCheck = handler),
        setDevicePermissionHandler: () => undefined,
      },
    },
    shell: { openExternal: () => Promise.resolve() },
    dialog: {
      showSaveDialog: (...args: unknown[]) => {
        state.saveDialogs.push(args);
        const options = args.at(-1) as { defaultPath: string };
        return Promise.resolve({ canceled: false, filePath: options.defaultPath });
      },
    },
    // Encryption here is a stand-in too; the SafeStorageSecretStore tests use a real cipher.
    safeStorage: {
      isEncryptionAvailable: () => true,
      encryptString: (s: string) => Buffer.from(`enc:${s}`),
      decryptString: (b: Buffer) => b.toString().slice(4),
      getSelectedStorageBackend: () => 'gnome_libsecret',
    },
  };
  return { state, module };
});

vi.mock('electron', () => electron.module);

let dataDir: string;
const state = electron.state;

beforeAll(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'partwise-main-'));
  // A saved profile, so that the first-launch Sandbox does not start in a unit test.
  await new ProfileStore(dataDir).save({
    id: 'p1',
    name: 'Prod',
    kind: 'server',
    host: 'db',
    port: 5432,
    database: 'app',
    user: 'me',
    sslMode: 'require',
  });
  process.env.PARTWISE_DATA_DIR = dataDir;
  const before = {
    SIGINT: process.listeners('SIGINT'),
    SIGTERM: process.listeners('SIGTERM'),
    SIGHUP: process.listeners('SIGHUP'),
  };
  await import('./main.js');
  // main.ts quits the app on these signals; in this worker they must keep their usual meaning.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    for (const listener of process.listeners(signal)) {
      if (!before[signal].includes(listener)) process.removeListener(signal, listener);
    }
  }
  await vi.waitFor(() => expect(state.windows).toHaveLength(1));
});

afterAll(async () => {
  delete process.env.PARTWISE_DATA_DIR;
  await fs.rm(dataDir, { recursive: true, force: true });
});

function invoke(sender: { id: number; frameUrl?: string; subFrame?: boolean }, command: unknown, input: unknown) {
  const window = state.windows[0]!;
  const mainFrame = window.webContents.mainFrame as { url: string };
  const frame = sender.subFrame ? { url: sender.frameUrl ?? mainFrame.url } : mainFrame;
  if (!sender.subFrame && sender.frameUrl) mainFrame.url = sender.frameUrl;
  const event = { sender: { id: sender.id, mainFrame }, senderFrame: frame };
  const result = state.ipcHandlers.get(INVOKE_CHANNEL)!(event, command, input);
  mainFrame.url = 'app://partwise/index.html';
  return result as Promise<{ ok: boolean; result?: unknown; error?: { kind: string } }>;
}

describe('the main process', () => {
  it('takes its data directory from PARTWISE_DATA_DIR', () => {
    expect(state.userData).toBe(path.resolve(dataDir));
  });

  it('opens one locked-down window on app://partwise', () => {
    const window = state.windows[0]!;
    const prefs = window.options.webPreferences as Record<string, unknown>;
    expect(prefs).toMatchObject({
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
      webviewTag: false,
    });
    expect(String(prefs.preload).endsWith(path.join('preload', 'preload.cjs'))).toBe(true);
    expect(window.loaded).toEqual(['app://partwise/index.html']);
    expect(state.schemes).toEqual([
      { scheme: 'app', privileges: { standard: true, secure: true, supportFetchAPI: true } },
    ]);
  });

  it('serves app:// with the strict policy and nothing from other hosts', async () => {
    const handler = state.protocolHandlers.get('app')!;
    const page = await handler(new Request('app://partwise/index.html'));
    expect([200, 503]).toContain(page.status); // 503 until the renderer is built
    expect(page.headers.get('content-security-policy')).toContain("connect-src 'self';");
    expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    expect((await handler(new Request('app://elsewhere/index.html'))).status).toBe(404);
  });

  it('answers files.chooseSavePath with the OS save dialog, attached to the window and starting in Downloads', async () => {
    const window = state.windows[0]!;
    const answer = await invoke({ id: window.webContents.id as number }, 'files.chooseSavePath', {
      suggestedName: 'orders-7.csv',
    });
    expect(answer).toEqual({ ok: true, result: { path: '/home/me/Downloads/orders-7.csv' } });
    expect(state.saveDialogs).toEqual([
      [
        window,
        {
          defaultPath: '/home/me/Downloads/orders-7.csv',
          properties: ['createDirectory', 'showOverwriteConfirmation'],
        },
      ],
    ]);
  });

  it('dispatches IPC from the window and refuses every other sender', async () => {
    const id = state.windows[0]!.webContents.id as number;
    expect(await invoke({ id }, 'app.info', {})).toEqual({
      ok: true,
      result: { version: expect.any(String), shell: 'electron', secretStorage: 'keychain' },
    });
    const listed = await invoke({ id }, 'connections.list', {});
    expect(listed).toMatchObject({ ok: true, result: [{ id: 'p1', hasPassword: false }] });
    expect(await invoke({ id }, 'connections.delete', { bogus: 1 })).toMatchObject({
      ok: false,
      error: { kind: 'invalid_input' },
    });

    for (const sender of [
      { id: id + 100 },
      { id, subFrame: true },
      { id, frameUrl: 'https://evil.example/' },
      { id, frameUrl: 'file:///tmp/x.html' },
    ]) {
      expect(await invoke(sender, 'app.info', {}), JSON.stringify(sender)).toMatchObject({
        ok: false,
        error: { kind: 'privilege' },
      });
    }
  });

  it('denies new windows, foreign navigation, webviews and permissions', () => {
    const [created] = state.appEvents.get('web-contents-created')!;
    const handlers = new Map<string, (...args: unknown[]) => unknown>();
    let windowOpen: ((details: { url: string }) => unknown) | undefined;
    created!(
      {},
      {
        setWindowOpenHandler: (handler: (details: { url: string }) => unknown) => (windowOpen = handler),
        on: (event: string, handler: (...args: unknown[]) => unknown) => handlers.set(event, handler),
      },
    );
    expect(windowOpen!({ url: 'https://example.com' })).toEqual({ action: 'deny' });
    const prevented = (event: string, url?: string): boolean => {
      let stopped = false;
      handlers.get(event)!({ preventDefault: () => (stopped = true) }, url);
      return stopped;
    };
    expect(prevented('will-navigate', 'https://evil.example/')).toBe(true);
    expect(prevented('will-navigate', 'app://partwise/other')).toBe(false);
    expect(prevented('will-redirect', 'http://127.0.0.1:1/')).toBe(true);
    expect(prevented('will-attach-webview')).toBe(true);

    let granted: boolean | undefined;
    state.permissionRequest!({}, 'media', (answer: boolean) => (granted = answer));
    expect(granted).toBe(false);
    expect(state.permissionCheck!({}, 'clipboard-read')).toBe(false);
  });

  it('closes the backend before letting the app quit', async () => {
    const [beforeQuit] = state.appEvents.get('before-quit')!;
    let prevented = false;
    beforeQuit!({ preventDefault: () => (prevented = true) });
    expect(prevented).toBe(true);
    await vi.waitFor(() => expect(state.quitCalls).toBe(1));
    // The second before-quit (from that quit) goes through.
    let preventedAgain = false;
    beforeQuit!({ preventDefault: () => (preventedAgain = true) });
    expect(preventedAgain).toBe(false);
    expect(state.sent.every(([channel]) => channel === EVENT_CHANNEL)).toBe(true);
  });
});
