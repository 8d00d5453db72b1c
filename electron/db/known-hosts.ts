// Is this the bastion we think it is? A host key is checked first against the
// fingerprint pinned in the profile (accepted by the user on first contact),
// else against OpenSSH's known_hosts (plain and hashed host names, wildcards,
// negations, [host]:port for ports other than 22, @revoked). A key seen for
// the first time is "unknown", to be shown to the user; a key that differs
// from the pinned or listed one is "changed", and refused.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export interface HostKey {
  /** OpenSSH's SHA256 fingerprint: `SHA256:` and the unpadded base64 of the key blob's digest. */
  fingerprint: string;
  /** e.g. ssh-ed25519, ecdsa-sha2-nistp256, ssh-rsa */
  keyType: string;
}

export type HostKeyVerdict =
  | ({ status: 'trusted' } & HostKey)
  | ({ status: 'unknown' } & HostKey)
  | ({ status: 'changed'; expected: string; where: string } & HostKey)
  | ({ status: 'revoked'; where: string } & HostKey);

export function fingerprintOf(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** The key type named at the start of an SSH public key blob. */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) return 'unknown';
  const length = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + length).toString('latin1');
}

export function hostKeyOf(blob: Buffer): HostKey {
  return { fingerprint: fingerprintOf(blob), keyType: keyTypeOf(blob) };
}

/** How known_hosts names a host: bare on port 22, `[host]:port` otherwise. */
function hostName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function wildcardMatch(pattern: string, text: string): boolean {
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${source}$`, 'i').test(text);
}

function hashedMatch(entry: string, name: string): boolean {
  const [, magic, salt, hash] = entry.split('|');
  if (magic !== '1' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const actual = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** Whether a comma-separated host field names the host (a matching `!pattern` excludes it). */
function hostsMatch(field: string, name: string): boolean {
  if (field.startsWith('|')) return hashedMatch(field, name);
  let matched = false;
  for (const pattern of field.split(',')) {
    if (pattern.startsWith('!')) {
      if (wildcardMatch(pattern.slice(1), name)) return false;
    } else if (wildcardMatch(pattern, name)) matched = true;
  }
  return matched;
}

interface KnownEntry {
  marker: '' | '@revoked' | '@cert-authority';
  keyType: string;
  blob: Buffer;
  line: number;
}

function entriesFor(text: string, name: string): KnownEntry[] {
  const found: KnownEntry[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const fields = line.split(/\s+/);
    const marker = fields[0]!.startsWith('@') ? (fields.shift() as KnownEntry['marker']) : '';
    const [hosts, keyType, key] = fields;
    if (!hosts || !keyType || !key || !hostsMatch(hosts, name)) return;
    found.push({ marker, keyType, blob: Buffer.from(key, 'base64'), line: index + 1 });
  });
  return found;
}

/**
 * The verdict on a bastion's host key. `pinned` (the profile's accepted
 * fingerprint) wins over known_hosts; `knownHosts` is the file's text, empty
 * when there is none.
 */
export function checkHostKey(input: {
  host: string;
  port: number;
  key: Buffer;
  pinned?: string | undefined;
  knownHosts: string;
  knownHostsFile: string;
}): HostKeyVerdict {
  const seen = hostKeyOf(input.key);
  if (input.pinned) {
    return input.pinned === seen.fingerprint
      ? { status: 'trusted', ...seen }
      : { status: 'changed', expected: input.pinned, where: 'the key accepted for this connection', ...seen };
  }
  const name = hostName(input.host, input.port);
  const entries = entriesFor(input.knownHosts, name);
  const revoked = entries.find((entry) => entry.marker === '@revoked' && entry.blob.equals(input.key));
  if (revoked) return { status: 'revoked', where: `${input.knownHostsFile}:${revoked.line}`, ...seen };
  const plain = entries.filter((entry) => entry.marker === '');
  if (plain.some((entry) => entry.blob.equals(input.key))) return { status: 'trusted', ...seen };
  // OpenSSH calls a key changed when the file lists another key of the same type for the host.
  const other = plain.find((entry) => entry.keyType === seen.keyType);
  if (other) {
    return {
      status: 'changed',
      expected: fingerprintOf(other.blob),
      where: `${input.knownHostsFile}:${other.line}`,
      ...seen,
    };
  }
  return { status: 'unknown', ...seen };
}
