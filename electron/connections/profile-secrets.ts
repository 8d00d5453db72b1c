// The secrets of a saved profile, kept in the secret store (the OS keychain)
// and never in the profile file: the database password under the profile's
// id, the SSH password or key passphrase under `<id>#ssh`, and the passphrase
// of an encrypted client key under `<id>#sslkey`. A secret the profile no
// longer uses (no tunnel, no client key) is removed when the profile is saved.
import type { ConnectionDraft, ConnectionProfile } from '../../shared/connection.js';
import type { SecretStore } from '../secrets/secret-store.js';

export interface ProfileSecrets {
  password?: string | undefined;
  sshSecret?: string | undefined;
  sslPassword?: string | undefined;
}

type UsedBy = Pick<ConnectionProfile, 'ssh' | 'sslKey'>;

interface Slot {
  field: keyof ProfileSecrets;
  id(profileId: string): string;
  /** Whether a profile with these settings uses the secret. */
  used(profile: UsedBy): boolean;
}

const sshSecretId = (profileId: string): string => `${profileId}#ssh`;
const sslPasswordId = (profileId: string): string => `${profileId}#sslkey`;

const SLOTS: readonly Slot[] = [
  { field: 'password', id: (id) => id, used: () => true },
  { field: 'sshSecret', id: sshSecretId, used: (profile) => profile.ssh !== undefined },
  { field: 'sslPassword', id: sslPasswordId, used: (profile) => Boolean(profile.sslKey) },
];

/** The stored secrets a profile uses. */
export async function storedSecrets(secrets: SecretStore, id: string, profile: UsedBy): Promise<ProfileSecrets> {
  const found: ProfileSecrets = {};
  for (const slot of SLOTS) if (slot.used(profile)) found[slot.field] = await secrets.get(slot.id(id));
  return found;
}

/** Which of a profile's secrets are stored, for the form ("Saved. Type a new one to replace it."). */
export async function secretFlags(
  secrets: SecretStore,
  id: string,
  profile: UsedBy,
): Promise<Pick<ConnectionProfile, 'hasPassword' | 'hasSshSecret' | 'hasSslPassword'>> {
  return {
    hasPassword: await secrets.has(id),
    ...(profile.ssh ? { hasSshSecret: await secrets.has(sshSecretId(id)) } : {}),
    ...(profile.sslKey ? { hasSslPassword: await secrets.has(sslPasswordId(id)) } : {}),
  };
}

/**
 * The secrets a draft is tested with: each one typed, else (for an edited
 * profile, `storedId`) the stored one; '' means none.
 */
export async function draftSecrets(
  secrets: SecretStore,
  draft: ConnectionDraft | Omit<ConnectionDraft, 'name'>,
  storedId: string | undefined,
): Promise<ProfileSecrets> {
  const found: ProfileSecrets = {};
  for (const slot of SLOTS) {
    if (!slot.used(draft)) continue;
    const typed = draft[slot.field];
    found[slot.field] =
      typed !== undefined ? typed || undefined : storedId ? await secrets.get(slot.id(storedId)) : undefined;
  }
  return found;
}

/** One secret change, applied so that it can be undone if the profile cannot be saved. */
export interface SecretChange {
  id: string;
  /** The new value; '' removes it; undefined leaves it as it is. */
  value: string | undefined;
}

/** What saving a draft changes in the secret store: what was typed, and the removal of secrets no longer used. */
export async function secretChanges(secrets: SecretStore, id: string, draft: ConnectionDraft): Promise<SecretChange[]> {
  const changes: SecretChange[] = [];
  for (const slot of SLOTS) {
    const key = slot.id(id);
    if (slot.used(draft)) changes.push({ id: key, value: draft[slot.field] });
    else if (await secrets.has(key)) changes.push({ id: key, value: '' });
  }
  return changes;
}

/** Applies the changes; returns what puts every secret back as it was. */
export async function applySecrets(secrets: SecretStore, changes: SecretChange[]): Promise<() => Promise<void>> {
  const previous: Array<{ id: string; value: string | undefined }> = [];
  const undo = async () => {
    for (const { id, value } of previous.reverse()) {
      if (value === undefined) await secrets.delete(id).catch(() => undefined);
      else await secrets.set(id, value).catch(() => undefined);
    }
  };
  try {
    for (const change of changes) {
      if (change.value === undefined) continue;
      previous.push({ id: change.id, value: await secrets.get(change.id) });
      if (change.value === '') await secrets.delete(change.id);
      else await secrets.set(change.id, change.value);
    }
  } catch (error) {
    await undo();
    throw error;
  }
  return undo;
}

/** Removes every secret of a deleted profile. */
export async function deleteSecrets(secrets: SecretStore, id: string): Promise<void> {
  for (const slot of SLOTS) await secrets.delete(slot.id(id));
}
