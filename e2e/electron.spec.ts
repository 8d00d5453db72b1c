// The same journey in the desktop app: the Electron main process from the
// build (dist/main/main.mjs), its preload and IPC instead of the bridge. Where
// no Electron binary can run, the test is reported as skipped with the reason
// in its title: it never counts as passed.
import fs from 'node:fs/promises';
import { _electron as electron } from '@playwright/test';
import { migrationJourney } from './flows/migration-journey.js';
import { PartwiseApp } from './pages/app.js';
import { makeDataDir } from './support/bridge.js';
import { findElectronBinary } from './support/electron-binary.js';
import { expect, test, watchPage } from './support/fixtures.js';
import { ELECTRON_MAIN_BUNDLE, ROOT } from './support/paths.js';

const binary = findElectronBinary();
const JOURNEY =
  'the Electron journey: connection, plan, migration, explorer, sizes, tracker, rollback, migration, finalize';
const NOT_RUN = binary.reason?.startsWith('Electron binary not installed')
  ? 'Electron binary not installed: the Electron journey was not run'
  : `Electron cannot start here (${binary.reason}): the Electron journey was not run`;

test.describe('desktop app', () => {
  test.skip(!binary.executable, binary.reason ?? '');

  test(binary.executable ? JOURNEY : NOT_RUN, async ({ db }) => {
    test.setTimeout(300_000);
    const dataDir = await makeDataDir('partwise-e2e-electron-');
    // Chromium refuses to run as root with its OS sandbox; the window's own sandbox option still applies.
    const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
    const app = await electron.launch({
      executablePath: binary.executable!,
      args: [ELECTRON_MAIN_BUNDLE, ...(asRoot ? ['--no-sandbox'] : [])],
      cwd: ROOT,
      // PARTWISE_DATA_DIR keeps profiles, secrets and the Sandbox of this run out of the user's own.
      env: { ...process.env, PARTWISE_DATA_DIR: dataDir },
    });
    try {
      const window = await app.firstWindow();
      const problems = watchPage(window);
      const partwise = new PartwiseApp(window);
      await partwise.shell.waitReady();
      await expect(partwise.shell.ready).toHaveAttribute('data-shell', 'electron');
      await migrationJourney(partwise, db, { screenshotPrefix: 'electron-', readClipboard: false, runsSizes: [] });
      expect(problems, 'errors in the window').toEqual([]);
    } finally {
      await app.close();
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  });
});
