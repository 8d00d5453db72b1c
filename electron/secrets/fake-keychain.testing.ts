// For tests only: a stand-in for the OS keychain behind Electron's safeStorage.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { SafeStorageLike } from './safe-storage-secret-store.js';

/** A stand-in for the OS keychain that really encrypts: AES-256-GCM under a key only it holds. */
export class FakeKeychain {
  readonly key = randomBytes(32);
  available = true;
  backend = 'gnome_libsecret';

  encrypt(plainText: string): Buffer {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([cipher.update(plainText, 'utf8'), cipher.final()]);
    return Buffer.concat([Buffer.from('v10'), iv, cipher.getAuthTag(), body]);
  }

  decrypt(data: Buffer): string {
    if (data.subarray(0, 3).toString() !== 'v10') throw new Error('unknown ciphertext prefix');
    const iv = data.subarray(3, 15);
    const tag = data.subarray(15, 31);
    const decipher = createDecipheriv('aes-256-gcm', this.key, iv);
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(data.subarray(31)), decipher.final()]).toString('utf8');
  }

  /** Shaped like Electron's deprecated synchronous API only. */
  syncApi(): SafeStorageLike {
    return {
      isEncryptionAvailable: () => this.available,
      encryptString: (s) => {
        if (!this.available) throw new Error('Encryption is not available.');
        return this.encrypt(s);
      },
      decryptString: (b) => this.decrypt(b),
      getSelectedStorageBackend: () => this.backend,
    };
  }

  /** Shaped like Electron 45: the async calls exist; the sync ones must then not be used. */
  asyncApi(options: { reEncrypt?: boolean } = {}): SafeStorageLike & { asyncCalls: number } {
    const api = {
      asyncCalls: 0,
      isEncryptionAvailable: (): boolean => {
        throw new Error('sync API used although the async one exists');
      },
      encryptString: (): Buffer => {
        throw new Error('sync API used although the async one exists');
      },
      decryptString: (): string => {
        throw new Error('sync API used although the async one exists');
      },
      getSelectedStorageBackend: () => this.backend,
      isAsyncEncryptionAvailable: async () => this.available,
      encryptStringAsync: async (s: string) => {
        api.asyncCalls++;
        return this.encrypt(s);
      },
      decryptStringAsync: async (b: Buffer) => {
        api.asyncCalls++;
        return { result: this.decrypt(b), shouldReEncrypt: options.reEncrypt ?? false };
      },
    };
    return api;
  }
}
