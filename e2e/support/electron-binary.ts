// The Electron executable, found without require('electron'): that call tries
// to download the binary from GitHub when it is missing, which machines that
// reach only the npm registry cannot do.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

export type ElectronBinary = { executable: string; reason?: undefined } | { executable?: undefined; reason: string };

export function findElectronBinary(): ElectronBinary {
  let packageDir: string;
  try {
    packageDir = path.dirname(createRequire(import.meta.url).resolve('electron/package.json'));
  } catch {
    return { reason: 'Electron binary not installed (the electron package is missing; run npm ci)' };
  }
  const pathFile = path.join(packageDir, 'path.txt');
  if (!existsSync(pathFile)) {
    return {
      reason: `Electron binary not installed (${path.join('node_modules', 'electron', 'path.txt')} is missing)`,
    };
  }
  const distDir = process.env.ELECTRON_OVERRIDE_DIST_PATH || path.join(packageDir, 'dist');
  const executable = path.join(distDir, readFileSync(pathFile, 'utf8').trim());
  if (!existsSync(executable)) return { reason: `Electron binary not installed (${executable} is missing)` };
  if (process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY) {
    return { reason: 'no display for Electron (DISPLAY and WAYLAND_DISPLAY are unset; run under xvfb-run)' };
  }
  return { executable };
}
