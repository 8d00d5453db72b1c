// @vitest-environment jsdom
import { act, fireEvent, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanup } from '@testing-library/react';
import type { AppInfo } from '../shared/contract';
import { App } from './App';
import { ApiError } from './api/transport';
import { renderWithApi, resetStores } from './testing/render';
import { useUi } from './state/ui';

beforeEach(resetStores);
afterEach(cleanup);

describe('App shell', () => {
  it('shows the ready marker only once app.info has answered', async () => {
    let answer!: (info: AppInfo) => void;
    renderWithApi(<App />, {
      handlers: { 'app.info': () => new Promise<AppInfo>((resolve) => (answer = resolve)) },
    });
    expect(screen.queryByTestId('app-ready')).toBeNull();
    await act(async () => answer({ version: '9.9.9', shell: 'electron', secretStorage: 'keychain' }));
    const ready = await screen.findByTestId('app-ready');
    expect(ready.textContent).toContain('9.9.9');
    expect(ready.dataset.shell).toBe('electron');
  });

  it('switches screens from the navigation and with Ctrl+1..7', async () => {
    renderWithApi(<App />);
    await screen.findByTestId('app-ready');
    expect(screen.getByTestId('screen-connections')).toBeTruthy();

    fireEvent.keyDown(window, { key: '2', ctrlKey: true });
    expect(await screen.findByTestId('screen-tables')).toBeTruthy();
    // No connection chosen yet: the screen says what to do.
    expect(screen.getByTestId('no-connection').textContent).toContain(
      'No connection selected: add one or start the Sandbox',
    );

    await userEvent.click(screen.getByTestId('nav-runs'));
    expect(await screen.findByTestId('screen-runs')).toBeTruthy();
    expect(screen.getByTestId('nav-runs').getAttribute('aria-current')).toBe('page');
    // The fake API reports the browser shell, where Alt+N is the shortcut browsers leave alone.
    expect(screen.getByTestId('nav-runs').getAttribute('title')).toMatch(/Runs \((Alt\+|⌥)4\)/);
    fireEvent.keyDown(window, { key: '5', code: 'Digit5', altKey: true });
    expect(await screen.findByTestId('screen-explorer')).toBeTruthy();
  });

  it('cycles the theme and puts it on the document', async () => {
    renderWithApi(<App />);
    const toggle = await screen.findByTestId('theme-toggle');
    expect(toggle.dataset.themePreference).toBe('system');
    await userEvent.click(toggle);
    expect(useUi.getState().theme).toBe('light');
    expect(document.documentElement.dataset.theme).toBe('light');
    await userEvent.click(toggle);
    expect(document.documentElement.dataset.theme).toBe('dark');
  });

  it('shows the error of an unreachable backend with its hint, and retries', async () => {
    let fail = true;
    const { api } = renderWithApi(<App />, {
      handlers: {
        'app.info': () => {
          if (fail)
            throw new ApiError({ kind: 'connection', message: 'The bridge is gone.', hint: 'Start npm run web.' });
          return { version: '1.0.0', shell: 'browser', secretStorage: 'session_only' };
        },
      },
    });
    const error = await screen.findByTestId('app-error');
    expect(within(error).getByTestId('error-message').textContent).toBe('The bridge is gone.');
    expect(within(error).getByTestId('error-hint').textContent).toBe('Start npm run web.');
    fail = false;
    await userEvent.click(within(error).getByTestId('retry'));
    await screen.findByTestId('app-ready');
    await waitFor(() => expect(screen.queryByTestId('app-error')).toBeNull());
    expect(api.callsOf('app.info').length).toBeGreaterThanOrEqual(2);
  });

  it('shows the active connection in the navigation', async () => {
    useUi.setState({ connectionId: 'c-prod' });
    renderWithApi(<App />);
    const badge = await screen.findByTestId('active-connection');
    await waitFor(() => expect(badge.textContent).toContain('orders-db (replica test)'));
    expect(badge.textContent).toContain('partwise@db-orders.internal:5432/orders');
  });
});
