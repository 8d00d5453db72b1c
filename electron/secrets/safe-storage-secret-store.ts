// Saved passwords of the desktop app, encrypted with Electron's safeStorage
// (macOS Keychain, Windows DPAPI, the Secret Service or KWallet on Linux). The
// file holds only tagged ciphertext, one entry per connection profile id:
//   { "version": 1, "secrets": { "<id>": { "v": 1, "alg": "electron-safeStorage", "data": "<base64>" } } }
// Nothing here imports electron: the safeStorage object is passed in, so the
// store runs (and is tested) in plain Node.
import { z } from 'zod';
import { PartwiseError } from '../db/errors.js';
import { FileMutex, readOptionalFile, writePrivateFile } from './private-file.js';
import type { SecretStorageKind, SecretStore } from './secret-store.js';

/**
 * The part of Electron's `safeStorage` this store uses. Electron 45 deprecates
 * the synchronous calls in favour of the async ones; both are accepted, and the
 * async ones are used when present (they also decrypt what the sync ones wrote).
 */
export interface SafeStorageLike {
  isEncryptionAvailable(): boolean;
  encryptString(plainText: string): Buffer;
  decryptString(encrypted: Buffer): string;
  /** Linux only: which password manager backs the key. */
  getSelectedStorageBackend?(): string;
  isAsyncEncryptionAvailable?(): Promise<boolean>;
  encryptStringAsync?(plainText: string): Promise<Buffer>;
  decryptStringAsync?(encrypted: Buffer): Promise<{ shouldReEncrypt: boolean; result: string }>;
}

export const SECRET_ALGORITHM = 'electron-safeStorage';

const SecretEntry = z.object({ v: z.literal(1), alg: z.literal(SECRET_ALGORITHM), data: z.string().min(1) });
// Entries are checked one by one: zod's record and loose objects drop keys such as `__proto__`.
const SecretFile = z.object({ version: z.literal(1), secrets: z.unknown() });
type SecretEntry = z.infer<typeof SecretEntry>;

const CANNOT_DECRYPT_HINT =
  'Enter the password again in the connection form. This happens when the OS keychain entry of Partwise was reset, or the password file was copied from another machine or user.';

export interface SafeStorageSecretStoreOptions {
  /** The JSON file holding the ciphertext, e.g. `<userData>/secrets.json`. */
  file: string;
  safeStorage: SafeStorageLike;
  platform?: NodeJS.Platform;
}

export class SafeStorageSecretStore implements SecretStore {
  private readonly file: string;
  private readonly safeStorage: SafeStorageLike;
  private readonly platform: NodeJS.Platform;
  private readonly mutex = new FileMutex();

  constructor(options: SafeStorageSecretStoreOptions) {
    this.file = options.file;
    this.safeStorage = options.safeStorage;
    this.platform = options.platform ?? process.platform;
  }

  /** basic_text on Linux when no keyring is in use: Electron then encrypts with a key written in its own source. */
  get kind(): SecretStorageKind {
    if (this.platform === 'linux' && this.safeStorage.getSelectedStorageBackend?.() === 'basic_text') {
      return 'basic_text';
    }
    return 'keychain';
  }

  private get usesAsyncApi(): boolean {
    const s = this.safeStorage;
    return Boolean(s.isAsyncEncryptionAvailable && s.encryptStringAsync && s.decryptStringAsync);
  }

  private async available(): Promise<boolean> {
    if (this.usesAsyncApi) return this.safeStorage.isAsyncEncryptionAvailable!();
    return this.safeStorage.isEncryptionAvailable();
  }

  private async requireEncryption(action: string): Promise<void> {
    if (!(await this.available())) {
      throw new PartwiseError(
        'blocked',
        `Passwords cannot be ${action}: the OS keychain is not available to Partwise.`,
        {
          hint: 'Save the connection without a password and keep it in ~/.pgpass or PGPASSWORD, or unlock the keychain (on Linux: run a Secret Service such as GNOME Keyring or KWallet) and restart Partwise.',
        },
      );
    }
  }

  private async encrypt(secret: string): Promise<Buffer> {
    return this.usesAsyncApi ? this.safeStorage.encryptStringAsync!(secret) : this.safeStorage.encryptString(secret);
  }

  private async decrypt(data: Buffer): Promise<{ result: string; shouldReEncrypt: boolean }> {
    if (this.usesAsyncApi) return this.safeStorage.decryptStringAsync!(data);
    return { result: this.safeStorage.decryptString(data), shouldReEncrypt: false };
  }

  /** Entries by profile id (a Map, so that no id can collide with an Object property). */
  private async readFile(): Promise<Map<string, SecretEntry>> {
    const text = await readOptionalFile(this.file);
    if (text === undefined) return new Map();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    const parsed = SecretFile.safeParse(json);
    const entries = new Map<string, SecretEntry>();
    let valid = parsed.success;
    const secrets = parsed.success ? parsed.data.secrets : undefined;
    if (typeof secrets !== 'object' || secrets === null || Array.isArray(secrets)) valid = false;
    else {
      for (const [id, value] of Object.entries(secrets)) {
        const entry = SecretEntry.safeParse(value);
        if (!entry.success) valid = false;
        else entries.set(id, entry.data);
      }
    }
    if (!valid) {
      throw new PartwiseError(
        'blocked',
        `The saved-password file ${this.file} is damaged or from an unknown version.`,
        {
          hint: 'Move the file away and restart Partwise; saved passwords will have to be entered again.',
        },
      );
    }
    return entries;
  }

  private async writeFile(entries: Map<string, SecretEntry>): Promise<void> {
    const contents = { version: 1, secrets: Object.fromEntries(entries) };
    await writePrivateFile(this.file, `${JSON.stringify(contents, null, 2)}\n`);
  }

  async has(id: string): Promise<boolean> {
    return (await this.readFile()).has(id);
  }

  async get(id: string): Promise<string | undefined> {
    const entry = (await this.readFile()).get(id);
    if (!entry) return undefined;
    await this.requireEncryption('read');
    let decrypted: { result: string; shouldReEncrypt: boolean };
    try {
      decrypted = await this.decrypt(Buffer.from(entry.data, 'base64'));
    } catch (error) {
      throw new PartwiseError('blocked', 'The saved password of this connection cannot be decrypted.', {
        hint: CANNOT_DECRYPT_HINT,
        cause: error,
      });
    }
    // The keychain rotated its key: store the secret again under the new one.
    if (decrypted.shouldReEncrypt) await this.set(id, decrypted.result);
    return decrypted.result;
  }

  async set(id: string, secret: string): Promise<void> {
    await this.requireEncryption('saved');
    const data = (await this.encrypt(secret)).toString('base64');
    await this.mutex.run(async () => {
      const entries = await this.readFile();
      entries.set(id, { v: 1, alg: SECRET_ALGORITHM, data });
      await this.writeFile(entries);
    });
  }

  async delete(id: string): Promise<void> {
    await this.mutex.run(async () => {
      const entries = await this.readFile();
      if (!entries.delete(id)) return;
      await this.writeFile(entries);
    });
  }
}
