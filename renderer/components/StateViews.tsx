// The three states every data view has besides "here is the data": loading,
// failed (message, hint and Retry), and empty (what to do next).
import type { ReactNode } from 'react';
import type { ErrorKind } from '../../shared/errors';
import { errorKind, toShownError } from '../api/errors';
import { Icon } from './Icon';

export function Loading({ label = 'Loading…', testId }: { label?: string; testId?: string }) {
  return (
    <div className="state-view state-loading" role="status" aria-live="polite" data-testid={testId ?? 'loading'}>
      <span className="spinner" aria-hidden="true" />
      <span>{label}</span>
    </div>
  );
}

const KIND_TITLES: Record<ErrorKind, string> = {
  connection: 'Cannot reach the server',
  auth: 'Authentication failed',
  privilege: 'Missing privilege',
  not_found: 'Not found',
  blocked: 'Not available',
  conflict: 'Conflict',
  lock_timeout: 'Lock timeout',
  invalid_input: 'Invalid input',
  verification_failed: 'Verification failed',
  cancelled: 'Cancelled',
  internal: 'Something went wrong',
};

export function ErrorState({
  error,
  onRetry,
  retrying = false,
  title,
  testId = 'error-state',
  compact = false,
}: {
  error: unknown;
  onRetry?: () => void;
  retrying?: boolean;
  title?: string;
  testId?: string;
  compact?: boolean;
}) {
  const shown = toShownError(error);
  return (
    <div
      className={compact ? 'state-view state-error compact' : 'state-view state-error'}
      role="alert"
      data-testid={testId}
      data-error-kind={shown.kind}
    >
      <Icon name="error" size={compact ? 16 : 22} className="state-icon" />
      <div className="state-body">
        <div className="state-title">{title ?? KIND_TITLES[shown.kind]}</div>
        <p className="state-message" data-testid="error-message">
          {shown.message}
        </p>
        {shown.hint && (
          <p className="state-hint" data-testid="error-hint">
            {shown.hint}
          </p>
        )}
        {shown.detail && (
          <details className="state-detail" data-testid="error-detail">
            <summary>Details</summary>
            <pre>{shown.detail}</pre>
          </details>
        )}
        {onRetry && (
          <button type="button" className="btn" onClick={onRetry} disabled={retrying} data-testid="retry">
            <Icon name="refresh" />
            {retrying ? 'Retrying…' : 'Retry'}
          </button>
        )}
      </div>
    </div>
  );
}

/**
 * The failure of a screen's data. A server that cannot be reached is said
 * once, with its address and what is being done, by the connection banner
 * (see ConnectionStatus): here only what it means for this view.
 */
export function QueryErrorState({
  error,
  onRetry,
  retrying,
  compact,
}: {
  error: unknown;
  onRetry?: () => void;
  retrying?: boolean;
  compact?: boolean;
}) {
  if (errorKind(error) === 'connection') {
    return (
      <div className="state-view state-waiting" role="status" data-testid="waiting-for-server">
        <span className="spinner" aria-hidden="true" />
        <div className="state-body">
          <div className="state-title">Waiting for the server</div>
          <p className="state-message">{toShownError(error).message} This view loads once the server answers.</p>
        </div>
      </div>
    );
  }
  return <ErrorState error={error} onRetry={onRetry} retrying={retrying} compact={compact} />;
}

export function EmptyState({
  title,
  children,
  action,
  testId = 'empty-state',
}: {
  title: string;
  children?: ReactNode;
  action?: ReactNode;
  testId?: string;
}) {
  return (
    <div className="state-view state-empty" data-testid={testId}>
      <div className="state-body">
        <div className="state-title">{title}</div>
        {children && <div className="state-message">{children}</div>}
        {action && <div className="state-actions">{action}</div>}
      </div>
    </div>
  );
}

/** An inline message under a form or action: success, warning or failure. */
export function Notice({
  tone,
  children,
  testId,
}: {
  tone: 'info' | 'success' | 'warning' | 'error';
  children: ReactNode;
  testId?: string;
}) {
  const icon = tone === 'success' ? 'check' : tone === 'info' ? 'info' : tone === 'warning' ? 'alert' : 'error';
  return (
    <div
      className={`notice notice-${tone}`}
      role={tone === 'error' ? 'alert' : 'status'}
      data-testid={testId}
      data-tone={tone}
    >
      <Icon name={icon} className="notice-icon" />
      <div className="notice-body">{children}</div>
    </div>
  );
}
