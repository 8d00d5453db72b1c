// Plan: the dry run of the queued targets and the confirmed start.
import { expect, type Locator, type Page } from '@playwright/test';

export class PlanPage {
  readonly root: Locator;
  readonly status: Locator;
  readonly start: Locator;
  readonly startDialog: Locator;

  constructor(readonly page: Page) {
    this.root = page.getByTestId('screen-plan');
    this.status = page.getByTestId('plan-status');
    this.start = page.getByTestId('start-migration');
    this.startDialog = page.getByTestId('start-dialog');
  }

  card(table: string): Locator {
    return this.root.locator(`[data-testid="plan-card"][data-table="${table}"]`);
  }

  /** Waits until the plan for every queued target is shown. */
  async waitPlanned(tables: string[]): Promise<void> {
    await expect(this.root.getByTestId('plan-loading')).toHaveCount(0);
    await expect(this.root.getByTestId('plan-error')).toHaveCount(0);
    for (const table of tables) await expect(this.card(table)).toBeVisible();
    await expect(this.status).toBeVisible();
  }

  issue(table: string, severity: 'blocker' | 'warning' | 'info', code: string): Locator {
    return this.card(table).locator(`[data-testid="plan-${severity}"][data-code="${code}"]`);
  }

  /** The statements on a table that do not filter by its key (pg_stat_statements), and the acceptance. */
  workload(table: string): Locator {
    return this.card(table).getByTestId('plan-workload');
  }

  /** A statement of the workload list, by its text. */
  statement(table: string, query: string): Locator {
    return this.workload(table).locator('[data-testid="workload-statement"]', { hasText: query });
  }

  /** A primary key, unique constraint or unique index in a table's plan, with how it stays enforced (data-enforcement). */
  uniqueKey(table: string, name: string): Locator {
    return this.card(table).locator(`[data-testid="unique-key"][data-name="${name}"]`);
  }

  /** Chooses whether a unique key stays unique across the whole table or per bucket; waits for the new plan. */
  async chooseUnique(table: string, name: string, enforcement: 'table' | 'bucket'): Promise<void> {
    const row = this.uniqueKey(table, name);
    // The switch's checkbox is drawn by its label; click what a user clicks.
    await row.getByTestId('unique-key-switch').locator('xpath=..').click();
    await expect(row).toHaveAttribute('data-enforcement', enforcement);
  }

  /** Takes a target out of the queue from the Plan screen's side panel. */
  async removeTarget(table: string): Promise<void> {
    await this.root.locator(`[data-testid="target-item"][data-table="${table}"]`).getByTestId('target-remove').click();
    await expect(this.card(table)).toHaveCount(0);
  }

  async openStartDialog(): Promise<void> {
    await expect(this.start).toBeEnabled();
    await this.start.click();
    await expect(this.startDialog).toBeVisible();
  }

  async confirmStart(): Promise<void> {
    await this.startDialog.getByTestId('confirm-accept').click();
    await expect(this.startDialog).toBeHidden();
  }
}
