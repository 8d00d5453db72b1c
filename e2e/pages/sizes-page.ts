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

  /** The bars of the largest level-1 partitions, largest first; each carries its key in `data-key`. */
  largestBars(): Locator {
    return this.largest.getByTestId('largest-bar');
  }

  /** The bar of one fill band (0 is 0-10%, 9 is 90-100%, 10 over-full); absent when the band is empty. */
  bandBar(band: number): Locator {
    return this.fill.locator(`[data-testid="fill-bar-band"][data-band="${band}"]`);
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
