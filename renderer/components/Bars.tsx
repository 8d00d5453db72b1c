// Horizontal bars: the fill of a bucket against its capacity, and the
// progress of a phase. Both are meters with text, so they read without colour.
import { memo } from 'react';
import { barWidth, fillLevel, fillLevelLabel } from '../lib/fill';
import { formatPercent } from '../lib/format';
import './Bars.css';

export const FillBar = memo(function FillBar({
  fraction,
  label,
  testId = 'fill-bar',
  wide = false,
}: {
  fraction: number;
  /** Accessible description, e.g. "812,000 of 1,000,000 rows". */
  label: string;
  testId?: string;
  wide?: boolean;
}) {
  const level = fillLevel(fraction);
  const percent = Number.isFinite(fraction) ? formatPercent(fraction) : 'over capacity';
  return (
    <span
      className={wide ? 'fill wide' : 'fill'}
      role="meter"
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={Number.isFinite(fraction) ? Math.round(fraction * 100) : 100}
      aria-label={`${label}: ${percent}, ${fillLevelLabel[level]}`}
      title={`${label} (${percent}, ${fillLevelLabel[level]})`}
      data-testid={testId}
      data-fill-level={level}
      data-fill={Number.isFinite(fraction) ? fraction.toFixed(4) : 'inf'}
    >
      <span className="fill-track">
        <span className={`fill-value level-${level}`} style={{ width: `${barWidth(fraction)}%` }} />
      </span>
      <span className={level === 'over' ? 'fill-text over' : 'fill-text'}>{percent}</span>
    </span>
  );
});

export function ProgressBar({
  fraction,
  label,
  indeterminate = false,
  tone = 'active',
  testId = 'progress-bar',
}: {
  fraction: number;
  label: string;
  indeterminate?: boolean;
  tone?: 'active' | 'success' | 'error' | 'muted';
  testId?: string;
}) {
  const bounded = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0));
  return (
    <div
      className={`progress tone-${tone}${indeterminate ? ' indeterminate' : ''}`}
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={100}
      {...(indeterminate ? {} : { 'aria-valuenow': Math.round(bounded * 100) })}
      data-testid={testId}
      data-progress={indeterminate ? 'indeterminate' : bounded.toFixed(4)}
    >
      <div className="progress-value" style={indeterminate ? undefined : { width: `${bounded * 100}%` }} />
    </div>
  );
}
