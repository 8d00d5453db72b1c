// Add or edit a server connection. The stored password is never shown: the
// form says whether one is saved and lets the user replace or clear it. A
// pasted postgresql:// URL fills the fields; TLS files, an SSH tunnel and the
// production / read-only marks sit in their own sections.
import { useEffect, useId, useRef, useState, type FormEvent, type ReactNode } from 'react';
import type { AppInfo } from '../../../shared/contract';
import {
  ConnectionDraft,
  ConnectionTestDraft,
  SslMode,
  SshAuth,
  type ConnectionProfile,
  type ConnectionTestResult,
} from '../../../shared/connection';
import { connectionUrl, parseConnectionString, psqlCommand, type UrlProfile } from '../../../shared/connection-url';
import { CopyButton } from '../../components/CopyButton';
import { Switch } from '../../components/Switch';
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
  sslRootCert: string;
  sslCert: string;
  sslKey: string;
  sslPassword: string;
  applicationName: string;
  options: string;
  connectTimeoutSeconds: string;
  useSsh: boolean;
  sshHost: string;
  sshPort: string;
  sshUser: string;
  sshAuth: SshAuth;
  sshKeyFile: string;
  sshHostKey: string;
  sshSecret: string;
  production: boolean;
  readOnly: boolean;
}

type TextField = { [K in keyof Fields]: Fields[K] extends string ? K : never }[keyof Fields];

/** Where each contract field's errors show in the form. */
const FIELD_OF_PATH: Record<string, keyof Fields> = {
  'ssh.host': 'sshHost',
  'ssh.port': 'sshPort',
  'ssh.user': 'sshUser',
  'ssh.auth': 'sshAuth',
  'ssh.keyFile': 'sshKeyFile',
  'ssh.hostKey': 'sshHostKey',
};

const SSH_AUTH_LABELS: Record<SshAuth, string> = {
  key: 'Private key file',
  password: 'Password',
  agent: 'SSH agent (SSH_AUTH_SOCK)',
};

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
    sslRootCert: profile?.sslRootCert ?? '',
    sslCert: profile?.sslCert ?? '',
    sslKey: profile?.sslKey ?? '',
    sslPassword: '',
    applicationName: profile?.applicationName ?? '',
    options: profile?.options ?? '',
    connectTimeoutSeconds: profile?.connectTimeoutSeconds ? String(profile.connectTimeoutSeconds) : '',
    useSsh: profile?.ssh !== undefined,
    sshHost: profile?.ssh?.host ?? '',
    sshPort: String(profile?.ssh?.port ?? 22),
    sshUser: profile?.ssh?.user ?? '',
    sshAuth: profile?.ssh?.auth ?? 'key',
    sshKeyFile: profile?.ssh?.keyFile ?? '',
    sshHostKey: profile?.ssh?.hostKey ?? '',
    sshSecret: '',
    production: profile?.production ?? false,
    readOnly: profile?.readOnly ?? false,
  };
}

const number = (text: string) => (/^\d+$/.test(text.trim()) ? Number(text.trim()) : Number.NaN);
const optional = (text: string) => (text.trim() === '' ? undefined : text.trim());

/** The fields a connection string can say, for copying the profile out as a URL or a psql command. */
export function urlProfileOf(fields: Fields): UrlProfile | null {
  const port = number(fields.port);
  if (!fields.host.trim() || !fields.database.trim() || !fields.user.trim() || Number.isNaN(port)) return null;
  return {
    host: fields.host.trim(),
    port,
    database: fields.database.trim(),
    user: fields.user.trim(),
    sslMode: fields.sslMode,
    sslRootCert: optional(fields.sslRootCert),
    sslCert: optional(fields.sslCert),
    sslKey: optional(fields.sslKey),
    applicationName: optional(fields.applicationName),
    options: optional(fields.options),
    connectTimeoutSeconds: Number.isNaN(number(fields.connectTimeoutSeconds))
      ? undefined
      : number(fields.connectTimeoutSeconds),
  };
}

