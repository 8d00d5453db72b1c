import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PartwiseError } from '../db/errors.js';
import { FakeKeychain } from './fake-keychain.testing.js';
import { SafeStorageSecretStore } from './safe-storage-secret-store.js';
import { SessionSecretStore } from './session-secret-store.js';

let dir: string;
let file: string;

beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'partwise-secrets-'));
  file = path.join(dir, 'data', 'secrets.json');
});

afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const PASSWORD = 'correct horse battery staple ✓';

async function rejection(promise: Promise<unknown>): Promise<PartwiseError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(PartwiseError);
    return error as PartwiseError;
  }
  throw new Error('expected a rejection');
}

describe('SafeStorageSecretStore', () => {
  it('round-trips a secret and writes only tagged ciphertext, readable by the owner only', async () => {
    const keychain = new FakeKeychain();
    const store = new SafeStorageSecretStore({ file, safeStorage: keychain.syncApi(), platform: 'linux' });
    expect(await store.get('profile-1')).toBeUndefined();
    expect(await store.has('profile-1')).toBe(false);

    await store.set('profile-1', PASSWORD);
    expect(await store.get('profile-1')).toBe(PASSWORD);
    expect(await store.has('profile-1')).toBe(true);

    const text = await fs.readFile(file, 'utf8');
    expect(text).not.toContain(PASSWORD);
    expect(text).not.toContain('correct horse');
    expect(text).not.toContain(Buffer.from(PASSWORD).toString('base64'));
    const json = JSON.parse(text);
    expect(json.version).toBe(1);
    expect(Object.keys(json.secrets)).toEqual(['profile-1']);
    expect(json.secrets['profile-1']).toMatchObject({ v: 1, alg: 'electron-safeStorage' });
    // The stored bytes are exactly what the keychain produced.
    expect(keychain.decrypt(Buffer.from(json.secrets['profile-1'].data, 'base64'))).toBe(PASSWORD);

    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
    expect((await fs.readdir(path.dirname(file))).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('keeps other secrets when one is replaced or deleted, also under concurrent writes', async () => {
    const store = new SafeStorageSecretStore({ file, safeStorage: new FakeKeychain().syncApi() });
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.set(`p${i}`, `secret-${i}`)));
    for (let i = 0; i < 20; i++) expect(await store.get(`p${i}`)).toBe(`secret-${i}`);
    await store.set('p3', 'changed');
    await store.delete('p4');
    await store.delete('never-saved');
    expect(await store.get('p3')).toBe('changed');
    expect(await store.get('p4')).toBeUndefined();
    expect(await store.get('p5')).toBe('secret-5');
  });

  it('treats ids as data, not as object properties', async () => {
    const store = new SafeStorageSecretStore({ file, safeStorage: new FakeKeychain().syncApi() });
    await store.set('__proto__', 'x');
    await store.set('constructor', 'y');
    expect(await store.get('__proto__')).toBe('x');
    expect(await store.get('constructor')).toBe('y');
    expect(await store.get('toString')).toBeUndefined();
  });

  it('uses the async API of Electron 45 when it exists, and re-encrypts when the keychain asks', async () => {
    const keychain = new FakeKeychain();
    const api = keychain.asyncApi({ reEncrypt: true });
    const store = new SafeStorageSecretStore({ file, safeStorage: api });
    await store.set('p', PASSWORD);
    const before = JSON.parse(await fs.readFile(file, 'utf8')).secrets.p.data;
    expect(await store.get('p')).toBe(PASSWORD);
    const after = JSON.parse(await fs.readFile(file, 'utf8')).secrets.p.data;
    expect(after).not.toBe(before); // written again under a fresh IV
    expect(keychain.decrypt(Buffer.from(after, 'base64'))).toBe(PASSWORD);
    expect(api.asyncCalls).toBeGreaterThanOrEqual(3);
  });

  it('reads secrets written through the sync API with the async one', async () => {
    const keychain = new FakeKeychain();
    await new SafeStorageSecretStore({ file, safeStorage: keychain.syncApi() }).set('p', PASSWORD);
    expect(await new SafeStorageSecretStore({ file, safeStorage: keychain.asyncApi() }).get('p')).toBe(PASSWORD);
  });

  it('gives a clear error for a secret encrypted under another key', async () => {
    await new SafeStorageSecretStore({ file, safeStorage: new FakeKeychain().syncApi() }).set('p', PASSWORD);
    const other = new SafeStorageSecretStore({ file, safeStorage: new FakeKeychain().syncApi() });
    const error = await rejection(other.get('p'));
    expect(error.kind).toBe('blocked');
    expect(error.message).toBe('The saved password of this connection cannot be decrypted.');
    expect(error.hint).toMatch(/Enter the password again/);
  });

  it('gives a clear error for damaged ciphertext', async () => {
    const keychain = new FakeKeychain();
    const store = new SafeStorageSecretStore({ file, safeStorage: keychain.syncApi() });
    await store.set('p', PASSWORD);
    const json = JSON.parse(await fs.readFile(file, 'utf8'));
    const bytes = Buffer.from(json.secrets.p.data, 'base64');
    bytes[bytes.length - 1]! ^= 0xff;
    json.secrets.p.data = bytes.toString('base64');
    await fs.writeFile(file, JSON.stringify(json));
    const error = await rejection(store.get('p'));
    expect(error.message).toMatch(/cannot be decrypted/);
  });

  it('refuses to read or overwrite a damaged file', async () => {
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, '{"version": 1, "secrets": {"p": "plain text password"}}');
    const store = new SafeStorageSecretStore({ file, safeStorage: new FakeKeychain().syncApi() });
    const error = await rejection(store.get('p'));
    expect(error.message).toContain(file);
    expect(error.message).toMatch(/damaged/);
    await rejection(store.set('q', 'x'));
    expect(await fs.readFile(file, 'utf8')).toContain('plain text password'); // untouched
  });

  it('refuses to store anything when encryption is unavailable', async () => {
    const keychain = new FakeKeychain();
    keychain.available = false;
    for (const safeStorage of [keychain.syncApi(), keychain.asyncApi()]) {
      const store = new SafeStorageSecretStore({ file, safeStorage });
      const error = await rejection(store.set('p', PASSWORD));
      expect(error.kind).toBe('blocked');
      expect(error.message).toMatch(/cannot be saved: the OS keychain is not available/);
      expect(error.hint).toMatch(/pgpass/);
      expect(existsSync(file)).toBe(false);
    }
  });

  it('reports the basic_text backend on Linux only', () => {
    const keychain = new FakeKeychain();
    const linux = new SafeStorageSecretStore({ file, safeStorage: keychain.syncApi(), platform: 'linux' });
    expect(linux.kind).toBe('keychain');
    keychain.backend = 'basic_text';
    expect(linux.kind).toBe('basic_text');
    const mac = new SafeStorageSecretStore({ file, safeStorage: keychain.syncApi(), platform: 'darwin' });
    expect(mac.kind).toBe('keychain');
    const { getSelectedStorageBackend: _omitted, ...windowsApi } = keychain.syncApi();
    expect(new SafeStorageSecretStore({ file, safeStorage: windowsApi, platform: 'win32' }).kind).toBe('keychain');
  });
});

describe('SessionSecretStore', () => {
  it('keeps secrets in memory only', async () => {
    const store = new SessionSecretStore();
    expect(store.kind).toBe('session_only');
    await store.set('p', PASSWORD);
    expect(await store.get('p')).toBe(PASSWORD);
    expect(await store.has('p')).toBe(true);
    await store.delete('p');
    expect(await store.get('p')).toBeUndefined();
    expect(await new SessionSecretStore().get('p')).toBeUndefined();
  });
});
