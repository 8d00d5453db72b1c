// Sizes: the largest level-1 partitions, how full the buckets are, and how
// the table's bytes split between heap, indexes and TOAST.
import type { ReactNode } from 'react';
import {
  Bar,
  BarChart,
  CartesianGrid,
  Cell,
  Pie,
  PieChart,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from 'recharts';
import type { ManagedTable, SizesReport } from '../../../shared/explorer';
import { useSizes } from '../../api/queries';
import { Icon } from '../../components/Icon';
import { ManagedTableGate } from '../../components/ManagedTableGate';
import { RequireConnection } from '../../components/RequireConnection';
import { ScreenHeader } from '../../components/ScreenHeader';
import { ErrorState, Loading } from '../../components/StateViews';
import { chartTheme, type ChartTheme } from '../../lib/chart-theme';
import { bandLevel, fillLevelLabel } from '../../lib/fill';
import { formatBytes, formatCompactNumber, formatNumber, formatPercent } from '../../lib/format';
import { useResolvedTheme } from '../../lib/theme';
import { useUi } from '../../state/ui';

const LARGEST_SHOWN = 20;

function tooltipStyle(theme: ChartTheme) {
  return {
    contentStyle: {
      background: theme.surface,
      border: `1px solid ${theme.border}`,
      borderRadius: 6,
      color: theme.text,
      fontSize: 12,
    },
    labelStyle: { color: theme.text, fontWeight: 600 },
    itemStyle: { color: theme.text },
    cursor: { fill: theme.cursor },
  };
}

function ChartPanel({
  title,
  subtitle,
  children,
  testId,
}: {
  title: string;
  subtitle?: string;
  children: ReactNode;
  testId: string;
}) {
  return (
    <figure className="panel chart-panel" data-testid={testId}>
      <figcaption className="panel-header">
        <div>
          <h2 className="panel-title">{title}</h2>
          {subtitle && <div className="muted">{subtitle}</div>}
        </div>
      </figcaption>
      {children}
    </figure>
  );
}

function LargestPartitions({ report, theme }: { report: SizesReport; theme: ChartTheme }) {
  const data = report.largestLevelOne.slice(0, LARGEST_SHOWN);
  if (data.length === 0) return <p className="muted">No partitions yet.</p>;
  const height = Math.max(160, data.length * 24 + 40);
  return (
    <div className="chart" style={{ height }}>
      <ResponsiveContainer width="100%" height="100%">
        <BarChart data={data} layout="vertical" margin={{ top: 4, right: 24, bottom: 4, left: 8 }}>
          <CartesianGrid horizontal={false} stroke={theme.grid} />
          <XAxis
            type="number"
            dataKey="bytes"
            tickFormatter={(value: number) => formatBytes(value)}
            stroke={theme.muted}
            tick={{ fill: theme.muted, fontSize: 11 }}
          />
          <YAxis
            type="category"
            dataKey="keyValue"
            width={110}
            stroke={theme.muted}
            tick={{ fill: theme.text, fontSize: 11 }}
            interval={0}
          />
          <Tooltip
            {...tooltipStyle(theme)}
            formatter={(value, _name, item) => [
              `${formatBytes(Number(value))} · ${formatNumber((item.payload as { rows: number }).rows)} rows`,
              'Size',
            ]}
            labelFormatter={(label) => `Key ${String(label)}`}
          />
          <Bar dataKey="bytes" fill={theme.bar} isAnimationActive={false} radius={[0, 3, 3, 0]} />
        </BarChart>
      </ResponsiveContainer>
    </div>
  );
}

function FillHistogram({ report, theme }: { report: SizesReport; theme: ChartTheme }) {
  // Short tick labels ("90-100", ">100") so eleven bands fit; the tooltip keeps the full band name.
  const data = report.fillBands.map((band, index) => ({
    ...band,
    tick: band.band.replace(/%/g, '').replace(/^over\s*/i, '>'),
    level: bandLevel(index),
  }));
  const total = data.reduce((sum, band) => sum + band.buckets, 0);
  if (total === 0) return <p className="muted">No buckets yet.</p>;
  return (
    <>
      <div className="chart" style={{ height: 240 }}>
        <ResponsiveContainer width="100%" height="100%">
          <BarChart data={data} margin={{ top: 8, right: 16, bottom: 4, left: 0 }}>
            <CartesianGrid vertical={false} stroke={theme.grid} />
            <XAxis
              dataKey="tick"
              stroke={theme.muted}
              tick={{ fill: theme.muted, fontSize: 11 }}
              interval={0}
              label={{
                value: '% of the bucket limit',
                position: 'insideBottom',
                offset: -4,
                fill: theme.muted,
                fontSize: 11,
              }}
              height={40}
            />
            <YAxis
              allowDecimals={false}
              tickFormatter={(value: number) => formatCompactNumber(value)}
              stroke={theme.muted}
              tick={{ fill: theme.muted, fontSize: 11 }}
              width={48}
              label={{ value: 'buckets', angle: -90, position: 'insideLeft', fill: theme.muted, fontSize: 11 }}
            />
            <Tooltip
              {...tooltipStyle(theme)}
              formatter={(value) => [
                `${formatNumber(Number(value))} (${formatPercent(Number(value) / total)})`,
                'Buckets',
              ]}
              labelFormatter={(_label, payload) => `Fill ${String(payload[0]?.payload?.band ?? _label)}`}
            />
            <Bar dataKey="buckets" isAnimationActive={false} radius={[3, 3, 0, 0]}>
              {data.map((band) => (
                <Cell key={band.band} fill={theme.fill[band.level]} />
              ))}
            </Bar>
          </BarChart>
        </ResponsiveContainer>
      </div>
      <ul className="legend" aria-label="Fill colours">
        {(['low', 'mid', 'high', 'full', 'over'] as const).map((level) => (
          <li key={level}>
            <span className="legend-swatch" style={{ background: theme.fill[level] }} aria-hidden="true" />
            {fillLevelLabel[level]}
          </li>
        ))}
      </ul>
    </>
  );
}

function SizeSplit({ report, theme }: { report: SizesReport; theme: ChartTheme }) {
  const parts = [
    { name: 'Table', bytes: report.tableBytes, color: theme.parts.table },
    { name: 'Indexes', bytes: report.indexBytes, color: theme.parts.index },
    { name: 'TOAST', bytes: report.toastBytes, color: theme.parts.toast },
  ];
  const total = parts.reduce((sum, part) => sum + part.bytes, 0);
  return (
    <div className="size-split">
      <div className="chart" style={{ height: 200, width: 200 }}>
        {total > 0 ? (
          <ResponsiveContainer width="100%" height="100%">
            <PieChart>
              <Pie
                data={parts}
                dataKey="bytes"
                nameKey="name"
                innerRadius={55}
                outerRadius={90}
                stroke={theme.surface}
                isAnimationActive={false}
              >
                {parts.map((part) => (
                  <Cell key={part.name} fill={part.color} />
                ))}
              </Pie>
              <Tooltip
                {...tooltipStyle(theme)}
                formatter={(value, name) => [formatBytes(Number(value)), String(name)]}
              />
            </PieChart>
          </ResponsiveContainer>
        ) : (
          <p className="muted">Empty.</p>
        )}
      </div>
      <table className="data-table compact size-legend" data-testid="size-split">
        <tbody>
          {parts.map((part) => (
            <tr key={part.name} data-part={part.name.toLowerCase()}>
              <td>
                <span className="legend-swatch" style={{ background: part.color }} aria-hidden="true" /> {part.name}
              </td>
              <td className="right num">{formatBytes(part.bytes)}</td>
              <td className="right num muted">{total > 0 ? formatPercent(part.bytes / total) : '—'}</td>
            </tr>
          ))}
          <tr className="total-row">
            <td>Total</td>
            <td className="right num">{formatBytes(total)}</td>
            <td />
          </tr>
        </tbody>
      </table>
    </div>
  );
}

function SizesPanel({ connectionId, table, picker }: { connectionId: string; table: ManagedTable; picker: ReactNode }) {
  const sizes = useSizes(connectionId, table.configId);
  const preference = useUi((state) => state.theme);
  const theme = chartTheme(useResolvedTheme(preference));
  return (
    <>
      <div className="toolbar">
        {picker}
        <span className="spacer" />
        <button
          type="button"
          className="btn btn-icon"
          onClick={() => void sizes.refetch()}
          disabled={sizes.isFetching}
          aria-label="Refresh sizes"
          title="Refresh"
          data-testid="sizes-refresh"
        >
          <Icon name="refresh" className={sizes.isFetching ? 'spin' : undefined} />
        </button>
      </div>
      {sizes.isPending && <Loading label="Measuring partitions…" />}
      {sizes.isError && (
        <ErrorState error={sizes.error} onRetry={() => void sizes.refetch()} retrying={sizes.isFetching} />
      )}
      {sizes.data && (
        <div className="charts-grid">
          <ChartPanel
            title="Largest level-1 partitions"
            subtitle={`Top ${Math.min(LARGEST_SHOWN, sizes.data.largestLevelOne.length)} by total size`}
            testId="chart-largest"
          >
            <LargestPartitions report={sizes.data} theme={theme} />
          </ChartPanel>
          <ChartPanel
            title="Bucket fill"
            subtitle={`Buckets by share of the limit (${formatNumber(table.bucketLimit)} rows) in use`}
            testId="chart-fill"
          >
            <FillHistogram report={sizes.data} theme={theme} />
          </ChartPanel>
          <ChartPanel title="Table, indexes and TOAST" subtitle="All partitions together" testId="chart-split">
            <SizeSplit report={sizes.data} theme={theme} />
          </ChartPanel>
        </div>
      )}
    </>
  );
}

export default function SizesScreen() {
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
