// The whole user journey in Chromium through the browser bridge, against a
// fresh copy of the seeded database.
import { migrationJourney } from './flows/migration-journey.js';
import { test } from './support/fixtures.js';

test.use({ permissions: ['clipboard-read', 'clipboard-write'] });

test('from a new connection to a migrated table, explored, maintained and rolled back', async ({ app, db }) => {
  await migrationJourney(app, db, { screenshotPrefix: '', readClipboard: true });
});
