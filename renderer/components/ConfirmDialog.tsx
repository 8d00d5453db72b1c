// A modal confirmation for anything that changes a database: it names what is
// affected, can demand an explicit acknowledgement for what cannot be undone,
// keeps focus inside itself, and shows the error if the action fails. It never
// traps the user: Esc and Close work while the action is under way (closing
// does not stop it), and a result can be shown in place of the question.
import { useEffect, useId, useRef, useState, type KeyboardEvent, type ReactNode } from 'react';
import { createPortal } from 'react-dom';
import { ErrorState } from './StateViews';
import './ConfirmDialog.css';

export interface ConfirmDialogProps {
  title: string;
  children: ReactNode;
  confirmLabel: string;
  tone?: 'primary' | 'danger';
  /** When set, the confirm button stays disabled until this statement is ticked. */
  acknowledgement?: string;
  /** When set (production connections), the confirm button stays disabled until this text is typed. */
  typeToConfirm?: string;
  busy?: boolean;
  error?: unknown;
  /** Disables the confirm button (with the reason shown). */
  disabledReason?: string;
  /** Shown while busy: what goes on if the dialog is closed. */
  busyNote?: ReactNode;
  /** The answer, once there is one to read: replaces the question's buttons with Close. */
  result?: ReactNode;
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
  typeToConfirm,
  busy = false,
  error,
  disabledReason,
  busyNote,
  result,
  onConfirm,
  onCancel,
  testId = 'confirm-dialog',
}: ConfirmDialogProps) {
  const [acknowledged, setAcknowledged] = useState(false);
  const [typed, setTyped] = useState('');
  const dialogRef = useRef<HTMLDivElement>(null);
  const cancelRef = useRef<HTMLButtonElement>(null);
  const titleId = useId();

  useEffect(() => {
    const previous = document.activeElement as HTMLElement | null;
    // Cancel has the initial focus: Enter on an open dialog must not do the irreversible thing.
    cancelRef.current?.focus();
    return () => previous?.focus?.();
  }, []);

  // The confirm button is disabled while busy and drops the focus: Close takes it.
  useEffect(() => {
    if (busy || result !== undefined) cancelRef.current?.focus();
  }, [busy, result]);

  // Esc closes wherever the focus is (a disabled button leaves it on the page).
  useEffect(() => {
    const onEscape = (event: globalThis.KeyboardEvent) => {
      if (event.key !== 'Escape') return;
      event.stopPropagation();
      onCancel();
    };
    document.addEventListener('keydown', onEscape);
    return () => document.removeEventListener('keydown', onEscape);
  }, [onCancel]);

  const onKeyDown = (event: KeyboardEvent<HTMLDivElement>) => {
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

  const blocked =
    busy ||
    disabledReason !== undefined ||
    (acknowledgement !== undefined && !acknowledged) ||
    (typeToConfirm !== undefined && typed !== typeToConfirm);

  return createPortal(
    <div className="modal-backdrop" onMouseDown={(event) => event.target === event.currentTarget && onCancel()}>
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
        {acknowledgement && result === undefined && (
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
        {typeToConfirm !== undefined && result === undefined && (
          <label className="field modal-type-to-confirm">
            <span>
              This is a production connection. Type <strong className="mono">{typeToConfirm}</strong> to confirm.
            </span>
            <input
              type="text"
              value={typed}
              onChange={(event) => setTyped(event.target.value)}
              autoComplete="off"
              spellCheck={false}
              aria-invalid={typed !== '' && typed !== typeToConfirm ? true : undefined}
              data-testid="confirm-type"
            />
          </label>
        )}
        {disabledReason && <p className="modal-disabled-reason">{disabledReason}</p>}
        {error !== undefined && error !== null && <ErrorState error={error} compact testId="confirm-error" />}
        {busy && busyNote && (
          <p className="muted modal-busy-note" data-testid="confirm-busy-note">
            {busyNote}
          </p>
        )}
        {result !== undefined && (
          <div className="modal-result" role="status" data-testid="confirm-result">
            {result}
          </div>
        )}
        <div className="modal-actions">
          <button type="button" className="btn" ref={cancelRef} onClick={onCancel} data-testid="confirm-cancel">
            {busy || result !== undefined ? 'Close' : 'Cancel'}
          </button>
          {result === undefined && (
            <button
              type="button"
              className={tone === 'danger' ? 'btn btn-danger' : 'btn btn-primary'}
              onClick={onConfirm}
              disabled={blocked}
              data-testid="confirm-accept"
            >
              {busy ? 'Working…' : confirmLabel}
            </button>
          )}
        </div>
      </div>
    </div>,
    document.body,
  );
}
