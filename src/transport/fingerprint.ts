// Host key fingerprints as OpenSSH prints them (ssh-keygen -lf) and the key type named inside a key blob.

import { createHash } from 'node:crypto';

/** `SHA256:` + unpadded base64 of sha256(blob), as `ssh-keygen -lf` prints it. */
export function fingerprintSha256(keyBlob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '');
}

/** `MD5:aa:bb:...`, the legacy form (`ssh-keygen -E md5 -lf`). */
export function fingerprintMd5(keyBlob: Buffer): string {
  const hex = createHash('md5').update(keyBlob).digest('hex');
  return 'MD5:' + hex.match(/../g)!.join(':');
}

/** True when a pinned fingerprint (SHA256:… or MD5:…) names this key. */
export function fingerprintMatches(pinned: string, keyBlob: Buffer): boolean {
  const wanted = pinned.trim();
  if (/^SHA256:/i.test(wanted)) {
    return wanted.slice('SHA256:'.length).replace(/=+$/, '') === fingerprintSha256(keyBlob).slice('SHA256:'.length);
  }
  if (/^MD5:/i.test(wanted)) return wanted.toLowerCase() === fingerprintMd5(keyBlob).toLowerCase();
  return false;
}

/** The algorithm name that starts an SSH public key blob (e.g. ssh-ed25519), or 'unknown'. */
export function keyTypeOfBlob(keyBlob: Buffer): string {
  if (keyBlob.length < 4) return 'unknown';
  const length = keyBlob.readUInt32BE(0);
  if (length === 0 || length > 64 || keyBlob.length < 4 + length) return 'unknown';
  return keyBlob.subarray(4, 4 + length).toString('latin1');
}
