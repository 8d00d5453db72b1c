// Tables: the catalog list, one table's columns, and the run target queue.
import { expect, type Locator, type Page } from '@playwright/test';

export class TablesPage {
  readonly root: Locator;
  readonly list: Locator;
  readonly detail: Locator;
  readonly queue: Locator;

  constructor(readonly page: Page) {
    this.root = page.getByTestId('screen-tables');
    this.list = page.getByTestId('table-list');
    this.detail = page.getByTestId('table-detail');
    this.queue = page.getByTestId('target-queue');
  }

  /** A row of the list, by `schema.name`. */
  row(table: string): Locator {
    return this.list.locator(`[data-testid="table-row"][data-table="${table}"]`);
  }

  async refresh(): Promise<void> {
    await this.root.getByTestId('tables-refresh').click();
    await expect(this.root.getByTestId('tables-refresh')).toBeEnabled();
  }

  async open(table: string): Promise<void> {
    await this.row(table).click();
    await expect(this.detail).toHaveAttribute('data-table', table);
    await expect(this.detail.getByTestId('column-table')).toBeVisible();
  }

  column(name: string): Locator {
    return this.detail.locator(`[data-testid="column-row"][data-column="${name}"]`);
  }

  /** Chooses the key column and bucket limit of the open table and queues it. */
  async addTarget(keyColumn: string, bucketLimit: number): Promise<void> {
    await this.column(keyColumn).getByTestId('key-radio').check();
    await this.detail.getByTestId('bucket-limit').fill(String(bucketLimit));
    await this.detail.getByTestId('add-target').click();
    await expect(this.detail.getByTestId('target-added')).toBeVisible();
  }

  queued(table: string): Locator {
    return this.queue.locator(`[data-testid="target-item"][data-table="${table}"]`);
  }

  async goToPlan(): Promise<void> {
    await this.queue.getByTestId('go-plan').click();
  }
}
