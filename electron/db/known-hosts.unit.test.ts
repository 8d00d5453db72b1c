import { createHmac, generateKeyPairSync, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { checkHostKey, fingerprintOf } from './known-hosts.js';

/** An ssh-ed25519 public key blob, as a server presents it. */
function ed25519Blob(): Buffer {
  const { publicKey } = generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  const type = Buffer.from('ssh-ed25519');
  const length = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  return Buffer.concat([length(type.length), type, length(raw.length), raw]);
}

const key = ed25519Blob();
const other = ed25519Blob();
const line = (hosts: string, blob = key) => `${hosts} ssh-ed25519 ${blob.toString('base64')}`;
const check = (knownHosts: string, host = 'bastion.example.com', port = 22, pinned?: string) =>
  checkHostKey({ host, port, key, pinned, knownHosts, knownHostsFile: '/kh' });

describe('checkHostKey', () => {
  it('computes OpenSSH fingerprints', () => {
    expect(fingerprintOf(key)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  it('trusts listed keys by plain name, wildcard, [host]:port and hashed name', () => {
    expect(check(line('bastion.example.com,10.0.0.1')).status).toBe('trusted');
    expect(check(line('*.example.com')).status).toBe('trusted');
    expect(check(line('[bastion.example.com]:2222'), 'bastion.example.com', 2222).status).toBe('trusted');
    // The bare name is for port 22 only.
    expect(check(line('bastion.example.com'), 'bastion.example.com', 2222).status).toBe('unknown');
    const salt = randomBytes(20);
    const hash = createHmac('sha1', salt).update('bastion.example.com').digest('base64');
    expect(check(line(`|1|${salt.toString('base64')}|${hash}`)).status).toBe('trusted');
    expect(check(line('*.example.com,!bastion.example.com')).status).toBe('unknown');
  });

  it('calls a different key of the same type changed, naming the line', () => {
    const verdict = check(`# first\n${line('bastion.example.com', other)}`);
    expect(verdict).toMatchObject({ status: 'changed', expected: fingerprintOf(other), where: '/kh:2' });
  });

  it('refuses @revoked keys and prefers the pinned fingerprint', () => {
    expect(check(`@revoked ${line('*')}\n${line('bastion.example.com')}`).status).toBe('revoked');
    expect(check('', 'h', 22, fingerprintOf(key)).status).toBe('trusted');
    expect(check(line('h'), 'h', 22, fingerprintOf(other))).toMatchObject({
      status: 'changed',
      expected: fingerprintOf(other),
      where: 'the key accepted for this connection',
    });
  });
});
