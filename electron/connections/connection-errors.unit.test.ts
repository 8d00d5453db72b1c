// The words for failures that real servers and sockets produce but a test
// cannot summon on demand (a timeout, a reset, a shutdown under a query); the
// refused connection, the wrong password and the server stopped mid-session
// are exercised against real PostgreSQL in connection-handlers.db.test.ts.
import { describe, expect, it } from 'vitest';
import type { ConnectionTarget } from '../db/connect.js';
import { connectionFailure } from './connection-errors.js';

const target: ConnectionTarget = { host: 'db.internal', port: 6432, database: 'app', user: 'dba', sslMode: 'prefer' };
const nodeError = (code: string, message: string) => Object.assign(new Error(message), { code });

describe('connectionFailure', () => {
  it('names the server and keeps the raw error as the detail', () => {
    const timeout = connectionFailure(nodeError('ETIMEDOUT', 'connect ETIMEDOUT 10.0.0.5:6432'), target)!;
    expect(timeout.toInfo()).toEqual({
      kind: 'connection',
      message: 'db.internal:6432 did not answer in time.',
      detail: 'connect ETIMEDOUT 10.0.0.5:6432',
    });
    expect(connectionFailure(nodeError('ECONNRESET', 'read ECONNRESET'), target)!.message).toBe(
      'The connection to db.internal:6432 was reset: the server closed it or the network dropped it.',
    );
    expect(connectionFailure(nodeError('ENOTFOUND', 'getaddrinfo ENOTFOUND db.internal'), target)!.message).toBe(
      'The host name "db.internal" could not be resolved.',
    );
  });

  it('tells a server that shut down or is starting from a lost network', () => {
    const shutdown = connectionFailure(
      nodeError('57P01', 'terminating connection due to administrator command'),
      target,
    )!;
    expect(shutdown.kind).toBe('connection');
    expect(shutdown.message).toBe(
      'The server at db.internal:6432 closed the connection: it is shutting down or restarting.',
    );
    expect(shutdown.detail).toBe('57P01: terminating connection due to administrator command');
    expect(connectionFailure(nodeError('57P03', 'the database system is starting up'), target)!.message).toMatch(
      /is starting up or shutting down/,
    );
    expect(connectionFailure(new Error('Connection terminated unexpectedly'), target)!.message).toBe(
      'The connection to db.internal:6432 was lost: the server closed it or the network dropped it.',
    );
    expect(connectionFailure(new Error('Connection terminated due to connection timeout'), target)!.message).toBe(
      'db.internal:6432 did not complete the connection within 10 s.',
    );
  });

  it('reports refused logins as authentication failures', () => {
    const failed = connectionFailure(nodeError('28P01', 'password authentication failed for user "dba"'), target)!;
    expect(failed.kind).toBe('auth');
    expect(failed.message).toBe('Password authentication failed for user "dba".');
    const noPassword = connectionFailure(
      new Error('SASL: SCRAM-SERVER-FIRST-MESSAGE: client password must be a string'),
      target,
    )!;
    expect(noPassword.kind).toBe('auth');
  });

  it('leaves every other error alone', () => {
    expect(connectionFailure(nodeError('42P01', 'relation "t" does not exist'), target)).toBeNull();
    expect(connectionFailure(new Error('something else'), target)).toBeNull();
    expect(connectionFailure('a string', target)).toBeNull();
  });
});
