// Host key fingerprints as OpenSSH prints them (ssh-keygen -lf) and the key type of a key blob, from sshpk's key parser.

import sshpk from 'sshpk';

/** The key in an SSH wire-format public key blob (RFC 4253), or undefined when it does not parse as one. */
export function parseKeyBlob(keyBlob: Buffer): sshpk.Key | undefined {
  try {
    return sshpk.parseKey(keyBlob, 'rfc4253');
  } catch {
    return undefined;
  }
}

/** `SHA256:` + unpadded base64 of sha256(blob), as `ssh-keygen -lf` prints it. */
export function fingerprintSha256(keyBlob: Buffer): string {
  return parseKeyBlob(keyBlob)?.fingerprint('sha256').toString('base64') ?? 'SHA256:(not a public key)';
}

/** `MD5:aa:bb:...`, the legacy form (`ssh-keygen -E md5 -lf`). */
export function fingerprintMd5(keyBlob: Buffer): string {
  const key = parseKeyBlob(keyBlob);
  return key ? `MD5:${key.fingerprint('md5').toString('hex')}` : 'MD5:(not a public key)';
}

/** True when a pinned fingerprint (SHA256:… or MD5:…, padding and case of MD5 hex aside) names this key. */
export function fingerprintMatches(pinned: string, keyBlob: Buffer): boolean {
  const key = parseKeyBlob(keyBlob);
  const wanted = pinned.trim();
  if (!key || !/^(SHA256|MD5):/i.test(wanted)) return false;
  try {
    return sshpk.parseFingerprint(wanted, { enAlgs: ['sha256', 'md5'], hashType: 'ssh' }).matches(key);
  } catch {
    return false;
  }
}

/** The algorithm name of an SSH public key blob (e.g. ssh-ed25519), or 'unknown' when it is not a key sshpk can read. */
export function keyTypeOfBlob(keyBlob: Buffer): string {
  const key = parseKeyBlob(keyBlob);
  return key ? key.toString('ssh').split(' ')[0]! : 'unknown';
}
