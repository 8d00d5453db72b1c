// Which Chromium the suite drives. Playwright's own browser download is not
// reachable everywhere (it comes from a CDN outside the npm registry), so a
// system Chromium is the usual choice: PARTWISE_CHROMIUM names one
// explicitly; otherwise Playwright's downloaded browser if present, else the
// first of the usual system names on PATH.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { chromium } from '@playwright/test';

const SYSTEM_NAMES = ['chromium', 'chromium-browser', 'google-chrome-stable', 'google-chrome'];

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** The executable to launch, or undefined for Playwright's default (which may not be installed). */
export function chromiumExecutable(): string | undefined {
  const explicit = process.env.PARTWISE_CHROMIUM;
  if (explicit) return explicit;
  if (existsSync(chromium.executablePath())) return undefined;
  for (const name of SYSTEM_NAMES) {
    const found = onPath(name);
    if (found) return found;
  }
  return undefined;
}

/** Why no browser can be launched, or undefined when one can. */
export function missingChromiumReason(): string | undefined {
  const explicit = process.env.PARTWISE_CHROMIUM;
  if (explicit) return existsSync(explicit) ? undefined : `PARTWISE_CHROMIUM=${explicit} does not exist.`;
  if (chromiumExecutable() !== undefined || existsSync(chromium.executablePath())) return undefined;
  return (
    'No Chromium found for the end-to-end tests. Install one (Debian/Ubuntu: apt-get install chromium), ' +
    'or run `npx playwright install chromium`, or point PARTWISE_CHROMIUM at a Chromium or Chrome executable.'
  );
}
