// The progress of an action on keys while it runs: the main process pushes
// `keys.progress` events; the dialog that started the action shows the latest
// one of its table, the Runs screen the latest of any table.
import { useEffect, useState } from 'react';
import { KeyProgressEvent } from '../../shared/keys';
import { useApi } from './api-context';

export function useKeyProgress(
  connectionId: string,
  /** null: any managed table of the connection. */
  configId: number | null,
  active: boolean,
): KeyProgressEvent | null {
  const api = useApi();
  const [latest, setLatest] = useState<KeyProgressEvent | null>(null);
  useEffect(() => {
    if (!active) return;
    const unsubscribe = api.on('keys.progress', (payload) => {
      const parsed = KeyProgressEvent.safeParse(payload);
      if (!parsed.success) return; // a newer backend's event this build does not know
      const ours =
        parsed.data.connectionId === connectionId && (configId === null || parsed.data.configId === configId);
      if (ours) setLatest(parsed.data);
    });
    return () => {
      unsubscribe();
      setLatest(null); // the next action starts from nothing, not from this one's last step
    };
  }, [api, connectionId, configId, active]);
  return active ? latest : null;
}
