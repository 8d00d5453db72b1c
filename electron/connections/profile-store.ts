// Saved connection profiles: `connections.json` in the data directory. It never
// holds a password (those live in the SecretStore, by profile id), is written
// atomically, and is validated against the shared schemas whenever it is read.
import path from 'node:path';
import { z } from 'zod';
import { ConnectionProfileFields, tlsPairCheck } from '../../shared/connection.js';
import { PartwiseError } from '../db/errors.js';
import { FileMutex, readOptionalFile, writePrivateFile } from '../secrets/private-file.js';

export const PROFILE_FILE_NAME = 'connections.json';

/** A profile as stored: `hasPassword` and `hasSshSecret` are not stored, they are asked of the SecretStore. */
export const StoredProfile = ConnectionProfileFields.omit({ hasPassword: true, hasSshSecret: true })
  .extend({ kind: z.literal('server') })
  .strict()
  .superRefine(tlsPairCheck);
export type StoredProfile = z.infer<typeof StoredProfile>;

const ProfileFile = z.object({ version: z.literal(1), profiles: z.array(StoredProfile) });

export class ProfileStore {
  readonly file: string;
  private readonly mutex = new FileMutex();

  constructor(dataDir: string) {
    this.file = path.join(dataDir, PROFILE_FILE_NAME);
  }

  async list(): Promise<StoredProfile[]> {
    const text = await readOptionalFile(this.file);
    if (text === undefined) return [];
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw this.damaged(error instanceof Error ? error.message : String(error));
    }
    const parsed = ProfileFile.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw this.damaged(issue ? `${issue.path.join('.') || 'file'}: ${issue.message}` : 'invalid contents');
    }
    const ids = new Set<string>();
    for (const profile of parsed.data.profiles) {
      if (ids.has(profile.id)) throw this.damaged(`the id ${profile.id} appears twice`);
      ids.add(profile.id);
    }
    return parsed.data.profiles;
  }

  async get(id: string): Promise<StoredProfile | undefined> {
    return (await this.list()).find((profile) => profile.id === id);
  }

  /** Adds the profile, or replaces the one with the same id. */
  async save(profile: StoredProfile): Promise<void> {
    const valid = StoredProfile.parse(profile);
    await this.mutex.run(async () => {
      const profiles = await this.list();
      const index = profiles.findIndex((existing) => existing.id === valid.id);
      if (index >= 0) profiles[index] = valid;
      else profiles.push(valid);
      await this.write(profiles);
    });
  }

  /** Removes a profile; false when there was none with that id. */
  async remove(id: string): Promise<boolean> {
    return this.mutex.run(async () => {
      const profiles = await this.list();
      const remaining = profiles.filter((profile) => profile.id !== id);
      if (remaining.length === profiles.length) return false;
      await this.write(remaining);
      return true;
    });
  }

  private async write(profiles: StoredProfile[]): Promise<void> {
    await writePrivateFile(this.file, `${JSON.stringify({ version: 1, profiles }, null, 2)}\n`);
  }

  private damaged(reason: string): PartwiseError {
    return new PartwiseError('blocked', `The connection file ${this.file} cannot be read: ${reason}.`, {
      hint: 'Fix or move the file away; Partwise does not overwrite it while it is damaged.',
    });
  }
}
