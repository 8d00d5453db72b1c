// Tracker: partition_tracker rows, the table's configuration and maintenance.
import { expect, type Locator, type Page } from '@playwright/test';

export class TrackerPage {
  readonly root: Locator;
  readonly table: Locator;
  readonly count: Locator;
  readonly maintenance: Locator;
  readonly report: Locator;
  readonly workload: Locator;

  constructor(readonly page: Page) {
    this.root = page.getByTestId('screen-tracker');
    this.table = page.getByTestId('tracker-table');
    this.count = page.getByTestId('tracker-count');
    this.maintenance = page.getByTestId('maintenance-panel');
    this.report = page.getByTestId('maintenance-report');
    this.workload = page.getByTestId('live-workload');
  }

  rows(): Locator {
    return this.table.getByTestId('tracker-row');
  }

  row(key: string): Locator {
    return this.table.locator(`[data-testid="tracker-row"][data-key="${key}"]`);
  }

  async renderedKeys(): Promise<string[]> {
    return this.rows().evaluateAll((rows) => rows.map((row) => row.getAttribute('data-key') ?? ''));
  }

  /** Reads the statements on the managed table (pg_stat_statements, each planned now). */
  async readWorkload(): Promise<void> {
    await this.workload.getByTestId('live-workload-read').click();
    await expect(this.workload.getByTestId('workload-statements')).toBeVisible({ timeout: 60_000 });
  }

  /** Runs maintenance with "create buckets ahead" at `aheadPercent`, and waits for its report. */
  async runMaintenance(aheadPercent: number): Promise<void> {
    await this.maintenance.getByTestId('maintenance-ahead').check();
    await this.maintenance.getByTestId('maintenance-ahead-percent').fill(String(aheadPercent));
    await this.maintenance.getByTestId('maintenance-run').click();
    await expect(this.report).toBeVisible({ timeout: 60_000 });
    await expect(this.maintenance.getByTestId('maintenance-error')).toHaveCount(0);
  }

  findings(kind?: string): Locator {
    const rows = this.report.getByTestId('finding-row');
    return kind ? this.report.locator(`[data-testid="finding-row"][data-kind="${kind}"]`) : rows;
  }
}
