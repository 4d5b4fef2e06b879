// The simulated host's SSH host key: an ed25519 pair ssh2 can read back, kept in the state directory.

import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import ssh2 from 'ssh2';

const { utils } = ssh2;

export interface HostKey {
  privateKey: string;
  /** "ssh-ed25519 AAAA..." */
  publicKey: string;
  /** SHA256:<base64 without padding> of the public key blob, as `ssh-keygen -lf` prints it. */
  fingerprint: string;
}

/**
 * An ed25519 key pair in OpenSSH format that ssh2 can read back. ssh2's generator drops leading zero bytes
 * of the public key, so about one pair in 256 comes out unreadable ("Malformed OpenSSH private key"); such
 * a pair is thrown away and another made.
 */
export function generateEd25519KeyPair(encryption?: { passphrase: string; cipher: string; rounds: number }): { private: string; public: string } {
  for (let attempt = 0; attempt < 32; attempt++) {
    const pair = encryption ? utils.generateKeyPairSync('ed25519', encryption) : utils.generateKeyPairSync('ed25519');
    const publicKey = utils.parseKey(pair.public);
    const privateKey = utils.parseKey(pair.private, encryption?.passphrase);
    if (!(publicKey instanceof Error) && !(privateKey instanceof Error)) return pair;
  }
  throw new Error('could not generate an ed25519 key pair that ssh2 reads back');
}

/** Loads the host key at path, or creates a new ed25519 key there (mode 0600) on first use. */
export function loadOrCreateHostKey(path: string): HostKey {
  if (!existsSync(path)) {
    const pair = generateEd25519KeyPair();
    try {
      writeFileSync(path, pair.private, { mode: 0o600, flag: 'wx' });
    } catch (err) {
      if ((err as { code?: string }).code !== 'EEXIST') throw err;
    }
  }
  const privateKey = readFileSync(path, 'utf8');
  const parsed = utils.parseKey(privateKey);
  if (parsed instanceof Error) throw new Error(`${path}: not a usable SSH host key: ${parsed.message}`);
  const key = Array.isArray(parsed) ? parsed[0]! : parsed;
  const blob = key.getPublicSSH();
  return {
    privateKey,
    publicKey: `${key.type} ${blob.toString('base64')}`,
    fingerprint: `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`,
  };
}
