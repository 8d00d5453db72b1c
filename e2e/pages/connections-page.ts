// Connections: the Sandbox card, saved profiles and the add/edit form.
import { expect, type Locator, type Page } from '@playwright/test';

export interface ConnectionFields {
  name: string;
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
}

export class ConnectionsPage {
  readonly root: Locator;
  readonly form: Locator;
  readonly testResult: Locator;
  readonly sandbox: Locator;

  constructor(readonly page: Page) {
    this.root = page.getByTestId('screen-connections');
    this.form = page.getByTestId('connection-form');
    this.testResult = this.form.getByTestId('connection-test-result');
    this.sandbox = page.getByTestId('sandbox-entry');
  }

  row(name: string): Locator {
    return this.root.locator(`[data-testid="connection-row"][data-connection-name="${name}"]`);
  }

  async openNewForm(): Promise<void> {
    await this.root.getByTestId('connection-add').click();
    await expect(this.form).toBeVisible();
  }

  async fill(fields: ConnectionFields): Promise<void> {
    await this.form.getByTestId('connection-name').fill(fields.name);
    await this.form.getByTestId('connection-host').fill(fields.host);
    await this.form.getByTestId('connection-port').fill(String(fields.port));
    await this.form.getByTestId('connection-database').fill(fields.database);
    await this.form.getByTestId('connection-user').fill(fields.user);
    await this.form.getByTestId('connection-password').fill(fields.password);
  }

  /** Tests the draft in the form; returns the result notice once it shows. */
  async testDraft(): Promise<Locator> {
    await this.form.getByTestId('connection-test').click();
    await expect(this.testResult).toBeVisible();
    return this.testResult;
  }

  async save(): Promise<void> {
    await this.form.getByTestId('connection-save').click();
    await expect(this.form).toBeHidden();
  }

  /** Makes a saved connection active; the app moves on to Tables. */
  async use(name: string): Promise<void> {
    await this.row(name).getByTestId('connection-use').click();
  }

  /** Starts (or opens) the Sandbox; the app moves on to Tables when it is up. */
  async startSandbox(): Promise<void> {
    await this.sandbox.getByTestId('sandbox-start').click();
  }
}
