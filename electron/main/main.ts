// The Electron main process: one locked-down window showing the renderer from
// app://, the backend behind IPC, passwords in the OS keychain. Everything
// else (handlers, pools, the Sandbox) is the same code the browser bridge runs.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  app,
  BrowserWindow,
  dialog,
  ipcMain,
  safeStorage,
  session,
  shell,
  type IpcMainInvokeEvent,
  type SaveDialogOptions,
  type WebContents,
} from 'electron';
import type { ResponseEnvelope } from '../../shared/contract.js';
import { defaultRendererDir } from '../renderer-files/static-files.js';
import { createBackend, type Backend } from '../backend/backend.js';
import { EVENT_CHANNEL, INVOKE_CHANNEL } from '../preload/channels.js';
import { createSandbox } from '../sandbox/sandbox.js';
import { SafeStorageSecretStore } from '../secrets/safe-storage-secret-store.js';
import { registerAppScheme, serveRenderer } from './app-protocol.js';
import { APP_START_URL, isAllowedExternal, isAppUrl, isTrustedSender } from './trust.js';

const here = path.dirname(fileURLToPath(import.meta.url));

const preloadPath = path.join(here, '..', 'preload', 'preload.cjs');
const rendererDir = defaultRendererDir(here);
/** Set by the Electron smoke test: load the window, call app.info through the preload, print it, quit. */
const smokeTest = process.env.PARTWISE_SMOKE_TEST === '1';

// Same override as the bridge: a separate data directory per test or per user choice.
if (process.env.PARTWISE_DATA_DIR) app.setPath('userData', path.resolve(process.env.PARTWISE_DATA_DIR));

registerAppScheme();

let mainWindow: BrowserWindow | undefined;

/** The OS save dialog, attached to the window, starting in Downloads with the suggested file name. */
async function chooseSavePath(suggestedName: string): Promise<string | null> {
  const options: SaveDialogOptions = {
    defaultPath: path.join(app.getPath('downloads'), suggestedName),
    properties: ['createDirectory', 'showOverwriteConfirmation'],
  };
  const answer =
    mainWindow && !mainWindow.isDestroyed()
      ? await dialog.showSaveDialog(mainWindow, options)
      : await dialog.showSaveDialog(options);
  return answer.canceled || !answer.filePath ? null : answer.filePath;
}

let backend: Backend | undefined;

function logError(error: unknown): void {
  console.error('[partwise]', error instanceof Error ? (error.stack ?? error.message) : error);
}

/** Rules for every web contents this app ever creates, the window's and any other. */
function harden(contents: WebContents): void {
  contents.setWindowOpenHandler(({ url }) => {
    if (isAllowedExternal(url)) void shell.openExternal(url);
    return { action: 'deny' };
  });
  contents.on('will-navigate', (event, url) => {
    if (!isAppUrl(url)) event.preventDefault();
  });
  contents.on('will-redirect', (event, url) => {
    if (!isAppUrl(url)) event.preventDefault();
  });
  contents.on('will-attach-webview', (event) => event.preventDefault());
}

function createWindow(): BrowserWindow {
  const window = new BrowserWindow({
    width: 1280,
    height: 820,
    minWidth: 900,
    minHeight: 600,
    title: 'Partwise',
    show: false,
    webPreferences: {
      preload: preloadPath,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      navigateOnDragDrop: false,
      spellcheck: false,
    },
  });
  window.once('ready-to-show', () => {
    if (!smokeTest) window.show();
  });
  window.on('closed', () => {
    if (mainWindow === window) mainWindow = undefined;
  });
  void window.loadURL(APP_START_URL);
  return window;
}

function senderInfo(event: IpcMainInvokeEvent) {
  const frame = event.senderFrame;
  return {
    webContentsId: event.sender.id,
    frameUrl: frame?.url,
    isMainFrame: frame !== null && frame === event.sender.mainFrame,
  };
}

async function runSmokeTest(window: BrowserWindow): Promise<void> {
  const report = await window.webContents.executeJavaScript(
    `(async () => ({
       origin: location.origin,
       keys: Object.keys(window.partwise ?? {}).sort(),
       hasIpcRenderer: typeof window.ipcRenderer !== 'undefined' || typeof window.require !== 'undefined',
       info: await window.partwise.invoke('app.info', {}),
       invalid: await window.partwise.invoke('connections.delete', { nope: 1 }),
     }))()`,
  );
  console.log(`PARTWISE_SMOKE ${JSON.stringify(report)}`);
}

async function start(): Promise<void> {
  if (!app.requestSingleInstanceLock()) {
    // The other instance owns the Sandbox and the data directory; it is brought to the front instead.
    app.quit();
    return;
  }
  app.on('second-instance', () => {
    if (mainWindow?.isMinimized()) mainWindow.restore();
    mainWindow?.focus();
  });
  app.on('web-contents-created', (_event, contents) => harden(contents));

  await app.whenReady();

  const denyAll = session.defaultSession;
  denyAll.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
  denyAll.setPermissionCheckHandler(() => false);
  denyAll.setDevicePermissionHandler(() => false);

  serveRenderer(rendererDir);

  const dataDir = app.getPath('userData');
  backend = createBackend({
    dataDir,
    shell: 'electron',
    secrets: new SafeStorageSecretStore({ file: path.join(dataDir, 'secrets.json'), safeStorage }),
    sandbox: createSandbox({ dataDir, onLog: (line) => console.log(`[sandbox] ${line}`) }),
    onError: logError,
    onBackgroundError: logError,
    chooseSavePath,
  });

  backend.subscribe((event, payload) => {
    if (mainWindow && !mainWindow.isDestroyed()) mainWindow.webContents.send(EVENT_CHANNEL, event, payload);
  });

  ipcMain.handle(INVOKE_CHANNEL, async (event, command: unknown, input: unknown): Promise<ResponseEnvelope> => {
    if (!backend || !isTrustedSender(senderInfo(event), mainWindow?.webContents.id)) {
      return {
        ok: false,
        error: { kind: 'privilege', message: 'Refused: the request did not come from the Partwise window.' },
      };
    }
    return backend.dispatch(command, input);
  });

  mainWindow = createWindow();
  if (smokeTest) {
    mainWindow.webContents.once('did-finish-load', () => {
      runSmokeTest(mainWindow!)
        .catch((error: unknown) => console.log(`PARTWISE_SMOKE_FAILED ${String(error)}`))
        .finally(() => app.quit());
    });
  }

  app.on('activate', () => {
    if (!mainWindow) mainWindow = createWindow();
  });
}

let shutdownFinished = false;
let shuttingDown = false;
app.on('before-quit', (event) => {
  if (shutdownFinished || !backend) return;
  // Pools close and the Sandbox stops before the process ends; the quit resumes afterwards.
  event.preventDefault();
  if (shuttingDown) return;
  shuttingDown = true;
  backend
    .close()
    .catch(logError)
    .finally(() => {
      shutdownFinished = true;
      app.quit();
    });
});

// Ctrl+C (or a closed terminal) of `npm start`: the same orderly quit as closing the window.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => app.quit());

app.on('window-all-closed', () => {
  if (process.platform !== 'darwin') app.quit();
});

start().catch((error: unknown) => {
  logError(error);
  app.exit(1);
});
