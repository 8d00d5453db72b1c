import { describe, expect, it } from 'vitest';
import {
  connectionUrl,
  parseConnectionString,
  parseConninfo,
  parseConnectionUrl,
  psqlCommand,
} from './connection-url.js';

describe('parseConnectionUrl', () => {
  it('reads every part, percent-decoded, with query parameters', () => {
    expect(
      parseConnectionUrl(
        'postgresql://app%40corp:p%3Aw%2Fd@db.example.com:6543/my%20db?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&application_name=nightly+job&options=-c%20search_path%3Dapp&connect_timeout=7',
      ),
    ).toEqual({
      user: 'app@corp',
      password: 'p:w/d',
      host: 'db.example.com',
      port: 6543,
      database: 'my db',
      sslMode: 'verify-full',
      sslRootCert: '/etc/ca.pem',
      // libpq decodes %XX only: a + stays a +.
      applicationName: 'nightly+job',
      options: '-c search_path=app',
      connectTimeoutSeconds: 7,
      ignored: [],
    });
  });

  it('reads IPv6 hosts, empty parts and Unix sockets', () => {
    expect(parseConnectionUrl('postgres://[::1]:5433/db')).toMatchObject({ host: '::1', port: 5433, database: 'db' });
    expect(parseConnectionUrl('postgresql://host')).toEqual({ host: 'host', ignored: [] });
    expect(parseConnectionUrl('postgresql://@host:/')).toEqual({ host: 'host', ignored: [] });
    expect(parseConnectionUrl('postgresql:///db?host=%2Fvar%2Frun%2Fpostgresql&port=5433')).toEqual({
      host: '/var/run/postgresql',
      port: 5433,
      database: 'db',
      ignored: [],
    });
    expect(parseConnectionUrl('POSTGRESQL://u@h/d?sslmode=allow').sslMode).toBe('prefer');
  });

  it('reads the passphrase of an encrypted client key, and never writes it back out', () => {
    const params = parseConnectionString('postgresql://app@db/sales?sslkey=/k/client.key&sslpassword=s%20cret');
    expect(params).toMatchObject({ sslKey: '/k/client.key', sslPassword: 's cret', ignored: [] });
    expect(parseConnectionString("host=db sslkey=/k/client.key sslpassword='a b'").sslPassword).toBe('a b');
    const url = connectionUrl({
      host: 'db',
      port: 5432,
      database: 'sales',
      user: 'app',
      sslMode: 'require',
      ...params,
    });
    expect(url).toBe('postgresql://app@db:5432/sales?sslmode=require&sslkey=%2Fk%2Fclient.key');
  });

  it('lists parameters a profile cannot keep', () => {
    expect(parseConnectionUrl('postgresql://h/d?target_session_attrs=read-write&gssencmode=disable').ignored).toEqual([
      'target_session_attrs',
      'gssencmode',
    ]);
  });

  it('names the bad part', () => {
    expect(() => parseConnectionUrl('mysql://h/d')).toThrow(/postgresql:\/\//);
    expect(() => parseConnectionUrl('postgresql://h:99999/d')).toThrow(/port: "99999"/);
    expect(() => parseConnectionUrl('postgresql://h1,h2/d')).toThrow(/several hosts/);
    expect(() => parseConnectionUrl('postgresql://h/d?sslmode=sometimes')).toThrow(/sslmode: "sometimes"/);
    expect(() => parseConnectionUrl('postgresql://h/d?connect_timeout=soon')).toThrow(/connect_timeout/);
    expect(() => parseConnectionUrl('postgresql://h/%E0%A4%A')).toThrow(/database: bad percent-encoding/);
    expect(() => parseConnectionUrl('postgresql://h/d?sslmode')).toThrow(/"sslmode" has no value/);
  });
});

describe('parseConninfo', () => {
  it('reads quoted values with escapes, and services', () => {
    expect(parseConninfo(`service=prod  dbname = 'my \\'odd\\' db' options='-c work_mem=64MB' host=a\\ b`)).toEqual({
      service: 'prod',
      database: "my 'odd' db",
      options: '-c work_mem=64MB',
      host: 'a b',
      ignored: [],
    });
    expect(() => parseConninfo(`dbname='open`)).toThrow(/dbname: unterminated/);
    expect(() => parseConninfo(`dbname`)).toThrow(/"dbname" has no value/);
    expect(parseConnectionString('service=x').service).toBe('x');
    expect(parseConnectionString('postgresql://h').host).toBe('h');
  });
});

describe('connectionUrl and psqlCommand', () => {
  const profile = {
    host: 'db.example.com',
    port: 5432,
    database: 'sales db',
    user: "o'brien",
    sslMode: 'verify-full' as const,
    sslRootCert: '/home/me/ca.pem',
    options: '-c search_path=app',
  };

  it('round-trips through the parser', () => {
    const url = connectionUrl(profile);
    expect(url).toBe(
      "postgresql://o'brien@db.example.com:5432/sales%20db?sslmode=verify-full&sslrootcert=%2Fhome%2Fme%2Fca.pem&options=-c%20search_path%3Dapp",
    );
    expect(parseConnectionUrl(url)).toEqual({ ...profile, ignored: [] });
    const socket = { ...profile, host: '/var/run/postgresql', sslMode: 'disable' as const };
    expect(parseConnectionUrl(connectionUrl(socket))).toEqual({ ...socket, ignored: [] });
    const v6 = { ...profile, host: '::1' };
    expect(parseConnectionUrl(connectionUrl(v6))).toEqual({ ...v6, ignored: [] });
  });

  it('quotes the URL for the shell', () => {
    expect(psqlCommand(profile)).toBe(`psql '${connectionUrl(profile).replace(/'/g, `'\\''`)}'`);
  });
});
