// Where the suite finds the built app and keeps what it produces.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const RENDERER_DIR = path.join(ROOT, 'dist', 'renderer');
export const BRIDGE_BUNDLE = path.join(ROOT, 'dist', 'bridge', 'main.mjs');
export const ELECTRON_MAIN_BUNDLE = path.join(ROOT, 'dist', 'main', 'main.mjs');
/** Git-ignored: screenshots of every screen, light and dark, for people to look at. */
export const SCREENSHOT_DIR = path.join(ROOT, 'e2e', 'screenshots');
