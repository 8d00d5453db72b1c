// A browser bridge for one test: the backend of the app in this process, a
// fresh data directory (no saved profiles), the built renderer, and no Sandbox
// unless asked for. Unexpected backend errors (kind `internal`) are collected
// so that the test can fail on them.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startBridge, type Bridge } from '../../electron/bridge/server.js';
import { RENDERER_DIR } from './paths.js';

export interface TestBridge {
  bridge: Bridge;
  dataDir: string;
  internalErrors: string[];
  close(): Promise<void>;
}

/** A temp directory the embedded PostgreSQL (the `postgres` OS user when this process is root) can traverse. */
export async function makeDataDir(prefix: string): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  await fs.chmod(dir, 0o711);
  return dir;
}

export async function startTestBridge(): Promise<TestBridge> {
  const dataDir = await makeDataDir('partwise-e2e-bridge-');
  const internalErrors: string[] = [];
  const bridge = await startBridge({
    dataDir,
    rendererDir: RENDERER_DIR,
    sandbox: false,
    onError: (error) => internalErrors.push(error instanceof Error ? (error.stack ?? error.message) : String(error)),
  });
  return {
    bridge,
    dataDir,
    internalErrors,
    async close() {
      await bridge.close();
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}
