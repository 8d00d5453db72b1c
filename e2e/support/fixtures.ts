// Test fixtures: a fresh database (a copy of the seeded template), a bridge
// with a fresh data directory, and the app opened in the browser. A test fails
// if the page threw, logged an error, or the backend hit an unexpected error:
// those are bugs even when every assertion held.
import { test as base, expect, type Page } from '@playwright/test';
import { PartwiseApp } from '../pages/app.js';
import { startTestBridge, type TestBridge } from './bridge.js';
import { createTestDatabase, type TestDatabase } from './postgres.js';

interface Fixtures {
  db: TestDatabase;
  bridge: TestBridge;
  app: PartwiseApp;
}

export function watchPage(page: Page): string[] {
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.stack ?? error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
  });
  return problems;
}

export const test = base.extend<Fixtures>({
  // eslint-disable-next-line no-empty-pattern
  db: async ({}, use) => {
    const db = await createTestDatabase();
    try {
      await use(db);
    } finally {
      await db.drop();
    }
  },
  // eslint-disable-next-line no-empty-pattern
  bridge: async ({}, use) => {
    const bridge = await startTestBridge();
    try {
      await use(bridge);
    } finally {
      await bridge.close();
    }
    expect(bridge.internalErrors, 'unexpected backend errors').toEqual([]);
  },
  app: async ({ page, bridge }, use) => {
    const problems = watchPage(page);
    const app = new PartwiseApp(page);
    await app.shell.open(bridge.bridge.url);
    await use(app);
    expect(problems, 'errors in the browser').toEqual([]);
  },
});

export { expect };
