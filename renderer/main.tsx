// Entry point: the transport, the query client, the one run-event
// subscription, and the app.
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { z } from 'zod';
import { createApi } from './api/transport';
import { ApiProvider } from './api/api-context';
import { isTransient } from './api/errors';
import { invalidateAfterRun, invalidateRuns } from './api/queries';
import { connectRunEvents } from './api/run-events';
import { useRunProgress } from './state/run-progress';
// The tokens, shell and shared rules first: each screen's and component's own stylesheet, imported
// by its module, comes after them and may refine them.
import './styles.css';
import { App } from './App';

// zod would probe `new Function` to speed up parsing; the CSP forbids eval.
z.config({ jitless: true });

const api = createApi();

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      // Catalog queries can be expensive on big databases: refresh on request, not on every focus.
      refetchOnWindowFocus: false,
      staleTime: 15_000,
      retry: (failures, error) => isTransient(error) && failures < 2,
    },
    mutations: { retry: false },
  },
});

connectRunEvents(api, {
  ingest: (events) => useRunProgress.getState().ingest(events),
  onFinished: (event) => void invalidateAfterRun(queryClient, event.connectionId),
  // The history shows each run's phase from the journal: read it again as phases change.
  onPhase: (connectionId) => void invalidateRuns(queryClient, connectionId),
});

const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root');
createRoot(root).render(
  <StrictMode>
    <ApiProvider api={api}>
      <QueryClientProvider client={queryClient}>
        <App />
      </QueryClientProvider>
    </ApiProvider>
  </StrictMode>,
);
