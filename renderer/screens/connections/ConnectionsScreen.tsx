// Connections: the Sandbox, saved server profiles (use, test, edit, delete)
// and the form to add or edit one.
import { useState } from 'react';
import type { ConnectionProfile, ConnectionTestResult } from '../../../shared/connection';
import type { AppInfo } from '../../../shared/contract';
import { useAppInfo, useConnections, useDeleteConnection, useStartSandbox, useTestConnection } from '../../api/queries';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { Icon } from '../../components/Icon';
import { ScreenHeader } from '../../components/ScreenHeader';
import { EmptyState, ErrorState, Loading, Notice } from '../../components/StateViews';
import { useUi } from '../../state/ui';
import { ConnectionForm } from './ConnectionForm';
import { ServiceImport } from './ServiceImport';

type Editing = { mode: 'new' } | { mode: 'import' } | { mode: 'edit'; profile: ConnectionProfile } | null;

/** Where passwords are, in the words that are true for the shell the app runs in. */
function SecretStorageNotice({ storage }: { storage: AppInfo['secretStorage'] | undefined }) {
  if (storage === 'keychain') {
    return (
      <p className="muted secret-storage-line" data-testid="secret-storage-notice" data-storage={storage}>
        Saved passwords are encrypted with the OS keychain and never sent to this window.
      </p>
    );
  }
  if (storage === 'basic_text') {
    return (
      <Notice tone="warning" testId="secret-storage-notice">
        No OS keyring is available: saved passwords are only obfuscated on disk, not encrypted, and never sent to this
        window. Prefer ~/.pgpass or a keyring on shared machines.
      </Notice>
    );
  }
  if (storage === 'session_only') {
    return (
      <Notice tone="info" testId="secret-storage-notice">
        Browser bridge: the bridge process keeps passwords in memory while it runs (they are never sent to this page,
        and are gone when it stops). Use ~/.pgpass for passwords that persist.
      </Notice>
    );
  }
  return null;
}

function SandboxEntry({ profile, active }: { profile: ConnectionProfile | undefined; active: boolean }) {
  const start = useStartSandbox();
  const selectConnection = useUi((state) => state.selectConnection);
  const go = useUi((state) => state.go);
  const open = () =>
    start.mutate(undefined, {
      onSuccess: (started) => {
        selectConnection(started.id);
        go('tables');
      },
    });
  return (
    <li
      className={active ? 'connection-item sandbox active' : 'connection-item sandbox'}
      data-testid="sandbox-entry"
      data-connection-id={profile?.id ?? ''}
    >
      <div className="connection-icon">
        <Icon name="sandbox" size={20} />
      </div>
      <div className="connection-main">
        <div className="connection-name">
          Sandbox
          {active && <span className="badge badge-accent">active</span>}
        </div>
        <div className="connection-target">Sandbox: embedded PostgreSQL with sample data</div>
        {profile && (
          <div className="connection-meta mono">
            {profile.user}@{profile.host}:{profile.port}/{profile.database}
          </div>
        )}
        {start.isPending && (
          <div className="connection-meta" role="status">
            <span className="spinner small" aria-hidden="true" /> Starting… the first start creates the database and
            loads the sample data, which takes a minute.
          </div>
        )}
        {start.isError && <ErrorState error={start.error} compact testId="sandbox-error" />}
      </div>
      <div className="connection-actions">
        <button
          type="button"
          className="btn btn-primary"
          onClick={open}
          disabled={start.isPending}
          data-testid="sandbox-start"
        >
          <Icon name="play" />
          {profile ? 'Open' : 'Start'}
        </button>
      </div>
    </li>
  );
}

function ConnectionItem({
  profile,
  active,
  onEdit,
  onDelete,
}: {
  profile: ConnectionProfile;
  active: boolean;
  onEdit(): void;
  onDelete(): void;
}) {
  const test = useTestConnection();
  const [result, setResult] = useState<ConnectionTestResult | null>(null);
  const selectConnection = useUi((state) => state.selectConnection);
  const go = useUi((state) => state.go);
  return (
    <li
      className={active ? 'connection-item active' : 'connection-item'}
      data-testid="connection-row"
      data-connection-id={profile.id}
      data-connection-name={profile.name}
    >
      <div className="connection-icon">
        <Icon name="connections" size={20} />
      </div>
      <div className="connection-main">
        <div className="connection-name">
          {profile.name}
          {active && <span className="badge badge-accent">active</span>}
        </div>
        <div className="connection-target mono">
          {profile.user}@{profile.host}:{profile.port}/{profile.database}
        </div>
        <div className="connection-meta">
          <span className="badge">SSL {profile.sslMode}</span>
          {profile.production && (
            <span className="badge badge-bad" data-testid="connection-production-badge">
              production
            </span>
          )}
          {profile.readOnly && <span className="badge">read-only</span>}
          {profile.ssh && (
            <span className="badge" data-testid="connection-ssh-badge">
              SSH via {profile.ssh.user}@{profile.ssh.host}
              {profile.ssh.port === 22 ? '' : `:${profile.ssh.port}`}
            </span>
          )}
          {profile.hasPassword ? (
            <span className="badge badge-ok" data-testid="connection-has-password">
              <Icon name="lock" size={12} /> password saved
            </span>
          ) : (
            <span className="badge">no password saved</span>
          )}
        </div>
        {test.isError && <ErrorState error={test.error} compact testId="connection-test-error" />}
        {result && (
          <Notice tone={result.ok ? 'success' : 'error'} testId="connection-test-result">
            <span data-testid="connection-test-message">{result.message}</span>
          </Notice>
        )}
      </div>
      <div className="connection-actions">
        <button
          type="button"
          className="btn btn-primary"
          onClick={() => {
            selectConnection(profile.id);
            go('tables');
          }}
          data-testid="connection-use"
        >
          Use
        </button>
        <button
          type="button"
          className="btn"
          disabled={test.isPending}
          onClick={() => {
            setResult(null);
            test.mutate({ id: profile.id }, { onSuccess: setResult });
          }}
          data-testid="connection-test-saved"
        >
          {test.isPending ? 'Testing…' : 'Test'}
        </button>
        <button
          type="button"
          className="btn btn-icon"
          onClick={onEdit}
          title="Edit"
          aria-label={`Edit ${profile.name}`}
          data-testid="connection-edit"
        >
          <Icon name="edit" />
        </button>
        <button
          type="button"
          className="btn btn-icon"
          onClick={onDelete}
          title="Delete"
          aria-label={`Delete ${profile.name}`}
          data-testid="connection-delete"
        >
          <Icon name="trash" />
        </button>
      </div>
    </li>
  );
}

