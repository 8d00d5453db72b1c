import type { ReactNode } from 'react';

export function ScreenHeader({
  title,
  subtitle,
  actions,
}: {
  title: string;
  subtitle?: ReactNode;
  actions?: ReactNode;
}) {
  return (
    <header className="screen-header">
      <div className="screen-heading">
        <h1 className="screen-title" tabIndex={-1}>
          {title}
        </h1>
        {subtitle && <div className="screen-subtitle">{subtitle}</div>}
      </div>
      {actions && <div className="screen-actions">{actions}</div>}
    </header>
  );
}
