// Sizes: the largest level-1 partitions, how full the buckets are, and how
// the table's bytes split between heap, indexes and TOAST.
import { useEffect, useState, type ReactNode } from 'react';
import type { ManagedTable } from '../../../shared/explorer';
import { useSizes } from '../../api/queries';
import { StaleMark } from '../../components/ConnectionStatus';
import { ManagedTableGate } from '../../components/ManagedTableGate';
import { RequireConnection } from '../../components/RequireConnection';
import { RefreshButton } from '../../components/RefreshButton';
import { ScreenHeader } from '../../components/ScreenHeader';
import { ErrorState, Loading, QueryErrorState } from '../../components/StateViews';
import { chartTheme } from '../../lib/chart-theme';
import { useResolvedTheme } from '../../lib/theme';
import { useUi } from '../../state/ui';
import type SizesCharts from './SizesCharts';
import './sizes.css';

/** What the charts' module exports (a type-only import: the code stays in its own chunk). */
interface ChartsModule {
  default: typeof SizesCharts;
}
let chartsModule: ChartsModule | null = null;

/** The charts and recharts with them: out of the app's first load, fetched when idle or when this screen opens. */
export const loadSizesCharts = (): Promise<ChartsModule> =>
  import('./SizesCharts').then((loaded) => (chartsModule = loaded));

/**
 * The charts' code, loaded while the sizes are measured. Not React.lazy: a
 * suspended boundary is revealed only after React's fallback throttle (300 ms),
 * even when the code arrives first.
 */
function useChartsModule(): { charts: ChartsModule | null; error: unknown } {
  const [charts, setCharts] = useState(chartsModule);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    if (charts) return;
    let live = true;
    loadSizesCharts().then(
      (loaded) => live && setCharts(loaded),
      (failed: unknown) => live && setError(failed),
    );
    return () => {
      live = false;
    };
  }, [charts]);
  return { charts, error };
}

function SizesPanel({ connectionId, table, picker }: { connectionId: string; table: ManagedTable; picker: ReactNode }) {
  const sizes = useSizes(connectionId, table.configId);
  const { charts, error: chartsError } = useChartsModule();
  const preference = useUi((state) => state.theme);
  const theme = chartTheme(useResolvedTheme(preference));
  const openInExplorer = useUi((state) => state.openInExplorer);
  return (
    <>
      <div className="toolbar">
        {picker}
        <span className="spacer" />
        <StaleMark connectionId={connectionId} shown={sizes.data !== undefined} />
        <RefreshButton
          onRefresh={() => void sizes.refetch()}
          busy={sizes.isFetching}
          label="Refresh sizes"
          testId="sizes-refresh"
        />
      </div>
      {sizes.isPending && <Loading label="Measuring partitions…" />}
      {sizes.isError && !sizes.data && (
        <QueryErrorState error={sizes.error} onRetry={() => void sizes.refetch()} retrying={sizes.isFetching} />
      )}
      {sizes.data && chartsError !== null && <ErrorState error={chartsError} title="The charts could not be loaded" />}
      {sizes.data && chartsError === null && !charts && <Loading label="Drawing the charts…" />}
      {sizes.data && charts && (
        <charts.default
          report={sizes.data}
          theme={theme}
          bucketLimit={table.bucketLimit}
          keyColumn={table.keyColumn}
          onOpenKey={(key) => openInExplorer({ connectionId, configId: table.configId, key })}
          onOpenBand={(band) => openInExplorer({ connectionId, configId: table.configId, band })}
        />
      )}
    </>
  );
}

export function SizesScreen() {
  return (
    <section className="screen" data-testid="screen-sizes" aria-label="Sizes">
      <ScreenHeader title="Sizes" subtitle="Where the bytes are, and how full the buckets run." />
      <RequireConnection>
        {(connectionId) => (
          <ManagedTableGate connectionId={connectionId}>
            {(table, picker) => (
              <SizesPanel key={table.configId} connectionId={connectionId} table={table} picker={picker} />
            )}
          </ManagedTableGate>
        )}
      </RequireConnection>
    </section>
  );
}
