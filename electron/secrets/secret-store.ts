// Where connection passwords live. The shell picks the store: the desktop app
// keeps them encrypted by the OS keychain (Electron safeStorage); the browser
// bridge keeps them in memory for its own lifetime only.

/**
 * keychain: encrypted with a key the OS keychain guards.
 * basic_text: Electron's Linux fall-back when no keyring is running; the key is
 * a constant, so the file is obfuscated, not protected (the UI says so).
 * session_only: never written to disk.
 */
export type SecretStorageKind = 'keychain' | 'basic_text' | 'session_only';

export interface SecretStore {
  readonly kind: SecretStorageKind;
  /** The secret saved for a connection profile id, or undefined. */
  get(id: string): Promise<string | undefined>;
  set(id: string, secret: string): Promise<void>;
  /** Removes the secret; no error when there is none. */
  delete(id: string): Promise<void>;
  /** Whether a secret exists, without decrypting it. */
  has(id: string): Promise<boolean>;
}
