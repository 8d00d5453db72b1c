// The Sizes screen's charts: recharts is the app's largest dependency, so this
// module is loaded apart (see SizesScreen) and only its data waits for nobody.
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
import type { SizesReport } from '../../../shared/explorer';
import type { ChartTheme } from '../../lib/chart-theme';
import { bandLevel, fillLevelLabel } from '../../lib/fill';
import { formatBytes, formatCompactNumber, formatNumber, formatPercent } from '../../lib/format';

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

export default function SizesCharts({
  report,
  theme,
  bucketLimit,
}: {
  report: SizesReport;
  theme: ChartTheme;
  bucketLimit: number;
}) {
  return (
    <div className="charts-grid">
      <ChartPanel
        title="Largest level-1 partitions"
        subtitle={`Top ${Math.min(LARGEST_SHOWN, report.largestLevelOne.length)} by total size`}
        testId="chart-largest"
      >
        <LargestPartitions report={report} theme={theme} />
      </ChartPanel>
      <ChartPanel
        title="Bucket fill"
        subtitle={`Buckets by share of the limit (${formatNumber(bucketLimit)} rows) in use`}
        testId="chart-fill"
      >
        <FillHistogram report={report} theme={theme} />
      </ChartPanel>
      <ChartPanel title="Table, indexes and TOAST" subtitle="All partitions together" testId="chart-split">
        <SizeSplit report={report} theme={theme} />
      </ChartPanel>
    </div>
  );
}
