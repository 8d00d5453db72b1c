#!/usr/bin/env node
// `npm run screenshots`: refreshes the README's pictures from the end-to-end
// suite's own screenshots (e2e/screenshots, written by the journey and the
// screens specs against a real server), so that the README shows the screens
// as they are. Run the suite first: `npm run build && npx playwright test
// e2e/journey.spec.ts e2e/screens.spec.ts`.
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const from = path.join(root, 'e2e', 'screenshots');
const to = path.join(root, 'docs', 'screenshots');

/** README name <- e2e screenshot. */
const PICTURES = {
  'tables.png': 'screens-1440-tables-managed-1440x900-light.png',
  'plan.png': '04-plan-1440x900-dark.png',
  'runs-running.png': '13-runs-running-1440x900-dark.png',
  'runs-finalized.png': '14-runs-finalized-1440x900-light.png',
  'explorer.png': '07-explorer-1440x900-light.png',
  'sizes.png': '08-sizes-1440x900-light.png',
  'tracker.png': 'screens-1440-tracker-1440x900-light.png',
};

const missing = Object.values(PICTURES).filter((file) => !existsSync(path.join(from, file)));
if (missing.length > 0) {
  console.error(`Missing in e2e/screenshots (run the end-to-end suite first): ${missing.join(', ')}`);
  process.exit(1);
}
mkdirSync(to, { recursive: true });
for (const [name, file] of Object.entries(PICTURES)) {
  copyFileSync(path.join(from, file), path.join(to, name));
  console.log(`docs/screenshots/${name} <- e2e/screenshots/${file}`);
}
