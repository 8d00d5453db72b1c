// A modal confirmation for anything that changes a database: it names what is
// affected, can demand an explicit acknowledgement for what cannot be undone,
// keeps focus inside itself, and shows the error if the action fails.
import { useEffect, useId, useRef, useState, type KeyboardEvent, type ReactNode } from 'react';
import { createPortal } from 'react-dom';
import { ErrorState } from './StateViews';

export interface ConfirmDialogProps {
  title: string;
  children: ReactNode;
  confirmLabel: string;
  tone?: 'primary' | 'danger';
  /** When set, the confirm button stays disabled until this statement is ticked. */
  acknowledgement?: string;
  busy?: boolean;
  error?: unknown;
  /** Disables the confirm button (with the reason shown). */
  disabledReason?: string;
  onConfirm(): void;
  onCancel(): void;
  testId?: string;
}

const FOCUSABLE = 'button:not([disabled]), input:not([disabled]), select:not([disabled]), [tabindex="0"]';

export function ConfirmDialog({
  title,
  children,
  confirmLabel,
  tone = 'primary',
  acknowledgement,
  busy = false,
  error,
  disabledReason,
  onConfirm,
  onCancel,
  testId = 'confirm-dialog',
}: ConfirmDialogProps) {
  const [acknowledged, setAcknowledged] = useState(false);
  const dialogRef = useRef<HTMLDivElement>(null);
  const cancelRef = useRef<HTMLButtonElement>(null);
  const titleId = useId();

  useEffect(() => {
    const previous = document.activeElement as HTMLElement | null;
    // Cancel has the initial focus: Enter on an open dialog must not do the irreversible thing.
    cancelRef.current?.focus();
    return () => previous?.focus?.();
  }, []);

  const onKeyDown = (event: KeyboardEvent<HTMLDivElement>) => {
    if (event.key === 'Escape') {
      event.stopPropagation();
      if (!busy) onCancel();
      return;
    }
    if (event.key !== 'Tab' || !dialogRef.current) return;
    const focusable = Array.from(dialogRef.current.querySelectorAll<HTMLElement>(FOCUSABLE));
    if (focusable.length === 0) return;
    const first = focusable[0]!;
    const last = focusable[focusable.length - 1]!;
    if (event.shiftKey && document.activeElement === first) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && document.activeElement === last) {
      event.preventDefault();
      first.focus();
    }
  };

  const blocked = busy || disabledReason !== undefined || (acknowledgement !== undefined && !acknowledged);

  return createPortal(
    <div
      className="modal-backdrop"
      onMouseDown={(event) => event.target === event.currentTarget && !busy && onCancel()}
    >
      <div
        ref={dialogRef}
        className="modal"
        role="dialog"
        aria-modal="true"
        aria-labelledby={titleId}
        data-testid={testId}
        onKeyDown={onKeyDown}
      >
        <h2 id={titleId} className="modal-title">
          {title}
        </h2>
        <div className="modal-body">{children}</div>
        {acknowledgement && (
          <label className="checkbox modal-ack">
            <input
              type="checkbox"
              checked={acknowledged}
              onChange={(event) => setAcknowledged(event.target.checked)}
              data-testid="confirm-acknowledge"
            />
            <span>{acknowledgement}</span>
          </label>
        )}
        {disabledReason && <p className="modal-disabled-reason">{disabledReason}</p>}
        {error !== undefined && error !== null && <ErrorState error={error} compact testId="confirm-error" />}
        <div className="modal-actions">
          <button
            type="button"
            className="btn"
            ref={cancelRef}
            onClick={onCancel}
            disabled={busy}
            data-testid="confirm-cancel"
          >
            Cancel
          </button>
          <button
            type="button"
            className={tone === 'danger' ? 'btn btn-danger' : 'btn btn-primary'}
            onClick={onConfirm}
            disabled={blocked}
            data-testid="confirm-accept"
          >
            {busy ? 'Working…' : confirmLabel}
          </button>
        </div>
      </div>
    </div>,
    document.body,
  );
}
