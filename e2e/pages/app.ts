// One object per screen, reached from the page the app runs in.
import type { Page } from '@playwright/test';
import { AppShell } from './app-shell.js';
import { ConnectionsPage } from './connections-page.js';
import { ExplorerPage } from './explorer-page.js';
import { PlanPage } from './plan-page.js';
import { RunsPage } from './runs-page.js';
import { SizesPage } from './sizes-page.js';
import { TablesPage } from './tables-page.js';
import { TrackerPage } from './tracker-page.js';

export class PartwiseApp {
  readonly shell: AppShell;
  readonly connections: ConnectionsPage;
  readonly tables: TablesPage;
  readonly plan: PlanPage;
  readonly runs: RunsPage;
  readonly explorer: ExplorerPage;
  readonly sizes: SizesPage;
  readonly tracker: TrackerPage;

  constructor(readonly page: Page) {
    this.shell = new AppShell(page);
    this.connections = new ConnectionsPage(page);
    this.tables = new TablesPage(page);
    this.plan = new PlanPage(page);
    this.runs = new RunsPage(page);
    this.explorer = new ExplorerPage(page);
    this.sizes = new SizesPage(page);
    this.tracker = new TrackerPage(page);
  }
}
