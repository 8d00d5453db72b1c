// Before any test: the built app must exist, a browser must be launchable,
// and the suite's PostgreSQL is started and seeded. Returns the teardown.
import fs from 'node:fs/promises';
import { missingBuildOutputs, staleBuildWarning } from './support/build-check.js';
import { missingChromiumReason } from './support/chromium.js';
import { SCREENSHOT_DIR } from './support/paths.js';
import { publishE2ePostgres, startE2ePostgres } from './support/postgres.js';

export default async function globalSetup(): Promise<() => Promise<void>> {
  const missing = missingBuildOutputs();
  if (missing.length > 0) {
    throw new Error(
      `The end-to-end tests run the built app, and ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} ` +
        'missing. Run `npm run build` first (`npm test` builds before it runs them).',
    );
  }
  const stale = staleBuildWarning();
  if (stale) console.warn(stale);
  const noBrowser = missingChromiumReason();
  if (noBrowser) throw new Error(noBrowser);

  await fs.mkdir(SCREENSHOT_DIR, { recursive: true });
  const started = Date.now();
  const postgres = await startE2ePostgres();
  publishE2ePostgres(postgres.server);
  console.log(
    `PostgreSQL ${postgres.server.major} for the end-to-end tests on ${postgres.server.host}:${postgres.server.port}, ` +
      `seeded in ${((Date.now() - started) / 1000).toFixed(1)} s.`,
  );
  return () => postgres.stop();
}
