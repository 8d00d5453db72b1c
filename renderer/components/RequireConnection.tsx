// Screens that need a database show what to do next when none is selected.
import type { ReactNode } from 'react';
import { useActiveConnection } from '../api/active-connection';
import { useStartSandbox } from '../api/queries';
import { useUi } from '../state/ui';
import { Icon } from './Icon';
import { EmptyState, ErrorState, Loading } from './StateViews';

export function RequireConnection({ children }: { children: (connectionId: string) => ReactNode }) {
  const active = useActiveConnection();
  const go = useUi((state) => state.go);
  const selectConnection = useUi((state) => state.selectConnection);
  const sandbox = useStartSandbox();

  if (active.pending) return <Loading label="Loading connections…" />;
  if (active.id !== null) return <>{children(active.id)}</>;
  return (
    <>
      <EmptyState
        title="No connection selected: add one or start the Sandbox"
        testId="no-connection"
        action={
          <>
            <button
              type="button"
              className="btn btn-primary"
              onClick={() => go('connections')}
              data-testid="go-connections"
            >
              <Icon name="connections" />
              Go to Connections
            </button>
            <button
              type="button"
              className="btn"
              disabled={sandbox.isPending}
              onClick={() => sandbox.mutate(undefined, { onSuccess: (profile) => selectConnection(profile.id) })}
              data-testid="start-sandbox-inline"
            >
              <Icon name="sandbox" />
              {sandbox.isPending ? 'Starting the Sandbox…' : 'Start the Sandbox'}
            </button>
          </>
        }
      >
        The Sandbox is an embedded PostgreSQL with sample data, safe to experiment on.
      </EmptyState>
      {sandbox.isError && <ErrorState error={sandbox.error} compact />}
    </>
  );
}
