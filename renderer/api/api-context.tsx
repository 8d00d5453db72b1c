// The PartwiseApi for the component tree: the real transport in the app, a
// fake one in component tests.
import { createContext, useContext, type ReactNode } from 'react';
import type { PartwiseApi } from '../../shared/contract';

const ApiContext = createContext<PartwiseApi | null>(null);

export function ApiProvider({ api, children }: { api: PartwiseApi; children: ReactNode }) {
  return <ApiContext.Provider value={api}>{children}</ApiContext.Provider>;
}

export function useApi(): PartwiseApi {
  const api = useContext(ApiContext);
  if (!api) throw new Error('useApi() outside <ApiProvider>');
  return api;
}
