// Sizes: the three charts of a managed table.
import { expect, type Locator, type Page } from '@playwright/test';

export class SizesPage {
  readonly root: Locator;
  readonly largest: Locator;
  readonly fill: Locator;
  readonly split: Locator;

  constructor(readonly page: Page) {
    this.root = page.getByTestId('screen-sizes');
    this.largest = page.getByTestId('chart-largest');
    this.fill = page.getByTestId('chart-fill');
    this.split = page.getByTestId('chart-split');
  }

  /** The drawn bars of a bar chart (recharts draws one path per bar with a non-zero value). */
  bars(chart: Locator): Locator {
    return chart.locator('svg .recharts-bar-rectangle path');
  }

  sectors(chart: Locator): Locator {
    return chart.locator('svg .recharts-pie-sector path');
  }

  splitRow(part: 'table' | 'indexes' | 'toast'): Locator {
    return this.root.getByTestId('size-split').locator(`tr[data-part="${part}"]`);
  }

  async waitLoaded(): Promise<void> {
    await expect(this.largest).toBeVisible();
    await expect(this.bars(this.largest).first()).toBeVisible();
  }
}
