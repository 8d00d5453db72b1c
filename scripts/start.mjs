#!/usr/bin/env node
// `npm start`: the desktop app when an Electron binary is installed, otherwise
// (and with --web, which `npm run web` passes) the browser bridge. Builds first
// when dist/ is missing or older than the sources.
//
// The Electron binary is looked for without require('electron'): that call
// downloads the binary from GitHub when it is missing, which is not possible
// on machines that reach only the npm registry.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const web = process.argv.includes('--web');
const relative = (file) => path.relative(root, file) || '.';

const OUTPUTS = ['dist/main/main.mjs', 'dist/preload/preload.cjs', 'dist/bridge/main.mjs'];
const SOURCES = ['electron', 'shared', 'scripts/build.mjs', 'package.json'];
const RENDERER_SOURCES = ['renderer', 'vite.config.ts'];

function newestMtime(entry) {
  const full = path.join(root, entry);
  if (!existsSync(full)) return 0;
  const stat = statSync(full);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const name of readdirSync(full)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    if (/\.test\.tsx?$|\.testing\.ts$/.test(name)) continue; // tests do not change the app
    newest = Math.max(newest, newestMtime(path.join(entry, name)));
  }
  return newest;
}

/** Why a build is needed, or undefined when dist/ is current. */
function buildReason() {
  const outputs = [...OUTPUTS];
  const sources = [...SOURCES];
  if (existsSync(path.join(root, 'vite.config.ts'))) {
    outputs.push('dist/renderer/index.html');
    sources.push(...RENDERER_SOURCES);
  }
  const missing = outputs.find((file) => !existsSync(path.join(root, file)));
  if (missing) return `${missing} is missing`;
  const oldestOutput = Math.min(...outputs.map((file) => statSync(path.join(root, file)).mtimeMs));
  const newestSource = Math.max(...sources.map(newestMtime));
  if (newestSource > oldestOutput) return 'the sources changed since the last build';
  return undefined;
}

function build() {
  const reason = buildReason();
  if (!reason) return;
  console.log(`Building Partwise (${reason})...`);
  const result = spawnSync(process.execPath, [path.join(root, 'scripts', 'build.mjs')], {
    cwd: root,
    stdio: 'inherit',
  });
  if (result.status !== 0) {
    console.error('The build failed; see above. Nothing was started.');
    process.exit(result.status ?? 1);
  }
}

/** The Electron executable, or why it cannot be used. */
function findElectron() {
  const require = createRequire(import.meta.url);
  let packageDir;
  try {
    packageDir = path.dirname(require.resolve('electron/package.json'));
  } catch {
    return { reason: 'the electron package is not installed (run npm ci)' };
  }
  const pathFile = path.join(packageDir, 'path.txt');
  if (!existsSync(pathFile)) {
    return {
      reason:
        `the Electron binary is not installed (${relative(pathFile)} is missing; Electron downloads its ` +
        'binary on first use from GitHub, outside the npm registry)',
    };
  }
  const distDir = process.env.ELECTRON_OVERRIDE_DIST_PATH || path.join(packageDir, 'dist');
  const executable = path.join(distDir, readFileSync(pathFile, 'utf8').trim());
  if (!existsSync(executable)) return { reason: `the Electron binary ${relative(executable)} is missing` };
  if (process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY) {
    return { reason: 'there is no display (neither DISPLAY nor WAYLAND_DISPLAY is set)' };
  }
  return { executable };
}

function startElectron(executable) {
  console.log('Starting the Partwise desktop app; its window opens shortly.');
  const child = spawn(executable, [root], { cwd: root, stdio: 'inherit' });
  // A terminal's Ctrl+C reaches Electron through the process group; a plain kill of this script is passed on.
  process.on('SIGTERM', () => child.kill('SIGTERM'));
  process.on('SIGINT', () => undefined);
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

async function startBridge() {
  // In this process, so that Ctrl+C reaches the bridge's own handler once.
  await import(pathToFileURL(path.join(root, 'dist', 'bridge', 'main.mjs')).href);
}

build();
if (web) {
  await startBridge();
} else {
  const electron = findElectron();
  if (electron.executable) {
    startElectron(electron.executable);
  } else {
    console.log(`The desktop app cannot start here: ${electron.reason}.`);
    console.log('Starting the browser bridge instead (the same as npm run web).');
    await startBridge();
  }
}
