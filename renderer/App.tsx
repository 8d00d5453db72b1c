// The application shell: left navigation with the active connection, the
// theme, the screen shortcuts, and the current screen.
import { useEffect, useRef, type ReactElement } from 'react';
import { useActiveConnection } from './api/active-connection';
import { useHealthState, useHeartbeat, useWatchConnectionHealth, type HealthState } from './api/connection-health';
import { useAppInfo } from './api/queries';
import { Icon, type IconName } from './components/Icon';
import { ConnectionBanner } from './components/ConnectionStatus';
import { ProductionBand } from './components/ProductionBand';
import { ErrorState } from './components/StateViews';
import { nextThemePreference, useApplyTheme, useResolvedTheme } from './lib/theme';
import { screenForShortcut, shortcutLabel } from './lib/shortcuts';
import { SCREENS, useUi, type Screen, type ThemePreference } from './state/ui';
import { ConnectionsScreen } from './screens/connections/ConnectionsScreen';
import { TablesScreen } from './screens/tables/TablesScreen';
import { PlanScreen } from './screens/plan/PlanScreen';
import { RunsScreen } from './screens/runs/RunsScreen';
import { ExplorerScreen } from './screens/explorer/ExplorerScreen';
import { TrackerScreen } from './screens/tracker/TrackerScreen';
import { loadSizesCharts, SizesScreen } from './screens/sizes/SizesScreen';

/** Code kept out of the first load (the Sizes charts, with recharts) is fetched once the app is idle. */
function usePrefetchWhenIdle(load: () => Promise<unknown>) {
  useEffect(() => {
    if (typeof window.requestIdleCallback !== 'function') return;
    const handle = window.requestIdleCallback(() => void load().catch(() => undefined), { timeout: 3_000 });
    return () => window.cancelIdleCallback(handle);
  }, [load]);
}

const NAV: Record<Screen, { label: string; icon: IconName }> = {
  connections: { label: 'Connections', icon: 'connections' },
  tables: { label: 'Tables', icon: 'tables' },
  plan: { label: 'Plan', icon: 'plan' },
  runs: { label: 'Runs', icon: 'runs' },
  explorer: { label: 'Explorer', icon: 'explorer' },
  sizes: { label: 'Sizes', icon: 'sizes' },
  tracker: { label: 'Tracker', icon: 'tracker' },
};

const SCREEN_VIEWS: Record<Screen, () => ReactElement> = {
  connections: () => <ConnectionsScreen />,
  tables: () => <TablesScreen />,
  plan: () => <PlanScreen />,
  runs: () => <RunsScreen />,
  explorer: () => <ExplorerScreen />,
  sizes: () => <SizesScreen />,
  tracker: () => <TrackerScreen />,
};

const THEME_LABEL: Record<ThemePreference, string> = {
  system: 'System theme',
  light: 'Light theme',
  dark: 'Dark theme',
};
const THEME_ICON: Record<ThemePreference, IconName> = { system: 'system', light: 'sun', dark: 'moon' };

const HEALTH_TEXT: Record<HealthState, string> = {
  unknown: 'connecting…',
  ok: 'connected',
  unreachable: 'unreachable, retrying…',
};

function ActiveConnectionBadge() {
  const active = useActiveConnection();
  const health = useHealthState(active.id);
  const go = useUi((state) => state.go);
  const profile = active.profile;
  const state = profile ? health.state : 'none';
  const refused = health.refused;
  return (
    <button
      type="button"
      className="active-connection"
      onClick={() => go('connections')}
      data-testid="active-connection"
      data-connection-id={profile?.id ?? ''}
      data-health={state}
      title={
        profile
          ? `${profile.name}: ${refused ? 'login refused' : HEALTH_TEXT[health.state]}. Click to change the connection.`
          : 'Choose a connection'
      }
    >
      <span className={`status-dot ${state}`} aria-hidden="true" />
      <span className="active-connection-text">
        <span className="active-connection-name">{profile ? profile.name : 'No connection'}</span>
        <span className="active-connection-target">
          {profile
            ? `${profile.user}@${profile.host}:${profile.port}/${profile.database}`
            : active.pending
              ? 'Loading…'
              : 'Select or add one'}
        </span>
        {profile && (
          <span className={`active-connection-health ${state}`} data-testid="connection-health">
            {refused ? 'login refused' : HEALTH_TEXT[health.state]}
          </span>
        )}
      </span>
    </button>
  );
}

