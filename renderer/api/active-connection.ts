// The connection the screens work with: the selected id from the UI store,
// checked against the saved profiles (a deleted profile is no selection).
import type { ConnectionProfile } from '../../shared/connection';
import { useUi } from '../state/ui';
import { useConnections } from './queries';

export interface ActiveConnection {
  id: string | null;
  profile: ConnectionProfile | undefined;
  /** The list is still loading: the selection cannot be checked yet. */
  pending: boolean;
}

export function useActiveConnection(): ActiveConnection {
  const selected = useUi((state) => state.connectionId);
  const connections = useConnections();
  const profile = connections.data?.find((candidate) => candidate.id === selected);
  if (connections.isPending) return { id: null, profile: undefined, pending: true };
  // If the list failed to load, trust the stored selection rather than hide every screen.
  if (connections.isError) return { id: selected, profile: undefined, pending: false };
  return { id: profile ? profile.id : null, profile, pending: false };
}
