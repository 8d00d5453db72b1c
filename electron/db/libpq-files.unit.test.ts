import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseServiceFile, pgpassPassword, readServices, serviceFiles } from './libpq-files.js';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'partwise-libpq-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('pg_service.conf', () => {
  it('reads services with comments, spaces in values and odd names', () => {
    const services = parseServiceFile(
      [
        '# comment',
        '[prod main]',
        'host = db.example.com',
        'port=6432',
        'dbname=sales',
        'options=-c search_path=app,public',
        'sslmode=verify-full',
        'sslrootcert=/etc/ssl/prod ca.pem',
        'target_session_attrs=read-write',
        '',
        '[empty]',
      ].join('\r\n'),
      '/x/pg_service.conf',
    );
    expect(services).toEqual([
      {
        name: 'prod main',
        file: '/x/pg_service.conf',
        line: 2,
        params: {
          host: 'db.example.com',
          port: 6432,
          database: 'sales',
          options: '-c search_path=app,public',
          sslMode: 'verify-full',
          sslRootCert: '/etc/ssl/prod ca.pem',
          ignored: ['target_session_attrs'],
        },
      },
      { name: 'empty', file: '/x/pg_service.conf', line: 11, params: { ignored: [] } },
    ]);
  });

  it('names the file and line of a bad entry', () => {
    expect(() => parseServiceFile('host=x\n', '/f')).toThrow('/f:1: "host=x" comes before any [service] header');
    expect(() => parseServiceFile('[a]\nport=abc\n', '/f')).toThrow('/f:2: port: "abc" is not a port number');
    expect(() => parseServiceFile('[a]\nhost\n', '/f')).toThrow('/f:2: expected "keyword=value", got "host"');
    expect(() => parseServiceFile('[a]\nservice=b\n', '/f')).toThrow('/f:2: nested service');
  });

  it("reads the user's file before the system's, the first definition of a name winning", () => {
    const user = path.join(dir, 'user.conf');
    fs.writeFileSync(user, '[shared]\nhost=mine\n[own]\nhost=a\n');
    fs.mkdirSync(path.join(dir, 'etc'));
    fs.writeFileSync(path.join(dir, 'etc', 'pg_service.conf'), '[shared]\nhost=theirs\n[system]\nhost=b\n');
    const env = { PGSERVICEFILE: user, PGSYSCONFDIR: path.join(dir, 'etc') };
    expect(serviceFiles(env)).toEqual([user, path.join(dir, 'etc', 'pg_service.conf')]);
    expect(readServices(env).map((s) => [s.name, s.params.host])).toEqual([
      ['shared', 'mine'],
      ['own', 'a'],
      ['system', 'b'],
    ]);
  });
});

describe('.pgpass', () => {
  it('matches host, port, database and user with wildcards and escapes', () => {
    const file = path.join(dir, 'pgpass');
    fs.writeFileSync(
      file,
      ['# comment', 'db:5432:sales:app:first', 'db:*:*:app:wild\\:card\\\\', 'localhost:5433:*:*:socket'].join('\n'),
      { mode: 0o600 },
    );
    const env = { PGPASSFILE: file };
    expect(pgpassPassword({ host: 'db', port: 5432, database: 'sales', user: 'app' }, env)).toBe('first');
    expect(pgpassPassword({ host: 'db', port: 6432, database: 'other', user: 'app' }, env)).toBe('wild:card\\');
    expect(pgpassPassword({ host: '/var/run/postgresql', port: 5433, database: 'x', user: 'y' }, env)).toBe('socket');
    expect(pgpassPassword({ host: 'db', port: 5432, database: 'sales', user: 'nobody' }, env)).toBeUndefined();
    // As libpq: a file that group or others can read is not used.
    fs.chmodSync(file, 0o640);
    expect(pgpassPassword({ host: 'db', port: 5432, database: 'sales', user: 'app' }, env)).toBeUndefined();
    expect(
      pgpassPassword({ host: 'db', port: 5432, database: 'sales', user: 'app' }, { PGPASSFILE: '/nope' }),
    ).toBeUndefined();
  });
});