/** The fields a pasted URL (or key=value string) fills in, and what it said that a profile cannot keep. */
export function fieldsFromConnectionString(
  text: string,
  fields: Fields,
): { fields: Fields; ignored: string[]; password?: string } | { error: string } {
  let params;
  try {
    params = parseConnectionString(text);
  } catch (error) {
    return { error: (error as Error).message };
  }
  if (params.service) return { error: 'A service name cannot be pasted; use Import from pg_service.conf.' };
  return {
    fields: {
      ...fields,
      host: params.host ?? 'localhost',
      port: String(params.port ?? 5432),
      database: params.database ?? params.user ?? fields.database,
      user: params.user ?? fields.user,
      sslMode: params.sslMode ?? 'prefer',
      sslRootCert: params.sslRootCert ?? '',
      sslCert: params.sslCert ?? '',
      sslKey: params.sslKey ?? '',
      sslPassword: params.sslPassword ?? '',
      applicationName: params.applicationName ?? '',
      options: params.options ?? '',
      connectTimeoutSeconds: params.connectTimeoutSeconds ? String(params.connectTimeoutSeconds) : '',
      password: params.password ?? fields.password,
    },
    ignored: params.ignored,
    ...(params.password !== undefined ? { password: params.password } : {}),
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
  const timeout = optional(fields.connectTimeoutSeconds);
  const candidate = {
    ...(id ? { id } : {}),
    ...(purpose === 'save' || fields.name.trim() !== '' ? { name: fields.name } : {}),
    host: fields.host,
    port: number(fields.port),
    database: fields.database,
    user: fields.user,
    sslMode: fields.sslMode,
    ...(optional(fields.sslRootCert) ? { sslRootCert: fields.sslRootCert } : {}),
    ...(optional(fields.sslCert) ? { sslCert: fields.sslCert } : {}),
    ...(optional(fields.sslKey) ? { sslKey: fields.sslKey } : {}),
    // Empty keeps the stored passphrase.
    ...(optional(fields.sslKey) && fields.sslPassword !== '' ? { sslPassword: fields.sslPassword } : {}),
    ...(optional(fields.applicationName) ? { applicationName: fields.applicationName.trim() } : {}),
    ...(optional(fields.options) ? { options: fields.options.trim() } : {}),
    ...(timeout ? { connectTimeoutSeconds: number(timeout) } : {}),
    ...(fields.useSsh
      ? {
          ssh: {
            host: fields.sshHost,
            port: number(fields.sshPort),
            user: fields.sshUser,
            auth: fields.sshAuth,
            ...(fields.sshAuth === 'key' && optional(fields.sshKeyFile) ? { keyFile: fields.sshKeyFile } : {}),
            ...(optional(fields.sshHostKey) ? { hostKey: fields.sshHostKey.trim() } : {}),
          },
          // Empty keeps the stored SSH secret.
          ...(fields.sshAuth !== 'agent' && fields.sshSecret !== '' ? { sshSecret: fields.sshSecret } : {}),
        }
      : {}),
    ...(fields.production ? { production: true } : {}),
    ...(fields.readOnly ? { readOnly: true } : {}),
    // undefined keeps the stored password, '' clears it.
    ...(passwordMode === 'clear' ? { password: '' } : passwordMode === 'replace' ? { password: fields.password } : {}),
  };
  const parsed = (purpose === 'save' ? ConnectionDraft : ConnectionTestDraft).safeParse(candidate);
  if (parsed.success) return { draft: parsed.data };
  const errors: FieldErrors = {};
  for (const issue of parsed.error.issues) {
    const path = issue.path.join('.');
    const field = FIELD_OF_PATH[path] ?? (issue.path[0] as keyof Fields | undefined);
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

  const set =
    <K extends keyof Fields>(field: K) =>
    (value: Fields[K]) => {
      setFields((current) => ({ ...current, [field]: value }));
      setErrors((current) => ({ ...current, [field]: undefined }));
      setTestResult(null);
    };

  const [pasted, setPasted] = useState('');
  const [pasteNote, setPasteNote] = useState<{ tone: 'error' | 'info'; text: string } | null>(null);
  const fillFromPaste = () => {
    const result = fieldsFromConnectionString(pasted, fields);
    if ('error' in result) {
      setPasteNote({ tone: 'error', text: result.error });
      return;
    }
    setFields({ ...result.fields, name: fields.name || result.fields.host });
    setErrors({});
    setTestResult(null);
    setPasted('');
    if (result.password !== undefined) setPasswordMode('replace');
    setPasteNote(
      result.ignored.length > 0 ? { tone: 'info', text: `Not kept by a profile: ${result.ignored.join(', ')}.` } : null,
    );
  };
  const copyable = urlProfileOf(fields);

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

  /** A secret other than the database password: never shown, empty keeps the saved one. */
  const secretField = (key: 'sshSecret' | 'sslPassword', label: string, hint: string) => (
    <div className="field">
      <label htmlFor={`${formId}-${key}`}>{label}</label>
      <input
        id={`${formId}-${key}`}
        type="password"
        value={fields[key]}
        onChange={(event) => set(key)(event.target.value)}
        autoComplete="new-password"
        data-testid={`connection-${key}`}
      />
      <span className="field-hint">{hint}</span>
    </div>
  );

  const field = (
    key: Exclude<TextField, 'sslMode' | 'password' | 'sshAuth' | 'sshSecret' | 'sslPassword'>,
    label: string,
    options: { type?: string; hint?: ReactNode; placeholder?: string } = {},
  ) => (
    <div className={errors[key] ? 'field invalid' : 'field'}>
      <label htmlFor={`${formId}-${key}`}>{label}</label>
      <input
        id={`${formId}-${key}`}
        ref={key === 'name' ? nameRef : undefined}
        type={options.type ?? 'text'}
        inputMode={key === 'port' || key === 'sshPort' || key === 'connectTimeoutSeconds' ? 'numeric' : undefined}
        placeholder={options.placeholder}
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
      <div className="field">
        <label htmlFor={`${formId}-paste`}>Connection URL</label>
        <div className="password-state">
          <input
            id={`${formId}-paste`}
            type="text"
            value={pasted}
            placeholder="postgresql://user@host:5432/database?sslmode=verify-full"
            onChange={(event) => {
              setPasted(event.target.value);
              setPasteNote(null);
            }}
            onKeyDown={(event) => {
              if (event.key === 'Enter') {
                event.preventDefault();
                fillFromPaste();
              }
            }}
            autoComplete="off"
            spellCheck={false}
            data-testid="connection-url"
          />
          <button
            type="button"
            className="btn btn-small"
            onClick={fillFromPaste}
            disabled={pasted.trim() === ''}
            data-testid="connection-url-fill"
          >
            Fill in
          </button>
        </div>
        {pasteNote ? (
          <span className={pasteNote.tone === 'error' ? 'field-error' : 'field-hint'} data-testid="connection-url-note">
            {pasteNote.text}
          </span>
        ) : (
          <span className="field-hint">Paste a URL or key=value settings to fill in the fields below.</span>
        )}
      </div>
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
          onChange={(event) => set('sslMode')(event.target.value as SslMode)}
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

      <fieldset className="form-section" data-testid="connection-tls">
        <legend>TLS certificates</legend>
        {field('sslRootCert', 'CA certificate file', {
          placeholder: '/path/to/ca.pem',
          hint: 'Verifies the server (verify-ca, verify-full). Empty: PGSSLROOTCERT, ~/.postgresql/root.crt or the system CAs.',
        })}
        <div className="field-row">
          {field('sslCert', 'Client certificate file', { placeholder: '/path/to/client.crt' })}
          {field('sslKey', 'Client key file', { placeholder: '/path/to/client.key' })}
        </div>
        {optional(fields.sslKey) &&
          secretField(
            'sslPassword',
            'Client key passphrase',
            profile?.hasSslPassword
              ? 'Saved. Type a new one to replace it.'
              : 'For an encrypted key (sslpassword); leave empty otherwise. Kept like the database password.',
          )}
      </fieldset>

      <fieldset className="form-section" data-testid="connection-ssh">
        <legend>
          <Switch checked={fields.useSsh} onChange={(on) => set('useSsh')(on)} testId="connection-useSsh">
            SSH tunnel through a bastion
          </Switch>
        </legend>
        {fields.useSsh && (
          <>
            <span className="field-hint">Host and port above are then as the bastion sees the server.</span>
            <div className="field-row">
              {field('sshHost', 'SSH host')}
              <div className="field-port">{field('sshPort', 'SSH port')}</div>
            </div>
            {field('sshUser', 'SSH user')}
            <div className="field">
              <label htmlFor={`${formId}-sshAuth`}>SSH login</label>
              <select
                id={`${formId}-sshAuth`}
                value={fields.sshAuth}
                onChange={(event) => set('sshAuth')(event.target.value as SshAuth)}
                data-testid="connection-sshAuth"
              >
                {SshAuth.options.map((auth) => (
                  <option key={auth} value={auth}>
                    {SSH_AUTH_LABELS[auth]}
                  </option>
                ))}
              </select>
            </div>
            {fields.sshAuth === 'key' &&
              field('sshKeyFile', 'SSH private key file', { placeholder: '~/.ssh/id_ed25519' })}
            {fields.sshAuth !== 'agent' &&
              secretField(
                'sshSecret',
                fields.sshAuth === 'key' ? 'Key passphrase' : 'SSH password',
                profile?.hasSshSecret
                  ? 'Saved. Type a new one to replace it.'
                  : fields.sshAuth === 'key'
                    ? 'Leave empty for a key without a passphrase.'
                    : 'Kept like the database password.',
              )}
            {field('sshHostKey', 'Host key fingerprint', {
              placeholder: 'SHA256:…',
              hint: 'Empty: checked against ~/.ssh/known_hosts; a key seen for the first time is shown for you to accept.',
            })}
          </>
        )}
      </fieldset>

      <fieldset className="form-section" data-testid="connection-advanced">
        <legend>Session and safety</legend>
        <div className="field-row">
          {field('applicationName', 'Application name', { placeholder: 'partwise' })}
          <div className="field-port">
            {field('connectTimeoutSeconds', 'Connect timeout (s)', { placeholder: '10' })}
          </div>
        </div>
        {field('options', 'Options', { placeholder: '-c search_path=app' })}
        <div className="switch-row">
          <Switch checked={fields.production} onChange={(on) => set('production')(on)} testId="connection-production">
            Production: a red band on every screen; migrate, roll back and finalize ask for the table name
          </Switch>
          <Switch checked={fields.readOnly} onChange={(on) => set('readOnly')(on)} testId="connection-readOnly">
            Read-only: Partwise refuses every action that writes
          </Switch>
        </div>
      </fieldset>

      {test.isError && <ErrorState error={test.error} compact testId="connection-test-error" />}
      {testResult && (
        <Notice tone={testResult.ok ? 'success' : 'error'} testId="connection-test-result">
          <div data-testid="connection-test-message">{testResult.message}</div>
          {testResult.sshHostKey && (
            <div className="host-key-accept">
              <span className="mono" data-testid="connection-host-key">
                {testResult.sshHostKey.keyType} {testResult.sshHostKey.fingerprint}
              </span>
              <button
                type="button"
                className="btn btn-small"
                onClick={() => {
                  set('sshHostKey')(testResult.sshHostKey!.fingerprint);
                  setTestResult(null);
                }}
                data-testid="connection-host-key-accept"
              >
                Trust this key
              </button>
            </div>
          )}
        </Notice>
      )}
      {save.isError && <ErrorState error={save.error} compact testId="connection-save-error" />}

      {copyable && (
        <div className="copy-row" data-testid="connection-copy">
          <CopyButton text={connectionUrl(copyable)} label="Copy URL" testId="connection-copy-url" />
          <CopyButton text={psqlCommand(copyable)} label="Copy psql command" testId="connection-copy-psql" />
        </div>
      )}
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
