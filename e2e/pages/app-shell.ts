// The shell around every screen: readiness, navigation, the active connection
// and the theme, plus screenshots of the current screen in both themes.
import path from 'node:path';
import { expect, type Locator, type Page } from '@playwright/test';
import { SCREENSHOT_DIR } from '../support/paths.js';

export type ScreenName = 'connections' | 'tables' | 'plan' | 'runs' | 'explorer' | 'sizes' | 'tracker';
export type ThemePreference = 'system' | 'light' | 'dark';

export class AppShell {
  readonly ready: Locator;
  readonly activeConnection: Locator;
  readonly themeToggle: Locator;

  constructor(readonly page: Page) {
    this.ready = page.getByTestId('app-ready');
    this.activeConnection = page.getByTestId('active-connection');
    this.themeToggle = page.getByTestId('theme-toggle');
  }

  /** Opens the app and waits until the backend answered `app.info`. */
  async open(url: string): Promise<void> {
    await this.page.goto(url);
    await this.waitReady();
  }

  async waitReady(): Promise<void> {
    await expect(this.ready).toBeVisible();
    await expect(this.page.getByTestId('app-error')).toHaveCount(0);
  }

  screen(name: ScreenName): Locator {
    return this.page.getByTestId(`screen-${name}`);
  }

  async go(name: ScreenName): Promise<void> {
    await this.page.getByTestId(`nav-${name}`).click();
    await expect(this.page.getByTestId(`nav-${name}`)).toHaveAttribute('aria-current', 'page');
    await expect(this.screen(name)).toBeVisible();
  }

  /** Clicks the theme toggle (it cycles system, light, dark) until `preference` is chosen. */
  async setTheme(preference: ThemePreference): Promise<void> {
    for (let i = 0; i < 3; i++) {
      if ((await this.themeToggle.getAttribute('data-theme-preference')) === preference) break;
      await this.themeToggle.click();
    }
    await expect(this.themeToggle).toHaveAttribute('data-theme-preference', preference);
    if (preference !== 'system') await expect(this.page.locator('html')).toHaveAttribute('data-theme', preference);
  }

  /**
   * Saves `<name>-<width>x<height>-light.png` and `-dark.png` of the window as
   * it is (and at each of `sizes`, the window resized for the picture and then
   * put back), then leaves the light theme on. Animations are frozen so the
   * two themes agree.
   */
  async screenshotBothThemes(name: string, sizes: { width: number; height: number }[] = []): Promise<void> {
    const own = this.page.viewportSize();
    for (const size of [own, ...sizes]) {
      if (size !== own && size) await this.page.setViewportSize(size);
      const suffix = size ? `-${size.width}x${size.height}` : '';
      for (const theme of ['light', 'dark'] as const) {
        await this.setTheme(theme);
        // No hover highlight on the toggle in the picture.
        await this.page.mouse.move(0, (size?.height ?? 600) - 1);
        await this.page.screenshot({
          path: path.join(SCREENSHOT_DIR, `${name}${suffix}-${theme}.png`),
          animations: 'disabled',
        });
      }
    }
    if (own && sizes.length > 0) await this.page.setViewportSize(own);
    await this.setTheme('light');
  }
}
