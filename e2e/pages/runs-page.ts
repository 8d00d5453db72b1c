// Runs: the monitor of the followed run and the history with its actions.
import { expect, type Locator, type Page } from '@playwright/test';

export class RunsPage {
  readonly root: Locator;
  readonly monitor: Locator;
  readonly history: Locator;

  constructor(readonly page: Page) {
    this.root = page.getByTestId('screen-runs');
    this.monitor = page.getByTestId('run-monitor');
    this.history = page.getByTestId('run-history');
  }

  target(table: string): Locator {
    return this.monitor.locator(`[data-testid="run-target"][data-table="${table}"]`);
  }

  step(table: string, phase: string): Locator {
    return this.target(table).getByTestId('phase-stepper').locator(`li[data-phase="${phase}"]`);
  }

  historyRow(runId: number): Locator {
    return this.history.locator(`[data-testid="run-row"][data-run-id="${runId}"]`);
  }

  async monitoredRunId(): Promise<number> {
    await expect(this.monitor).toBeVisible();
    return Number(await this.monitor.getAttribute('data-run-id'));
  }

  /** Waits for the followed run to end, and returns its status. */
  async waitFinished(timeout = 120_000): Promise<string> {
    await expect(this.monitor).not.toHaveAttribute('data-status', 'running', { timeout });
    return (await this.monitor.getAttribute('data-status'))!;
  }

  async refresh(): Promise<void> {
    await this.root.getByTestId('runs-refresh').click();
    await expect(this.root.getByTestId('runs-refresh')).toBeEnabled();
  }

  async rollBack(runId: number): Promise<void> {
    await this.historyRow(runId).getByTestId('run-rollback').click();
    const dialog = this.page.getByTestId('run-rollback-dialog');
    await expect(dialog).toBeVisible();
    await dialog.getByTestId('confirm-accept').click();
    await expect(dialog).toBeHidden();
  }
}
