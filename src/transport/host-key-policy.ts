// Deciding whether to trust the key a host presents: a pinned fingerprint, an OpenSSH known_hosts file, or anything (simulator only).

import { TransportError } from './types.js';
import { fingerprintMatches, fingerprintSha256, keyTypeOfBlob } from './fingerprint.js';
import {
  appendKnownHost,
  knownHostsName,
  lookUpHostKey,
  readKnownHosts,
  recordedKeyTypes,
  type KnownHostEntry,
} from './known-hosts.js';

export type HostKeyPolicy =
  /** Pinned: `SHA256:…` as `ssh-keygen -lf` prints it, or legacy `MD5:aa:bb:…`. */
  | { kind: 'fingerprint'; fingerprint: string }
  /** OpenSSH known_hosts. Unknown hosts are refused unless acceptNew; a changed key is always refused. */
  | { kind: 'known_hosts'; path: string; acceptNew?: boolean }
  /** Trusts any key. Only for the embedded simulator. */
  | { kind: 'accept-any' };

export interface HostKeyCheck {
  /** Host key algorithms to offer, in order: key types already recorded for the host first (as OpenSSH does). */
  hostKeyAlgorithms: string[];
  /** Resolves when the key is trusted (recording it if the policy says so); rejects with TransportError HOST_KEY. */
  verify(keyBlob: Buffer): Promise<void>;
}

const DEFAULT_HOST_KEY_ALGORITHMS = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
];

const ALGORITHMS_BY_KEY_TYPE: Record<string, string[]> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
};

function describeKey(keyBlob: Buffer): string {
  return `${keyTypeOfBlob(keyBlob)} ${fingerprintSha256(keyBlob)}`;
}

function hostKeyError(message: string): TransportError {
  return new TransportError('HOST_KEY', message);
}

function lineRefs(path: string, entries: readonly KnownHostEntry[]): string {
  return entries.map((entry) => `${path}:${entry.lineNumber} (${describeKey(entry.keyBlob)})`).join(', ');
}

export async function prepareHostKeyCheck(policy: HostKeyPolicy, host: string, port: number): Promise<HostKeyCheck> {
  const where = `${host}:${port}`;
  switch (policy.kind) {
    case 'accept-any':
      return { hostKeyAlgorithms: DEFAULT_HOST_KEY_ALGORITHMS, verify: async () => {} };
    case 'fingerprint':
      return {
        hostKeyAlgorithms: DEFAULT_HOST_KEY_ALGORITHMS,
        verify: async (keyBlob) => {
          if (fingerprintMatches(policy.fingerprint, keyBlob)) return;
          throw hostKeyError(
            `host key of ${where} does not match the pinned fingerprint: expected ${policy.fingerprint.trim()}, ` +
              `the host presented ${describeKey(keyBlob)}. Refusing to connect.`,
          );
        },
      };
    case 'known_hosts':
      return knownHostsCheck(policy.path, policy.acceptNew === true, host, port);
  }
}

async function knownHostsCheck(path: string, acceptNew: boolean, host: string, port: number): Promise<HostKeyCheck> {
  const entries = await readKnownHosts(path);
  const name = knownHostsName(host, port);
  const preferred = recordedKeyTypes(entries, name).flatMap((type) => ALGORITHMS_BY_KEY_TYPE[type] ?? []);
  const hostKeyAlgorithms = [...preferred, ...DEFAULT_HOST_KEY_ALGORITHMS.filter((algorithm) => !preferred.includes(algorithm))];
  const verify = async (keyBlob: Buffer): Promise<void> => {
    const verdict = lookUpHostKey(entries, name, keyBlob);
    switch (verdict.status) {
      case 'match':
        return;
      case 'revoked':
        throw hostKeyError(
          `host key of ${name} (${describeKey(keyBlob)}) is marked @revoked in ${path}:${verdict.entry.lineNumber}. Refusing to connect.`,
        );
      case 'changed':
        throw hostKeyError(
          `WARNING: THE HOST KEY OF ${name} HAS CHANGED! It presented ${describeKey(keyBlob)} but ${path} records ` +
            `${lineRefs(path, verdict.entries)}. Someone may be intercepting the connection (man-in-the-middle), ` +
            `or the host was reinstalled. Refusing to connect. If the change is expected, verify the new fingerprint ` +
            `on the host's console and remove the old entry: ssh-keygen -R '${name}' -f ${path}`,
        );
      case 'other-type':
        throw hostKeyError(
          `host ${name} presented a ${keyTypeOfBlob(keyBlob)} key (${fingerprintSha256(keyBlob)}) but ${path} only records ` +
            `${lineRefs(path, verdict.entries)} for it. Refusing to connect. If the host's keys were changed on purpose, ` +
            `verify the fingerprint on the host's console and update ${path}.`,
        );
      case 'unknown':
        if (acceptNew) {
          await appendKnownHost(path, name, keyBlob);
          return;
        }
        throw hostKeyError(
          `host ${name} is not known: it presented ${describeKey(keyBlob)}, which is not in ${path}. ` +
            `Verify that fingerprint on the host's console (ssh-keygen -lf /etc/ssh/ssh_host_${keyTypeOfBlob(keyBlob).replace(/^ssh-|-.*$/g, '')}_key.pub), ` +
            `then accept it by connecting once with known_hosts accept-new, or pin the fingerprint.`,
        );
    }
  };
  return { hostKeyAlgorithms, verify };
}
