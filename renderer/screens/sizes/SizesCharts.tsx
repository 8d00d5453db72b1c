// The Sizes screen's charts: recharts is the app's largest dependency, so this
// module is loaded apart (see SizesScreen) and only its data waits for nobody.
import type { ReactNode } from 'react';
import {
  Bar,
  BarChart,
  CartesianGrid,
  Cell,
  LabelList,
  Pie,
  Rectangle,
  PieChart,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from 'recharts';
import type { BarRectangleItem } from 'recharts/types/cartesian/Bar';
import type { XAxisTickContentProps } from 'recharts/types/util/types';
import type { SizesReport } from '../../../shared/explorer';
import { ObjectName } from '../../components/ObjectName';
import { byteAxis, logCountTicks } from '../../lib/axis';
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

const AXIS_TITLE = (theme: ChartTheme) => ({ fill: theme.muted, fontSize: 11, fontWeight: 600 });

function LargestPartitions({
  report,
  theme,
  keyColumn,
  onOpenKey,
}: {
  report: SizesReport;
  theme: ChartTheme;
  keyColumn: string;
  onOpenKey(key: string): void;
}) {
  const data = report.largestLevelOne.slice(0, LARGEST_SHOWN);
  if (data.length === 0) return <p className="muted">No partitions yet.</p>;
  const height = Math.max(180, data.length * 24 + 64);
  const axis = byteAxis(Math.max(...data.map((d) => d.bytes)));
  // Room for the longest key label (11 px digits are about 7 px wide), within reason.
  const keyAxisWidth = Math.min(160, 16 + 7 * Math.max(...data.map((d) => d.keyValue.length)));
  return (
    <div className="chart clickable" style={{ height }} data-testid="largest-chart">
      <ResponsiveContainer width="100%" height="100%">
        <BarChart data={data} layout="vertical" margin={{ top: 4, right: 24, bottom: 24, left: 18 }}>
          <CartesianGrid horizontal={false} stroke={theme.grid} />
          <XAxis
            type="number"
            dataKey="bytes"
            ticks={axis.ticks}
            domain={[0, axis.ticks.at(-1)!]}
            tickFormatter={axis.format}
            stroke={theme.muted}
            tick={{ fill: theme.muted, fontSize: 11 }}
            label={{
              value: 'Total size: table, indexes and TOAST',
              position: 'insideBottom',
              offset: -16,
              ...AXIS_TITLE(theme),
            }}
          />
          <YAxis
            type="category"
            dataKey="keyValue"
            width={keyAxisWidth}
            stroke={theme.muted}
            tick={{ fill: theme.text, fontSize: 11 }}
            interval={0}
            label={{ value: keyColumn, angle: -90, position: 'insideLeft', offset: -10, ...AXIS_TITLE(theme) }}
          />
          <Tooltip
            {...tooltipStyle(theme)}
            formatter={(value, _name, item) => [
              `${formatBytes(Number(value))} · ${formatNumber((item.payload as { rows: number }).rows)} rows`,
              'Size',
            ]}
            labelFormatter={(label) => `${keyColumn} ${String(label)}: click to open in Explorer`}
          />
          <Bar
            dataKey="bytes"
            fill={theme.bar}
            isAnimationActive={false}
            radius={[0, 3, 3, 0]}
            cursor="pointer"
            shape={(props: BarRectangleItem) => (
              <g data-testid="largest-bar" data-key={(props.payload as { keyValue: string }).keyValue}>
                <Rectangle {...props} />
              </g>
            )}
            onClick={(entry) => onOpenKey(String((entry.payload as { keyValue: string }).keyValue))}
          />
        </BarChart>
      </ResponsiveContainer>
    </div>
  );
}

/** A band's tick on two lines ("90–" over "100"), narrow enough for eleven bands in a half-width panel. */
function BandTick({ x, y, label, color }: { x: number; y: number; label: string; color: string }) {
  const [from, to] = label.split('-');
  return (
    <text x={x} y={y + 10} textAnchor="middle" fill={color} fontSize={11}>
      <tspan x={x}>{to === undefined ? from : `${from}–`}</tspan>
      {to !== undefined && (
        <tspan x={x} dy="1.15em">
          {to}
        </tspan>
      )}
    </text>
  );
}

function FillHistogram({
  report,
  theme,
  onOpenBand,
}: {
  report: SizesReport;
  theme: ChartTheme;
  onOpenBand(band: number): void;
}) {
  // Short tick labels ("90-100", ">100") on two lines so that eleven bands fit; the tooltip keeps the full name.
  const data = report.fillBands.map((band, index) => ({
    ...band,
    index,
    tick: band.band.replace(/%/g, '').replace(/^over\s*/i, '>'),
    level: bandLevel(index),
  }));
  const total = data.reduce((sum, band) => sum + band.buckets, 0);
  if (total === 0) return <p className="muted">No buckets yet.</p>;
  const ticks = logCountTicks(Math.max(...data.map((band) => band.buckets)));
  return (
    <>
      <div className="chart clickable" style={{ height: 260 }} data-testid="fill-chart">
        <ResponsiveContainer width="100%" height="100%">
          <BarChart data={data} margin={{ top: 18, right: 16, bottom: 18, left: 8 }}>
            <CartesianGrid vertical={false} stroke={theme.grid} />
            <XAxis
              dataKey="tick"
              stroke={theme.muted}
              tick={(props: XAxisTickContentProps) => (
                <BandTick
                  x={Number(props.x)}
                  y={Number(props.y)}
                  label={String(props.payload.value)}
                  color={theme.muted}
                />
              )}
              interval={0}
              label={{
                value: 'Fill: % of the bucket limit',
                position: 'insideBottom',
                offset: -12,
                ...AXIS_TITLE(theme),
              }}
              height={40}
            />
            {/* A symmetric log scale: the band of nearly empty buckets does not flatten the others. */}
            <YAxis
              scale="symlog"
              domain={[0, ticks.at(-1)!]}
              ticks={ticks}
              allowDecimals={false}
              tickFormatter={(value: number) => formatCompactNumber(value)}
              stroke={theme.muted}
              tick={{ fill: theme.muted, fontSize: 11 }}
              width={56}
              label={{
                value: 'Buckets',
                angle: -90,
                position: 'insideLeft',
                offset: 4,
                ...AXIS_TITLE(theme),
              }}
            />
            <Tooltip
              {...tooltipStyle(theme)}
              formatter={(value) => [
                `${formatNumber(Number(value))} (${formatPercent(Number(value) / total)})`,
                'Buckets',
              ]}
              labelFormatter={(_label, payload) =>
                `Fill ${String(payload[0]?.payload?.band ?? _label)}: click to see them in Explorer`
              }
            />
            <Bar
              dataKey="buckets"
              isAnimationActive={false}
              radius={[3, 3, 0, 0]}
              cursor="pointer"
              shape={(props: BarRectangleItem) => (
                <g data-testid="fill-bar-band" data-band={(props.payload as { index: number }).index}>
                  <Rectangle {...props} />
                </g>
              )}
              onClick={(entry) => onOpenBand(Number((entry.payload as { index: number }).index))}
            >
              {data.map((band) => (
                <Cell key={band.band} fill={theme.fill[band.level]} />
              ))}
              <LabelList
                dataKey="buckets"
                position="top"
                fill={theme.text}
                fontSize={11}
                formatter={(value: unknown) => (Number(value) > 0 ? formatCompactNumber(Number(value)) : '')}
              />
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

/** The partitioned tree beside the original table it replaced, measured the same way. */
function BeforeAfter({ report, theme }: { report: SizesReport; theme: ChartTheme }) {
  const tree = report.tableBytes + report.indexBytes + report.toastBytes;
  if (!report.backup) {
    return (
      <p className="muted" data-testid="size-compare">
        No original table to compare with: its backup was dropped when the migration was finalized.
      </p>
    );
  }
  const largest = Math.max(tree, report.backup.bytes, 1);
  const change = report.backup.bytes > 0 ? tree / report.backup.bytes - 1 : null;
  const bars = [
    {
      label: 'Original table',
      name: report.backup.table,
      bytes: report.backup.bytes,
      color: theme.muted,
      part: 'original',
    },
    { label: 'Partitioned tree', name: null, bytes: tree, color: theme.bar, part: 'tree' },
  ];
  return (
    <div className="size-compare" data-testid="size-compare">
      <h3 className="section-title">Before and after</h3>
      {bars.map((bar) => (
        <div key={bar.part} className="compare-row" data-part={bar.part}>
          <span className="compare-label">
            {bar.label}
            {bar.name && <ObjectName name={bar.name} className="muted" copy={false} />}
          </span>
          <span className="compare-track">
            <span className="compare-bar" style={{ width: `${(bar.bytes / largest) * 100}%`, background: bar.color }} />
          </span>
          <span className="num compare-value">{formatBytes(bar.bytes)}</span>
        </div>
      ))}
      {change !== null && (
        <p className="muted" data-testid="size-change">
          The tree takes {formatPercent(Math.abs(change))} {change >= 0 ? 'more' : 'less'} than the original table
          {change >= 0 ? ': every leaf has its own indexes and a partly filled last page.' : '.'}
        </p>
      )}
    </div>
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
      <BeforeAfter report={report} theme={theme} />
    </div>
  );
}

export default function SizesCharts({
  report,
  theme,
  bucketLimit,
  keyColumn,
  onOpenKey,
  onOpenBand,
}: {
  report: SizesReport;
  theme: ChartTheme;
  bucketLimit: number;
  keyColumn: string;
  /** Opens one key in the Explorer. */
  onOpenKey(key: string): void;
  /** Opens the buckets of one fill band in the Explorer. */
  onOpenBand(band: number): void;
}) {
  return (
    <div className="charts-grid">
      <ChartPanel
        title="Largest level-1 partitions"
        subtitle={`Top ${Math.min(LARGEST_SHOWN, report.largestLevelOne.length)} by total size; click a bar to open the key in Explorer`}
        testId="chart-largest"
      >
        <LargestPartitions report={report} theme={theme} keyColumn={keyColumn} onOpenKey={onOpenKey} />
      </ChartPanel>
      <ChartPanel
        title="Bucket fill"
        subtitle={`Buckets by share of the limit (${formatNumber(bucketLimit)} rows) in use, counts on a log scale; click a bar to see its buckets in Explorer`}
        testId="chart-fill"
      >
        <FillHistogram report={report} theme={theme} onOpenBand={onOpenBand} />
      </ChartPanel>
      <ChartPanel title="Table, indexes and TOAST" subtitle="All partitions together" testId="chart-split">
        <SizeSplit report={report} theme={theme} />
      </ChartPanel>
    </div>
  );
}