/** Watches the active connection's server: every query's outcome and a heartbeat. */
function ConnectionWatch() {
  const active = useActiveConnection();
  useWatchConnectionHealth();
  useHeartbeat(active.profile ? active.id : null);
  return null;
}

export function App() {
  const screen = useUi((state) => state.screen);
  const go = useUi((state) => state.go);
  const themePreference = useUi((state) => state.theme);
  const setTheme = useUi((state) => state.setTheme);
  const theme = useResolvedTheme(themePreference);
  useApplyTheme(theme);
  const appInfo = useAppInfo();
  const active = useActiveConnection();
  const health = useHealthState(active.profile ? active.id : null);
  const inBrowser = appInfo.data?.shell === 'browser';
  const mainRef = useRef<HTMLElement>(null);
  const firstScreen = useRef(true);
  usePrefetchWhenIdle(loadSizesCharts);

  useEffect(() => {
    const onKeyDown = (event: KeyboardEvent) => {
      const target = screenForShortcut(event);
      if (!target) return;
      event.preventDefault();
      go(target);
    };
    window.addEventListener('keydown', onKeyDown);
    return () => window.removeEventListener('keydown', onKeyDown);
  }, [go]);

  // After a change of screen, keyboard users continue from its heading.
  useEffect(() => {
    if (firstScreen.current) {
      firstScreen.current = false;
      return;
    }
    mainRef.current?.querySelector<HTMLElement>('.screen-title')?.focus();
  }, [screen]);

  return (
    <div className="app" data-theme-resolved={theme}>
      <nav className="sidebar" aria-label="Screens">
        <div className="brand">
          <svg className="brand-mark" viewBox="0 0 24 24" width="22" height="22" aria-hidden="true">
            <rect x="2" y="3" width="20" height="5" rx="1.5" />
            <rect x="2" y="10" width="9" height="5" rx="1.5" />
            <rect x="13" y="10" width="9" height="5" rx="1.5" />
            <rect x="2" y="17" width="5.5" height="4" rx="1" />
            <rect x="9.25" y="17" width="5.5" height="4" rx="1" />
            <rect x="16.5" y="17" width="5.5" height="4" rx="1" />
          </svg>
          <span className="brand-name">Partwise</span>
        </div>
        <ActiveConnectionBadge />
        <ul className="nav-list">
          {SCREENS.map((id) => (
            <li key={id}>
              <button
                type="button"
                className={id === screen ? 'nav-item active' : 'nav-item'}
                aria-current={id === screen ? 'page' : undefined}
                onClick={() => go(id)}
                title={`${NAV[id].label} (${shortcutLabel(id, inBrowser)})`}
                data-testid={`nav-${id}`}
              >
                <Icon name={NAV[id].icon} />
                <span className="nav-label">{NAV[id].label}</span>
                <kbd className="nav-shortcut">{shortcutLabel(id, inBrowser)}</kbd>
              </button>
            </li>
          ))}
        </ul>
        <div className="sidebar-footer">
          <button
            type="button"
            className="btn btn-ghost theme-toggle"
            onClick={() => setTheme(nextThemePreference[themePreference])}
            title={`${THEME_LABEL[themePreference]}: click for ${THEME_LABEL[nextThemePreference[themePreference]].toLowerCase()}`}
            data-testid="theme-toggle"
            data-theme-preference={themePreference}
          >
            <Icon name={THEME_ICON[themePreference]} />
            <span className="theme-toggle-label">{THEME_LABEL[themePreference]}</span>
          </button>
          {appInfo.data && (
            <div className="app-version" data-testid="app-ready" data-shell={appInfo.data.shell}>
              Partwise {appInfo.data.version} · {appInfo.data.shell === 'electron' ? 'desktop' : 'browser'}
            </div>
          )}
        </div>
      </nav>
      <ConnectionWatch />
      {/* The band sits above the scrolling screen, never over its content or its sticky headers. */}
      <div className="main-column">
        <ProductionBand />
        <main className="main" ref={mainRef} data-screen={screen} data-connection={health.state}>
          {appInfo.isError && (
            <div className="app-banner">
              <ErrorState
                error={appInfo.error}
                title="The Partwise backend is not answering"
                onRetry={() => void appInfo.refetch()}
                retrying={appInfo.isFetching}
                testId="app-error"
                compact
              />
            </div>
          )}
          <ConnectionBanner />
          {SCREEN_VIEWS[screen]()}
        </main>
      </div>
    </div>
  );
}
