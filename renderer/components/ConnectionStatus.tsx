// The one state of the active connection's server, wherever the user looks:
// a banner over every screen while the server cannot be reached (where, why,
// since when the figures are, what is being done), and a mark beside the data
// that dates it while it cannot be refreshed.
import { useQueryClient } from '@tanstack/react-query';
import type { ConnectionProfile } from '../../shared/connection';
import { useActiveConnection } from '../api/active-connection';
import { useConnectionHealth } from '../api/connection-health';
import { queryKeys } from '../api/queries';
import { formatClock } from '../lib/format';
import { useUi } from '../state/ui';
import { Icon } from './Icon';

export function serverAddress(profile: Pick<ConnectionProfile, 'kind' | 'host' | 'port'>): string {
  if (profile.kind === 'sandbox') return 'the Sandbox';
  return profile.host.includes(':') ? `[${profile.host}]:${profile.port}` : `${profile.host}:${profile.port}`;
}

const clock = (ms: number) => formatClock(new Date(ms).toISOString());

export function ConnectionBanner() {
  const active = useActiveConnection();
  const health = useConnectionHealth(active.id);
  const client = useQueryClient();
  const go = useUi((state) => state.go);
  if (!active.profile || health.state !== 'unreachable' || !health.error) return null;
  const where = serverAddress(active.profile);
  const auth = health.error.kind === 'auth';
  return (
    <div className="connection-banner" role="alert" data-testid="connection-banner" data-error-kind={health.error.kind}>
      <Icon name="alert" className="connection-banner-icon" />
      <div className="connection-banner-body">
        <div className="connection-banner-title" data-testid="connection-banner-title">
          {auth ? `The server at ${where} refused the login` : `Server unreachable at ${where}, retrying…`}
        </div>
        <div data-testid="connection-banner-message">{health.error.message}</div>
        <div className="muted" data-testid="connection-banner-since">
          {health.lastSuccessAt !== null
            ? `Last answer at ${clock(health.lastSuccessAt)}: what the screens show dates from then.`
            : 'No answer from this server yet.'}
        </div>
        {health.error.detail && (
          <details className="state-detail" data-testid="connection-banner-detail">
            <summary>Details</summary>
            <pre>{health.error.detail}</pre>
          </details>
        )}
      </div>
      <div className="connection-banner-actions">
        {auth ? (
          <button type="button" className="btn btn-small" onClick={() => go('connections')}>
            Connections
          </button>
        ) : (
          <button
            type="button"
            className="btn btn-small"
            onClick={() => void client.refetchQueries({ queryKey: queryKeys.ping(active.id!) })}
            data-testid="connection-retry"
          >
            <Icon name="refresh" />
            Retry now
          </button>
        )}
      </div>
    </div>
  );
}

/** Beside data of the active connection: dates it while the server cannot be asked for newer. */
export function StaleMark({ connectionId, shown = true }: { connectionId: string; shown?: boolean }) {
  const health = useConnectionHealth(connectionId);
  if (!shown || health.state !== 'unreachable') return null;
  return (
    <span
      className="badge badge-warn stale-mark"
      data-testid="stale-mark"
      title="The server cannot be reached: this is the last data it sent"
    >
      <Icon name="alert" size={12} />
      {health.lastSuccessAt !== null ? `as of ${clock(health.lastSuccessAt)}, not current` : 'not current'}
    </span>
  );
}
