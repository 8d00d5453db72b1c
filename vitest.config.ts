import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          sequence: { groupOrder: 0 },
          include: [
            'shared/**/*.test.ts',
            'electron/**/*.unit.test.ts',
            'renderer/**/*.test.{ts,tsx}',
            'eslint-layers.test.ts',
          ],
          environment: 'node',
          // Render tests click through whole screens in jsdom: see renderer/testing/render.tsx.
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'db',
          // Run after the unit project, with its own worker count.
          sequence: { groupOrder: 1 },
          include: ['electron/**/*.db.test.ts'],
          globalSetup: ['electron/testing/global-setup.ts'],
          setupFiles: ['electron/testing/children.setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          // Tests share one cluster; a few files at a time keep two cores busy
          // without starving the server.
          maxWorkers: 3,
          fileParallelism: true,
        },
      },
    ],
  },
});
