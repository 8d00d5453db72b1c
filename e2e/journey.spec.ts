// The whole user journey in Chromium through the browser bridge, against a
// fresh copy of the seeded database.
import { migrationJourney } from './flows/migration-journey.js';
import { test } from './support/fixtures.js';

// The window size of the pictures a DBA looks at; the Runs screen is also pictured at 1024x700.
test.use({ permissions: ['clipboard-read', 'clipboard-write'], viewport: { width: 1440, height: 900 } });

test('from a new connection to a migrated table, explored, maintained, rolled back, migrated again and finalized', async ({
  app,
  db,
}) => {
  test.setTimeout(300_000);
  await migrationJourney(app, db, {
    screenshotPrefix: '',
    readClipboard: true,
    runsSizes: [{ width: 1024, height: 700 }],
  });
});
