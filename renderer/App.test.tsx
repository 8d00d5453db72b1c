// @vitest-environment jsdom
import { act, fireEvent, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { cleanup } from '@testing-library/react';
import type { AppInfo } from '../shared/contract';
import { App } from './App';
import { ApiError } from './api/transport';
import { fakeLayout, renderWithApi, resetStores } from './testing/render';
import { useUi } from './state/ui';
import { tableSummaries } from './testing/fixtures';

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

  it('tells one story when the server goes away, marks what is stale, and recovers by itself', async () => {
    onTestFinished(fakeLayout());
    useUi.setState({ connectionId: 'c-local', screen: 'tables' });
    let down = false;
    const refused = () =>
      new ApiError({
        kind: 'connection',
        message: 'Nothing is listening on localhost:5433 (connection refused).',
        detail: 'connect ECONNREFUSED 127.0.0.1:5433',
      });
    const whenUp =
      <T,>(answer: () => T) =>
      () => {
        if (down) throw refused();
        return answer();
      };
    const { api } = renderWithApi(<App />, {
      handlers: {
        'connections.ping': whenUp(() => ({})),
        'tables.list': whenUp(() => tableSummaries()),
      },
    });
    const badge = await screen.findByTestId('active-connection');
    await screen.findAllByTestId('table-row');
    await waitFor(() => expect(badge.dataset.health).toBe('ok'));
    expect(screen.queryByTestId('connection-banner')).toBeNull();

    // The server stops; the next request (here a refresh) finds out.
    down = true;
    await userEvent.click(screen.getByTestId('tables-refresh'));
    const banner = await screen.findByTestId('connection-banner');
    expect(within(banner).getByTestId('connection-banner-title').textContent).toBe(
      'Server unreachable at localhost:5433, retrying…',
    );
    expect(within(banner).getByTestId('connection-banner-message').textContent).toBe(
      'Nothing is listening on localhost:5433 (connection refused).',
    );
    expect(within(banner).getByTestId('connection-banner-since').textContent).toMatch(
      /^Last answer at \d\d:\d\d:\d\d: what the screens show dates from then\.$/,
    );
    // The raw error is there, folded away.
    expect(within(banner).getByTestId('connection-banner-detail').textContent).toContain('ECONNREFUSED');
    expect(badge.dataset.health).toBe('unreachable');
    expect(within(badge).getByTestId('connection-health').textContent).toBe('unreachable, retrying…');
    // The list stays, dated; no empty state, no second error.
    expect(screen.getByTestId('stale-mark').textContent).toMatch(/^as of \d\d:\d\d:\d\d, not current$/);
    expect(screen.getAllByTestId('table-row').length).toBeGreaterThan(0);
    expect(screen.queryByTestId('tables-empty')).toBeNull();
    expect(screen.queryByTestId('error-state')).toBeNull();
    expect(document.querySelector('main')!.dataset.connection).toBe('unreachable');

    // Back: the heartbeat (here asked at once) sees it, and everything is fetched again.
    down = false;
    const listsBefore = api.callsOf('tables.list').length;
    await userEvent.click(within(banner).getByTestId('connection-retry'));
    await waitFor(() => expect(screen.queryByTestId('connection-banner')).toBeNull());
    expect(badge.dataset.health).toBe('ok');
    await waitFor(() => expect(api.callsOf('tables.list').length).toBeGreaterThan(listsBefore));
    await waitFor(() => expect(screen.queryByTestId('stale-mark')).toBeNull());
  });

  it('shows an unreachable server at once when the first request fails', async () => {
    useUi.setState({ connectionId: 'c-local', screen: 'explorer' });
    const refused = () => {
      throw new ApiError({
        kind: 'connection',
        message: 'Nothing is listening on localhost:5433 (connection refused).',
      });
    };
    renderWithApi(<App />, { handlers: { 'connections.ping': refused, 'managed.list': refused } });
    expect((await screen.findByTestId('connection-banner')).textContent).toContain(
      'Server unreachable at localhost:5433, retrying…',
    );
    expect((await screen.findByTestId('connection-banner-since')).textContent).toBe('No answer from this server yet.');
    expect(screen.getByTestId('active-connection').dataset.health).toBe('unreachable');
  });
});
