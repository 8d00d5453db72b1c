// A labelled on/off switch (a styled checkbox, so keyboard and screen readers work as usual).
import type { ReactNode } from 'react';

export function Switch({
  checked,
  onChange,
  children,
  testId,
  title,
  disabled,
}: {
  checked: boolean;
  onChange(checked: boolean): void;
  children: ReactNode;
  testId?: string;
  title?: string;
  disabled?: boolean;
}) {
  return (
    <label className="switch" title={title}>
      <input
        type="checkbox"
        role="switch"
        checked={checked}
        disabled={disabled}
        onChange={(event) => onChange(event.target.checked)}
        data-testid={testId}
      />
      <span className="switch-track" aria-hidden="true">
        <span className="switch-thumb" />
      </span>
      <span className="switch-label">{children}</span>
    </label>
  );
}
