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

  /** Rolls a run back from its history row; the dialog closes once the rollback is under way. */
  async rollBack(runId: number): Promise<void> {
    await this.historyRow(runId).getByTestId('run-rollback').click();
    const dialog = this.page.getByTestId('run-rollback-dialog');
    await expect(dialog).toBeVisible();
    await dialog.getByTestId('confirm-accept').click();
    await expect(dialog).toBeHidden();
  }

  /** Finalizes a run from its history row, with the acknowledgement; the dialog must close on its own. */
  async finalize(runId: number): Promise<void> {
    await this.historyRow(runId).getByTestId('run-finalize').click();
    const dialog = this.page.getByTestId('run-finalize-dialog');
    await expect(dialog).toBeVisible();
    await expect(dialog.getByTestId('confirm-accept')).toBeDisabled();
    await dialog.getByTestId('confirm-acknowledge').check();
    await dialog.getByTestId('confirm-accept').click();
    await expect(dialog).toBeHidden();
    await expect(this.page.getByTestId('confirm-error')).toHaveCount(0);
  }

  /** Scrolls the monitor to the top of the screen (after an action further down moved it). */
  async showMonitor(): Promise<void> {
    await this.monitor.evaluate((element) => element.scrollIntoView({ block: 'start' }));
  }

  /** The time-per-phase table of the followed run. */
  get timings(): Locator {
    return this.monitor.getByTestId('run-timings');
  }

  /** Phases listed in the time-per-phase table, in order. */
  async timedPhases(): Promise<string[]> {
    return this.timings
      .getByTestId('run-timing')
      .evaluateAll((rows) => rows.map((row) => row.getAttribute('data-phase') ?? ''));
  }
}
