// Import profiles from pg_service.conf: the services the main process found,
// each with what it points at and whether ~/.pgpass holds its password; the
// chosen ones are saved together, or none of them.
import { useState } from 'react';
import { useImportServices, useServices } from '../../api/queries';
import { EmptyState, ErrorState, Loading } from '../../components/StateViews';

export function ServiceImport({ onDone }: { onDone(): void }) {
  const services = useServices(true);
  const importServices = useImportServices();
  const [chosen, setChosen] = useState<Set<string>>(new Set());
  const toggle = (name: string, on: boolean) =>
    setChosen((current) => {
      const next = new Set(current);
      if (on) next.add(name);
      else next.delete(name);
      return next;
    });

  return (
    <div className="panel connection-form" data-testid="service-import">
      <h2 className="panel-title">Import from pg_service.conf</h2>
      {services.isPending && <Loading label="Reading pg_service.conf…" />}
      {services.isError && <ErrorState error={services.error} compact testId="service-import-error" />}
      {services.data && services.data.services.length === 0 && (
        <EmptyState title="No services found" testId="service-import-empty">
          Looked in {services.data.files.join(' and ')}.
        </EmptyState>
      )}
      {services.data && services.data.services.length > 0 && (
        <ul className="service-list">
          {services.data.services.map((service) => (
            <li key={service.name} data-testid="service-entry" data-service={service.name}>
              <label className="checkbox">
                <input
                  type="checkbox"
                  checked={chosen.has(service.name)}
                  disabled={service.problem !== undefined}
                  onChange={(event) => toggle(service.name, event.target.checked)}
                  data-testid="service-choose"
                />
                <span>
                  <strong>{service.name}</strong>{' '}
                  <span className="mono">
                    {service.user}@{service.host}:{service.port}/{service.database}
                  </span>{' '}
                  <span className="badge">SSL {service.sslMode}</span>
                  {service.pgpassPassword && <span className="badge badge-ok">password in ~/.pgpass</span>}
                </span>
              </label>
              {service.problem && <span className="field-error">{service.problem}</span>}
              {service.ignored.length > 0 && (
                <span className="field-hint">Not kept: {service.ignored.join(', ')}.</span>
              )}
            </li>
          ))}
        </ul>
      )}
      {importServices.isError && <ErrorState error={importServices.error} compact testId="service-import-save-error" />}
      <div className="form-actions">
        <span className="spacer" />
        <button type="button" className="btn" onClick={onDone} data-testid="service-import-cancel">
          Cancel
        </button>
        <button
          type="button"
          className="btn btn-primary"
          disabled={chosen.size === 0 || importServices.isPending}
          onClick={() => importServices.mutate([...chosen], { onSuccess: onDone })}
          data-testid="service-import-save"
        >
          {importServices.isPending ? 'Importing…' : `Import ${chosen.size || ''}`.trim()}
        </button>
      </div>
    </div>
  );
}
