// Explorer: the virtualized partition tree of a managed table.
import { expect, type Locator, type Page } from '@playwright/test';

export class ExplorerPage {
  readonly root: Locator;
  readonly tree: Locator;
  readonly totals: Locator;
  readonly search: Locator;

  constructor(readonly page: Page) {
    this.root = page.getByTestId('screen-explorer');
    this.tree = page.getByTestId('partition-tree');
    this.totals = page.getByTestId('tree-totals');
    this.search = page.getByTestId('tree-search');
  }

  async waitLoaded(): Promise<void> {
    await expect(this.tree).toBeVisible();
    await expect(this.root.getByTestId('tree-loading')).toHaveCount(0);
  }

  /** The total size, once the leaves are measured (they fill in after the tree). */
  totalSize(): Locator {
    return this.root.getByTestId('tree-total-size').locator('strong');
  }

  /** Rendered level-1 rows (the tree renders only the rows in view). */
  partitions(): Locator {
    return this.tree.locator('[data-testid="tree-row"][data-kind="partition"]');
  }

  partition(key: string): Locator {
    return this.tree.locator(`[data-testid="tree-row"][data-kind="partition"][data-key="${key}"]`);
  }

  buckets(key: string): Locator {
    return this.tree.locator(`[data-testid="tree-row"][data-kind="bucket"][data-key="${key}"]`);
  }

  async renderedKeys(): Promise<string[]> {
    return this.partitions().evaluateAll((rows) => rows.map((row) => row.getAttribute('data-key') ?? ''));
  }

  async expand(key: string): Promise<void> {
    await this.partition(key).click();
    await expect(this.partition(key)).toHaveAttribute('aria-expanded', 'true');
  }

  async searchFor(text: string): Promise<void> {
    await this.search.fill(text);
    await expect(this.root.getByTestId('tree-matches')).toBeVisible();
  }

  async refresh(): Promise<void> {
    await this.root.getByTestId('tree-refresh').click();
    await expect(this.root.getByTestId('tree-refresh')).toBeEnabled();
  }

  /** Ticks a key's checkbox (the key must be in view: search for it first). */
  async select(key: string): Promise<void> {
    await this.partition(key).getByTestId('tree-select').check();
  }

  /** Opens the confirmation of an action on the selected keys, and waits for its plan. */
  async openKeyAction(action: string): Promise<Locator> {
    await this.root.getByTestId(`key-action-${action}`).click();
    const dialog = this.page.getByTestId('key-action-dialog');
    await expect(dialog).toBeVisible();
    await expect(dialog.getByTestId('key-plan').first()).toBeVisible();
    return dialog;
  }
}
