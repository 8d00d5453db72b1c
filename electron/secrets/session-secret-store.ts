// Passwords for the lifetime of this process only (the browser bridge): a
// browser has no keychain the bridge could use, and writing them to disk in
// plain text is not an option. Users who want a password remembered across
// runs keep it in ~/.pgpass or PGPASSWORD, which pg reads when none is given.
import type { SecretStore } from './secret-store.js';

export class SessionSecretStore implements SecretStore {
  readonly kind = 'session_only' as const;
  private readonly secrets = new Map<string, string>();

  async get(id: string): Promise<string | undefined> {
    return this.secrets.get(id);
  }

  async set(id: string, secret: string): Promise<void> {
    this.secrets.set(id, secret);
  }

  async delete(id: string): Promise<void> {
    this.secrets.delete(id);
  }

  async has(id: string): Promise<boolean> {
    return this.secrets.has(id);
  }
}
