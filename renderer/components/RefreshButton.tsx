// The refresh button of a screen or panel: its icon spins while the data is
// being fetched again, and it is disabled meanwhile.
import type { ReactNode } from 'react';
import { Icon } from './Icon';

export function RefreshButton({
  onRefresh,
  busy,
  testId,
  label,
  className = 'btn btn-icon',
  children,
}: {
  onRefresh(): void;
  busy: boolean;
  testId: string;
  /** What is refreshed, for screen readers: needed when the button has no text. */
  label?: string;
  className?: string;
  /** A text beside the icon; without it the button is the icon alone, titled "Refresh". */
  children?: ReactNode;
}) {
  const iconOnly = children === undefined;
  return (
    <button
      type="button"
      className={className}
      onClick={onRefresh}
      disabled={busy}
      aria-label={iconOnly ? label : undefined}
      title={iconOnly ? 'Refresh' : undefined}
      data-testid={testId}
    >
      <Icon name="refresh" className={busy ? 'spin' : undefined} />
      {children}
    </button>
  );
}
