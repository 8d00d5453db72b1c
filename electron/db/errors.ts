// One error type for everything the engine reports, mapped from PostgreSQL's
// SQLSTATEs and node's socket errors to kinds a person (or the UI) can act on.
import type { ErrorInfo, ErrorKind } from '../../shared/errors.js';

interface PgLikeError {
  code?: string;
  message?: string;
  hint?: string;
  detail?: string;
}

const KIND_BY_SQLSTATE: Record<string, ErrorKind> = {
  '42501': 'privilege', // insufficient_privilege
  '28P01': 'auth', // invalid_password
  '28000': 'auth', // invalid_authorization_specification
  '3D000': 'not_found', // invalid_catalog_name (unknown database)
  '42P01': 'not_found', // undefined_table
  '42703': 'not_found', // undefined_column
  '42704': 'not_found', // undefined_object
  '3F000': 'not_found', // invalid_schema_name
  '22023': 'invalid_input', // invalid_parameter_value
  '22P02': 'invalid_input', // invalid_text_representation
  '23502': 'invalid_input', // not_null_violation
  '42809': 'invalid_input', // wrong_object_type
  '42P07': 'conflict', // duplicate_table
  '55006': 'conflict', // object_in_use
  '40001': 'conflict', // serialization_failure
  '40P01': 'conflict', // deadlock_detected
  '55P03': 'lock_timeout', // lock_not_available
  '57014': 'cancelled', // query_canceled
  '0A000': 'blocked', // feature_not_supported
  '25000': 'blocked', // invalid_transaction_state (require_read_committed: a call outside READ COMMITTED)
  '53200': 'blocked', // out_of_memory / shared memory (lock table)
  '08006': 'connection',
  '08001': 'connection',
  '57P01': 'connection', // admin_shutdown
};

const KIND_BY_SOCKET_CODE: Record<string, ErrorKind> = {
  ECONNREFUSED: 'connection',
  ENOTFOUND: 'connection',
  ETIMEDOUT: 'connection',
  ECONNRESET: 'connection',
  EHOSTUNREACH: 'connection',
};

/** PostgreSQL says only which timeout ended the statement; the app's screens set one (see PoolRegistry). */
const STATEMENT_TIMEOUT_HINT =
  'The query ran longer than statement_timeout allows: the server is busy, or the query waits for a lock another session holds (a migration swapping a table, say). Try again; pg_stat_activity shows who holds the lock.';

export class PartwiseError extends Error {
  readonly kind: ErrorKind;
  readonly hint?: string;
  readonly detail?: string;
  readonly sqlstate?: string;

  constructor(
    kind: ErrorKind,
    message: string,
    extra: { hint?: string; detail?: string; sqlstate?: string; cause?: unknown } = {},
  ) {
    super(message, { cause: extra.cause });
    this.name = 'PartwiseError';
    this.kind = kind;
    this.hint = extra.hint;
    this.detail = extra.detail;
    this.sqlstate = extra.sqlstate;
  }

  /** Wraps anything thrown into a PartwiseError, keeping PostgreSQL's message and hint. */
  static from(error: unknown, context?: string): PartwiseError {
    if (error instanceof PartwiseError) return error;
    const pgError = (typeof error === 'object' && error !== null ? error : {}) as PgLikeError;
    const code = pgError.code;
    const kind: ErrorKind =
      (code ? (KIND_BY_SQLSTATE[code] ?? KIND_BY_SOCKET_CODE[code]) : undefined) ??
      (code?.startsWith('28') ? 'auth' : code?.startsWith('08') ? 'connection' : 'internal');
    const base = pgError.message ?? String(error);
    const message = context ? `${context}: ${base}` : base;
    return new PartwiseError(kind, message, {
      hint: pgError.hint ?? (code === '57014' && /statement timeout/.test(base) ? STATEMENT_TIMEOUT_HINT : undefined),
      detail: pgError.detail,
      sqlstate: code && /^[0-9A-Z]{5}$/.test(code) ? code : undefined,
      cause: error,
    });
  }

  toInfo(): ErrorInfo {
    return {
      kind: this.kind,
      message: this.message,
      ...(this.hint ? { hint: this.hint } : {}),
      ...(this.detail ? { detail: this.detail } : {}),
      ...(this.sqlstate ? { sqlstate: this.sqlstate } : {}),
    };
  }
}