export function ConnectionsScreen() {
  const connections = useConnections();
  const appInfo = useAppInfo();
  const activeId = useUi((state) => state.connectionId);
  const selectConnection = useUi((state) => state.selectConnection);
  const [editing, setEditing] = useState<Editing>(null);
  const [deleting, setDeleting] = useState<ConnectionProfile | null>(null);
  const remove = useDeleteConnection();

  const sandbox = connections.data?.find((profile) => profile.kind === 'sandbox');
  const servers = connections.data?.filter((profile) => profile.kind === 'server') ?? [];

  return (
    <section className="screen" data-testid="screen-connections" aria-label="Connections">
      <ScreenHeader
        title="Connections"
        subtitle="PostgreSQL servers Partwise works with."
        actions={
          <>
            <button
              type="button"
              className="btn"
              onClick={() => setEditing({ mode: 'import' })}
              data-testid="connection-import"
            >
              Import from pg_service.conf
            </button>
            <button
              type="button"
              className="btn btn-primary"
              onClick={() => setEditing({ mode: 'new' })}
              data-testid="connection-add"
            >
              <Icon name="plus" />
              Add connection
            </button>
          </>
        }
      />
      <SecretStorageNotice storage={appInfo.data?.secretStorage} />
      <div className="split">
        <div className="split-main">
          {connections.isPending && <Loading label="Loading connections…" />}
          {connections.isError && (
            <ErrorState
              error={connections.error}
              onRetry={() => void connections.refetch()}
              retrying={connections.isFetching}
            />
          )}
          {connections.data && (
            <ul className="connection-list" data-testid="connection-list">
              <SandboxEntry profile={sandbox} active={sandbox !== undefined && sandbox.id === activeId} />
              {servers.map((profile) => (
                <ConnectionItem
                  key={profile.id}
                  profile={profile}
                  active={profile.id === activeId}
                  onEdit={() => setEditing({ mode: 'edit', profile })}
                  onDelete={() => setDeleting(profile)}
                />
              ))}
            </ul>
          )}
          {connections.data && servers.length === 0 && (
            <EmptyState
              title="No server connections yet"
              testId="connections-empty"
              action={
                <button type="button" className="btn" onClick={() => setEditing({ mode: 'new' })}>
                  <Icon name="plus" />
                  Add connection
                </button>
              }
            >
              Add the PostgreSQL server that holds the tables to partition, or start the Sandbox to try Partwise on
              sample data.
            </EmptyState>
          )}
        </div>
        <aside className="split-side">
          {editing?.mode === 'import' ? (
            <ServiceImport onDone={() => setEditing(null)} />
          ) : editing ? (
            <ConnectionForm
              key={editing.mode === 'edit' ? editing.profile.id : 'new'}
              profile={editing.mode === 'edit' ? editing.profile : undefined}
              secretStorage={appInfo.data?.secretStorage}
              onCancel={() => setEditing(null)}
              onSaved={(saved) => {
                setEditing(null);
                if (activeId === null) selectConnection(saved.id);
              }}
            />
          ) : (
            <div className="panel panel-help">
              <h2 className="panel-title">Working with connections</h2>
              <p>
                <strong>Use</strong> makes a connection active for Tables, Plan, Runs and the explorers. The active one
                is shown in the left column.
              </p>
              <p>
                The role needs to own the tables it migrates (or be a member of the owning role) and to create objects
                in their schema.
              </p>
              <p>
                Partwise keeps its metadata in the <code>partwise</code> schema of each database it manages.
              </p>
            </div>
          )}
        </aside>
      </div>
      {deleting && (
        <ConfirmDialog
          title={`Delete the connection ${deleting.name}?`}
          confirmLabel="Delete connection"
          tone="danger"
          busy={remove.isPending}
          error={remove.error}
          onCancel={() => {
            remove.reset();
            setDeleting(null);
          }}
          onConfirm={() =>
            remove.mutate(deleting.id, {
              onSuccess: () => {
                if (activeId === deleting.id) selectConnection(null);
                if (editing?.mode === 'edit' && editing.profile.id === deleting.id) setEditing(null);
                setDeleting(null);
              },
            })
          }
        >
          <p>
            The profile <strong>{deleting.name}</strong> ({deleting.user}@{deleting.host}:{deleting.port}/
            {deleting.database}) and its saved password are removed from Partwise. Nothing in the database changes.
          </p>
        </ConfirmDialog>
      )}
    </section>
  );
}
