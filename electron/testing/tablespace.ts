// A tablespace for tests of partwise key move: CREATE TABLESPACE needs a
// superuser and an empty directory that the server's OS user owns (the
// embedded server runs as `postgres` when the tests run as root). The
// tablespace stays with the throwaway cluster; revoke what was granted before
// the test database (and its owner role) goes.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runAsUser } from '../embedded/run-as.js';
import type { TestDatabase } from './database.js';

/** Creates tablespace `<database>_<name>`; grants CREATE on it to the database's owner if asked. Returns its name. */
export async function createTablespace(db: TestDatabase, name: string, grant: boolean): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'partwise-ts-'));
  fs.chmodSync(dir, 0o700);
  const server = runAsUser();
  if (server) fs.chownSync(dir, server.uid, server.gid);
  const spc = `${db.name}_${name}`;
  await db.admin.query(`CREATE TABLESPACE "${spc}" LOCATION '${dir}'`);
  if (grant) await db.admin.query(`GRANT CREATE ON TABLESPACE "${spc}" TO "${db.owner}"`);
  return spc;
}

export async function revokeTablespace(db: TestDatabase, spc: string): Promise<void> {
  await db.admin.query(`REVOKE CREATE ON TABLESPACE "${spc}" FROM "${db.owner}"`);
}
