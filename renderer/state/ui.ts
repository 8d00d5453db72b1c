// UI state that outlives a screen: where the user is, which connection and
// managed table they work with, and the theme. Persisted in localStorage so a
// reload (or the next launch) opens where the user left off.
import { create } from 'zustand';
import { createJSONStorage, persist } from 'zustand/middleware';

export const SCREENS = ['connections', 'tables', 'plan', 'runs', 'explorer', 'sizes', 'tracker'] as const;
export type Screen = (typeof SCREENS)[number];

export type ThemePreference = 'system' | 'light' | 'dark';

/** What the Explorer opens on, once: one key, or the buckets of one fill band (see `fillBand`). */
export interface ExplorerFocus {
  connectionId: string;
  configId: number;
  key?: string;
  band?: number;
}

interface UiState {
  screen: Screen;
  connectionId: string | null;
  /** The managed table (configId) chosen on Explorer, Sizes and Tracker, per connection. */
  managedTable: Record<string, number>;
  theme: ThemePreference;
  /** The run the monitor follows; null follows the latest one. */
  monitoredRunId: number | null;
  /** Set by another screen (Sizes) to open the Explorer on something; taken by the Explorer. */
  explorerFocus: ExplorerFocus | null;
  go(screen: Screen): void;
  selectConnection(id: string | null): void;
  selectManagedTable(connectionId: string, configId: number): void;
  setTheme(theme: ThemePreference): void;
  monitorRun(runId: number | null): void;
  /** Opens the Explorer on a managed table's key or fill band. */
  openInExplorer(focus: ExplorerFocus): void;
  clearExplorerFocus(): void;
}

export const useUi = create<UiState>()(
  persist(
    (set) => ({
      screen: 'connections',
      connectionId: null,
      managedTable: {},
      theme: 'system',
      monitoredRunId: null,
      explorerFocus: null,
      go: (screen) => set({ screen }),
      selectConnection: (connectionId) => set({ connectionId, monitoredRunId: null }),
      selectManagedTable: (connectionId, configId) =>
        set((state) => ({ managedTable: { ...state.managedTable, [connectionId]: configId } })),
      setTheme: (theme) => set({ theme }),
      monitorRun: (monitoredRunId) => set({ monitoredRunId }),
      openInExplorer: (focus) =>
        set((state) => ({
          explorerFocus: focus,
          managedTable: { ...state.managedTable, [focus.connectionId]: focus.configId },
          screen: 'explorer',
        })),
      clearExplorerFocus: () => set({ explorerFocus: null }),
    }),
    {
      name: 'partwise.ui',
      version: 1,
      storage: createJSONStorage(() => localStorage),
      partialize: (state) => ({
        screen: state.screen,
        connectionId: state.connectionId,
        managedTable: state.managedTable,
        theme: state.theme,
      }),
    },
  ),
);
