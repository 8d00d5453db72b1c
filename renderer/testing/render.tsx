// Renders a component tree as the app does (API and query client providers)
// over a fake API, with the UI stores reset, for component tests.
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { configure, render, type RenderResult } from '@testing-library/react';
import type { ReactElement } from 'react';
import { ApiProvider } from '../api/api-context';
import { useHealthStore } from '../api/connection-health';
import { useRunProgress } from '../state/run-progress';
import { useTargets } from '../state/targets';
import { useUi } from '../state/ui';
import { createFakeApi, type FakeApi, type Handlers } from './fake-api';

// What a test waits for (findBy, waitFor) comes after a few renders of a
// whole screen in jsdom: milliseconds on an idle machine, seconds on one whose
// two cores other jobs keep busy (render tests timed out at a load average of
// 28). The wait ends as soon as the screen shows it; only a failure waits longer.
configure({ asyncUtilTimeout: 10_000 });

export function resetStores(): void {
  localStorage.clear();
  useUi.setState({
    screen: 'connections',
    connectionId: null,
    managedTable: {},
    theme: 'system',
    monitoredRunId: null,
    explorerFocus: null,
  });
  useTargets.setState({ byConnection: {} });
  useRunProgress.setState({ runs: {} });
  useHealthStore.setState({ byConnection: {} });
}

export function renderWithApi(
  ui: ReactElement,
  options: { api?: FakeApi; handlers?: Handlers } = {},
): RenderResult & { api: FakeApi; client: QueryClient } {
  const api = options.api ?? createFakeApi(options.handlers);
  const client = new QueryClient({
    defaultOptions: { queries: { retry: false, refetchOnWindowFocus: false }, mutations: { retry: false } },
  });
  const result = render(
    <ApiProvider api={api}>
      <QueryClientProvider client={client}>{ui}</QueryClientProvider>
    </ApiProvider>,
  );
  return { ...result, api, client };
}

/** jsdom does no layout: give scroll containers a size so virtualized lists render rows. */
export function fakeLayout(width = 1200, height = 600): () => void {
  const originals = {
    clientHeight: Object.getOwnPropertyDescriptor(HTMLElement.prototype, 'clientHeight'),
    clientWidth: Object.getOwnPropertyDescriptor(HTMLElement.prototype, 'clientWidth'),
  };
  Object.defineProperty(HTMLElement.prototype, 'clientHeight', { configurable: true, get: () => height });
  Object.defineProperty(HTMLElement.prototype, 'clientWidth', { configurable: true, get: () => width });
  return () => {
    if (originals.clientHeight) Object.defineProperty(HTMLElement.prototype, 'clientHeight', originals.clientHeight);
    if (originals.clientWidth) Object.defineProperty(HTMLElement.prototype, 'clientWidth', originals.clientWidth);
  };
}
