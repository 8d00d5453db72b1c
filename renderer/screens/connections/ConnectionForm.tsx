// Add or edit a server connection. The stored password is never shown: the
// form says whether one is saved and lets the user replace or clear it.
import { useEffect, useId, useRef, useState, type FormEvent } from 'react';
import type { AppInfo } from '../../../shared/contract';
import {
  ConnectionDraft,
  ConnectionTestDraft,
  SslMode,
  type ConnectionProfile,
  type ConnectionTestResult,
} from '../../../shared/connection';
import { errorKind } from '../../api/errors';
import { useSaveConnection, useTestConnection } from '../../api/queries';
import { Icon } from '../../components/Icon';
import { ErrorState, Notice } from '../../components/StateViews';

type PasswordMode = 'keep' | 'replace' | 'clear';

interface Fields {
  name: string;
  host: string;
  port: string;
  database: string;
  user: string;
  sslMode: SslMode;
  password: string;
}

const SSL_LABELS: Record<SslMode, string> = {
  disable: 'disable: no TLS',
  prefer: 'prefer: TLS when the server offers it',
  require: 'require: TLS, no certificate check',
  'verify-ca': 'verify-ca: TLS, certificate signed by a trusted CA',
  'verify-full': 'verify-full: TLS, certificate and host name checked',
};

function initialFields(profile: ConnectionProfile | undefined): Fields {
  return {
    name: profile?.name ?? '',
    host: profile?.host ?? 'localhost',
    port: String(profile?.port ?? 5432),
    database: profile?.database ?? 'postgres',
    user: profile?.user ?? 'postgres',
    sslMode: profile?.sslMode ?? 'prefer',
    password: '',
  };
}

type FieldErrors = Partial<Record<keyof Fields, string>>;

/** The draft to submit (a test needs no name), or the message for each invalid field. */
export function toDraft(
  fields: Fields,
  passwordMode: PasswordMode,
  id: string | undefined,
  purpose: 'save' | 'test' = 'save',
): { draft: ConnectionTestDraft; errors?: undefined } | { draft?: undefined; errors: FieldErrors } {
  const port = /^\d+$/.test(fields.port.trim()) ? Number(fields.port.trim()) : Number.NaN;
  const candidate = {
    ...(id ? { id } : {}),
    ...(purpose === 'save' || fields.name.trim() !== '' ? { name: fields.name } : {}),
    host: fields.host,
    port,
    database: fields.database,
    user: fields.user,
    sslMode: fields.sslMode,
    // undefined keeps the stored password, '' clears it.
    ...(passwordMode === 'clear' ? { password: '' } : passwordMode === 'replace' ? { password: fields.password } : {}),
  };
  const parsed = (purpose === 'save' ? ConnectionDraft : ConnectionTestDraft).safeParse(candidate);
  if (parsed.success) return { draft: parsed.data };
  const errors: FieldErrors = {};
  for (const issue of parsed.error.issues) {
    const field = issue.path[0] as keyof Fields | undefined;
    if (!field || errors[field]) continue;
    errors[field] = field === 'port' ? 'Port must be a number from 1 to 65535' : issue.message;
  }
  return { errors };
}

