// known_hosts matching and fingerprints checked against OpenSSH itself: for each name, the lines `ssh-keygen -F`
// finds are the lines vcbmounter's lookup finds (plain names, ports, wildcards, negation, case, hashed names, markers).
// (A line whose key does not parse is left out: ssh-keygen -F lists it, the lookup skips it, see host-key-lookup.test.ts.)

import { execa } from 'execa';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { fingerprintMatches, fingerprintMd5, fingerprintSha256, keyTypeOfBlob } from '../../src/transport/fingerprint.js';
import { hostFieldMatches, knownHostsName, parseKnownHosts } from '../../src/transport/known-hosts.js';

let work: string;
let file: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'vcb-known-hosts-'));
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(work, 'key')]);
  const key = readFileSync(join(work, 'key.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
  // Hashed names are made by OpenSSH (ssh-keygen -H), not by the code under test.
  const hashed = join(work, 'hashed');
  writeFileSync(hashed, `hashed.example ${key}\n[hashed.example]:2200 ${key}\n`);
  await execa('ssh-keygen', ['-q', '-H', '-f', hashed]);
  const lines = [
    `esx01.example.com ${key}`,
    `[esx02.example.com]:2222 ${key}`,
    `esx1*.example,!esx19.example ${key}`,
    `ESX-Upper.Example ${key}`,
    `10.0.0.?,10.0.1.* ${key}`,
    `@revoked revoked.example ${key}`,
    `*.wild ${key}`,
    `[10.0.0.9]:* ${key}`,
    `# comment.example ${key}`,
    ...readFileSync(hashed, 'utf8').trim().split('\n'),
  ];
  file = join(work, 'known_hosts');
  writeFileSync(file, lines.join('\n') + '\n');
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Line numbers `ssh-keygen -F name` reports. */
async function opensshLines(name: string): Promise<number[]> {
  const r = await execa('ssh-keygen', ['-F', name, '-f', file], { reject: false });
  return [...String(r.stdout).matchAll(/found: line (\d+)/g)].map((m) => Number(m[1]));
}

const NAMES: Array<[string, number]> = [
  ['esx01.example.com', 22],
  ['ESX01.Example.com', 22],
  ['esx01.example.com', 2222],
  ['esx02.example.com', 2222],
  ['esx02.example.com', 22],
  ['esx12.example', 22],
  ['esx19.example', 22],
  ['esx-upper.example', 22],
  ['10.0.0.5', 22],
  ['10.0.0.55', 22],
  ['10.0.1.200', 22],
  ['10.0.0.9', 2022],
  ['revoked.example', 22],
  ['a.b.wild', 22],
  ['wild', 22],
  ['hashed.example', 22],
  ['hashed.example', 2200],
  ['hashed.example', 2201],
  ['comment.example', 22],
];

test('every name matches the same known_hosts lines as ssh-keygen -F finds', async () => {
  const entries = parseKnownHosts(readFileSync(file, 'utf8'));
  const ours = (name: string) => entries.filter((e) => hostFieldMatches(e.hostField, name)).map((e) => e.lineNumber);
  let found = 0;
  for (const [host, port] of NAMES) {
    const name = knownHostsName(host, port);
    const expected = await opensshLines(name);
    found += expected.length;
    expect(ours(name), `${host} port ${port} (${name})`).toEqual(expected);
  }
  // The oracle itself found something: a run where ssh-keygen matched nothing would prove nothing.
  expect(found).toBeGreaterThanOrEqual(10);
});

test('fingerprints and key types equal what ssh-keygen -l prints, for each key type an ESX host offers', async () => {
  for (const [type, bits] of [['ed25519', []], ['ecdsa', ['-b', '256']], ['rsa', ['-b', '2048']]] as const) {
    const keyFile = join(work, `fp-${type}`);
    await execa('ssh-keygen', ['-q', '-t', type, ...bits, '-N', '', '-f', keyFile]);
    const [keyType, base64] = readFileSync(`${keyFile}.pub`, 'utf8').split(' ');
    const blob = Buffer.from(base64!, 'base64');
    const sha = String((await execa('ssh-keygen', ['-l', '-f', `${keyFile}.pub`])).stdout).split(' ')[1];
    const md5 = String((await execa('ssh-keygen', ['-l', '-E', 'md5', '-f', `${keyFile}.pub`])).stdout).split(' ')[1];
    expect(fingerprintSha256(blob), type).toBe(sha);
    expect(fingerprintMd5(blob), type).toBe(md5);
    expect(fingerprintMatches(sha!, blob), type).toBe(true);
    expect(fingerprintMatches(md5!, blob), type).toBe(true);
    expect(keyTypeOfBlob(blob), type).toBe(keyType);
  }
});
