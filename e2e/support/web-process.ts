// `npm run web` as a user runs it: the built bridge (dist/bridge/main.mjs) in a
// process of its own, with its own data directory and the Sandbox enabled.
// Stopped with SIGTERM, as Ctrl+C would: it closes its pools and stops the
// Sandbox's PostgreSQL before it exits.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import { makeDataDir } from './bridge.js';
import { BRIDGE_BUNDLE, ROOT } from './paths.js';

export interface WebProcess {
  url: string;
  dataDir: string;
  /** Everything the process printed, for the report of a failing test. */
  output(): string;
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 60_000;

function exited(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

export async function startWebProcess(): Promise<WebProcess> {
  const dataDir = await makeDataDir('partwise-e2e-web-');
  const child = spawn(process.execPath, [BRIDGE_BUNDLE], {
    cwd: ROOT,
    env: { ...process.env, PARTWISE_DATA_DIR: dataDir, PARTWISE_PORT: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));

  const stop = async () => {
    child.kill('SIGTERM');
    if (!(await exited(child, STOP_TIMEOUT_MS))) {
      child.kill('SIGKILL');
      await exited(child, 5_000);
      throw new Error(`npm run web did not stop within ${STOP_TIMEOUT_MS / 1000} s of SIGTERM:\n${output}`);
    }
    await fs.rm(dataDir, { recursive: true, force: true });
  };

  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`npm run web printed no address in time:\n${output}`)),
      START_TIMEOUT_MS,
    );
    const look = () => {
      const match = /Partwise is running at (\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stdout!.on('data', look);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`npm run web exited with ${code} before it was ready:\n${output}`));
    });
  }).catch(async (error: unknown) => {
    await stop().catch(() => undefined);
    throw error;
  });

  return { url, dataDir, output: () => output, stop };
}