export function ConnectionForm({
  profile,
  secretStorage,
  onSaved,
  onCancel,
}: {
  profile: ConnectionProfile | undefined;
  secretStorage: AppInfo['secretStorage'] | undefined;
  onSaved(profile: ConnectionProfile): void;
  onCancel(): void;
}) {
  const [fields, setFields] = useState<Fields>(() => initialFields(profile));
  const [errors, setErrors] = useState<FieldErrors>({});
  // A new profile, or one without a saved password, starts with the field open.
  const [passwordMode, setPasswordMode] = useState<PasswordMode>(profile?.hasPassword ? 'keep' : 'replace');
  const [testResult, setTestResult] = useState<ConnectionTestResult | null>(null);
  const passwordRef = useRef<HTMLInputElement>(null);
  const nameRef = useRef<HTMLInputElement>(null);
  const save = useSaveConnection();
  const test = useTestConnection();
  const formId = useId();
  // Set when the password field must take focus as soon as it appears.
  const focusPasswordOnMount = useRef(false);

  useEffect(() => {
    nameRef.current?.focus();
  }, []);

  const askForPassword = () => {
    if (passwordRef.current) passwordRef.current.focus();
    else focusPasswordOnMount.current = true;
    setPasswordMode('replace');
  };

  const passwordInput = (element: HTMLInputElement | null) => {
    passwordRef.current = element;
    if (element && focusPasswordOnMount.current) {
      focusPasswordOnMount.current = false;
      element.focus();
    }
  };

  const set = (field: keyof Fields) => (value: string) => {
    setFields((current) => ({ ...current, [field]: value }));
    setErrors((current) => ({ ...current, [field]: undefined }));
    setTestResult(null);
  };

  const build = (purpose: 'save' | 'test') => {
    // An empty new password on a new profile means "none", not "clear".
    const mode = passwordMode === 'replace' && fields.password === '' && !profile ? 'keep' : passwordMode;
    const result = toDraft(fields, mode, profile?.id, purpose);
    if (result.errors) setErrors(result.errors);
    return result.draft;
  };

  const onTest = () => {
    const draft = build('test');
    if (!draft) return;
    setTestResult(null);
    test.mutate(
      { draft },
      {
        onSuccess: (result) => {
          setTestResult(result);
          if (!result.ok && result.failure === 'auth') askForPassword();
        },
      },
    );
  };

  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    const draft = build('save') as ConnectionDraft | undefined;
    if (!draft) return;
    save.mutate(draft, {
      onSuccess: (saved) => onSaved(saved),
      onError: (error) => {
        if (errorKind(error) === 'auth') askForPassword();
      },
    });
  };

  const field = (
    key: Exclude<keyof Fields, 'sslMode' | 'password'>,
    label: string,
    options: { type?: string; hint?: string } = {},
  ) => (
    <div className={errors[key] ? 'field invalid' : 'field'}>
      <label htmlFor={`${formId}-${key}`}>{label}</label>
      <input
        id={`${formId}-${key}`}
        ref={key === 'name' ? nameRef : undefined}
        type={options.type ?? 'text'}
        inputMode={key === 'port' ? 'numeric' : undefined}
        value={fields[key]}
        onChange={(event) => set(key)(event.target.value)}
        aria-invalid={errors[key] ? true : undefined}
        aria-describedby={errors[key] ? `${formId}-${key}-error` : undefined}
        autoComplete="off"
        spellCheck={false}
        data-testid={`connection-${key}`}
      />
      {errors[key] && (
        <span className="field-error" id={`${formId}-${key}-error`} data-testid={`connection-${key}-error`}>
          {errors[key]}
        </span>
      )}
      {options.hint && !errors[key] && <span className="field-hint">{options.hint}</span>}
    </div>
  );

  return (
    <form className="panel connection-form" onSubmit={onSubmit} noValidate data-testid="connection-form">
      <h2 className="panel-title">{profile ? `Edit ${profile.name}` : 'New connection'}</h2>
      {field('name', 'Name', { hint: 'How this connection appears in Partwise.' })}
      <div className="field-row">
        {field('host', 'Host')}
        <div className="field-port">{field('port', 'Port')}</div>
      </div>
      <div className="field-row">
        {field('database', 'Database')}
        {field('user', 'User')}
      </div>
      <div className="field">
        <label htmlFor={`${formId}-ssl`}>SSL mode</label>
        <select
          id={`${formId}-ssl`}
          value={fields.sslMode}
          onChange={(event) => set('sslMode')(event.target.value)}
          data-testid="connection-sslMode"
        >
          {SslMode.options.map((mode) => (
            <option key={mode} value={mode}>
              {SSL_LABELS[mode]}
            </option>
          ))}
        </select>
      </div>
      <div className={errors.password ? 'field invalid' : 'field'}>
        <label htmlFor={`${formId}-password`}>Password</label>
        {passwordMode === 'keep' && (
          <div className="password-state" data-testid="password-saved">
            <span className="badge badge-ok">
              <Icon name="lock" size={12} />
              password saved
            </span>
            <button type="button" className="btn btn-small" onClick={askForPassword} data-testid="password-replace">
              Replace
            </button>
            <button
              type="button"
              className="btn btn-small"
              onClick={() => setPasswordMode('clear')}
              data-testid="password-clear"
            >
              Clear
            </button>
          </div>
        )}
        {passwordMode === 'clear' && (
          <div className="password-state" data-testid="password-cleared">
            <span className="field-hint">The saved password is removed when you save.</span>
            <button
              type="button"
              className="btn btn-small"
              onClick={() => setPasswordMode('keep')}
              data-testid="password-keep"
            >
              Keep it
            </button>
          </div>
        )}
        {passwordMode === 'replace' && (
          <>
            <div className="password-state">
              <input
                id={`${formId}-password`}
                ref={passwordInput}
                type="password"
                value={fields.password}
                onChange={(event) => set('password')(event.target.value)}
                autoComplete="new-password"
                data-testid="connection-password"
              />
              {profile?.hasPassword && (
                <button
                  type="button"
                  className="btn btn-small"
                  onClick={() => {
                    set('password')('');
                    setPasswordMode('keep');
                  }}
                  data-testid="password-keep"
                >
                  Keep saved
                </button>
              )}
            </div>
            <span className="field-hint">
              {profile?.hasPassword
                ? 'The new password replaces the saved one when you save.'
                : 'Leave empty to use ~/.pgpass, a client certificate or trust authentication.'}
              {secretStorage === 'session_only' && ' Kept until the bridge stops.'}
              {secretStorage === 'basic_text' && ' Stored obfuscated, not encrypted (no OS keyring).'}
            </span>
          </>
        )}
      </div>

      {test.isError && <ErrorState error={test.error} compact testId="connection-test-error" />}
      {testResult && (
        <Notice tone={testResult.ok ? 'success' : 'error'} testId="connection-test-result">
          <div data-testid="connection-test-message">{testResult.message}</div>
        </Notice>
      )}
      {save.isError && <ErrorState error={save.error} compact testId="connection-save-error" />}

      <div className="form-actions">
        <button type="button" className="btn" onClick={onTest} disabled={test.isPending} data-testid="connection-test">
          {test.isPending ? 'Testing…' : 'Test connection'}
        </button>
        <span className="spacer" />
        <button type="button" className="btn" onClick={onCancel} data-testid="connection-cancel">
          Cancel
        </button>
        <button type="submit" className="btn btn-primary" disabled={save.isPending} data-testid="connection-save">
          {save.isPending ? 'Saving…' : 'Save'}
        </button>
      </div>
    </form>
  );
}
