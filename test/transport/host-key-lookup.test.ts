// known_hosts lookup rules and exit-status mapping, on data made with real key generation.

import { describe, expect, it } from 'vitest';
import { utils } from 'ssh2';
import { generateEd25519KeyPair } from '../../src/sim/ssh-server.js';
import { hostFieldMatches, knownHostsName, lookUpHostKey, parseKnownHosts } from '../../src/transport/known-hosts.js';
import { exitCodeOf } from '../../src/transport/exit-status.js';
import { fingerprintMatches, fingerprintMd5, fingerprintSha256, keyTypeOfBlob } from '../../src/transport/fingerprint.js';

function publicKey(type: 'ed25519' | 'ecdsa'): { line: string; blob: Buffer } {
  const pair = type === 'ecdsa' ? utils.generateKeyPairSync('ecdsa', { bits: 256 }) : generateEd25519KeyPair();
  const line = pair.public.trim().split(' ').slice(0, 2).join(' ');
  return { line, blob: Buffer.from(line.split(' ')[1]!, 'base64') };
}

describe('known_hosts lookup', () => {
  it('names hosts the way OpenSSH records them', () => {
    expect(knownHostsName('ESX01.example', 22)).toBe('esx01.example');
    expect(knownHostsName('10.0.0.5', 2222)).toBe('[10.0.0.5]:2222');
  });

  it('matches patterns case-insensitively with wildcards and negation', () => {
    expect(hostFieldMatches('ESX*.example,!esx9.example', 'esx1.example')).toBe(true);
    expect(hostFieldMatches('esx*.example,!esx9.example', 'esx9.example')).toBe(false);
    expect(hostFieldMatches('esx?.example', 'esx10.example')).toBe(false);
    expect(hostFieldMatches('esx1.example', 'esx1.exampleX')).toBe(false);
  });

  it('tells a changed key of the same type from a host known only by other key types', () => {
    const ed = publicKey('ed25519');
    const otherEd = publicKey('ed25519');
    const ecdsa = publicKey('ecdsa');
    expect(keyTypeOfBlob(ecdsa.blob)).toBe('ecdsa-sha2-nistp256');
    const entries = parseKnownHosts(`esx1 ${otherEd.line}\nesx2 ${ecdsa.line}\nesx3 ${ed.line} comment here\n`);
    expect(lookUpHostKey(entries, 'esx1', ed.blob).status).toBe('changed');
    expect(lookUpHostKey(entries, 'esx2', ed.blob).status).toBe('other-type');
    expect(lookUpHostKey(entries, 'esx3', ed.blob)).toMatchObject({ status: 'match', entry: { lineNumber: 3 } });
    expect(lookUpHostKey(entries, 'esx4', ed.blob).status).toBe('unknown');
  });

  it('skips malformed lines and lines whose key does not decode to the named type', () => {
    const ed = publicKey('ed25519');
    const entries = parseKnownHosts(`garbage\nesx1 ssh-rsa ${ed.line.split(' ')[1]}\n@unknown-marker esx1 ${ed.line}\n`);
    expect(entries).toEqual([]);
  });

  it('compares fingerprints with or without base64 padding, and MD5 in any case', () => {
    const ed = publicKey('ed25519');
    const sha = fingerprintSha256(ed.blob);
    expect(sha).not.toContain('=');
    expect(fingerprintMatches(sha, ed.blob)).toBe(true);
    expect(fingerprintMatches(`${sha}=`, ed.blob)).toBe(true);
    expect(fingerprintMatches(fingerprintMd5(ed.blob).toUpperCase(), ed.blob)).toBe(true);
    // A character in the middle: the last one carries two padding bits, so some changes to it name the same hash.
    const at = 'SHA256:'.length + 5;
    expect(fingerprintMatches(sha.slice(0, at) + (sha[at] === 'A' ? 'B' : 'A') + sha.slice(at + 1), ed.blob)).toBe(false);
    expect(fingerprintMatches('SHA256:nope', ed.blob)).toBe(false);
    expect(fingerprintMatches('sha1:whatever', ed.blob)).toBe(false);
  });
});

describe('exit status', () => {
  it('maps exit codes and signals the way sh reports them', () => {
    expect(exitCodeOf(0, undefined)).toBe(0);
    expect(exitCodeOf(3, undefined)).toBe(3);
    expect(exitCodeOf(null, 'KILL')).toBe(137);
    expect(exitCodeOf(null, 'SIGTERM')).toBe(143);
    expect(exitCodeOf(null, 'NOT_A_SIGNAL')).toBe(-1);
    expect(exitCodeOf(undefined, undefined)).toBe(-1);
  });
});
