// Host key policies against a real ssh2 server, with known_hosts files checked and written by the real OpenSSH ssh-keygen.

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { utils } from 'ssh2';
import { connectSsh } from '../../src/transport/ssh.js';
import type { HostKeyPolicy } from '../../src/transport/host-key-policy.js';
import { TransportError } from '../../src/transport/types.js';
import { newHostKey, startSshFixture, type SshFixture } from './fixture/ssh-server.js';

const PASSWORD = 'host-key-test-pw';

describe('host key policies', () => {
  let fixture: SshFixture;
  let dir: string;
  let hostPublicKey: string;
  let name: string;

  beforeAll(async () => {
    const hostKey = newHostKey();
    hostPublicKey = hostKey.publicKey.trim();
    fixture = await startSshFixture({ password: PASSWORD, hostPrivateKey: hostKey.privateKey });
    dir = mkdtempSync(join(tmpdir(), 'known-hosts-'));
    name = `[127.0.0.1]:${fixture.port}`;
  });
  afterAll(async () => {
    await fixture?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const connect = (hostKey: HostKeyPolicy) =>
    connectSsh({ host: '127.0.0.1', port: fixture.port, username: 'root', password: PASSWORD, hostKey });

  const refusal = async (hostKey: HostKeyPolicy): Promise<TransportError> => {
    const error = await connect(hostKey).then(
      () => undefined,
      (failure: unknown) => failure,
    );
    expect(error).toBeInstanceOf(TransportError);
    return error as TransportError;
  };

  const knownHostsFile = (fileName: string, content: string): string => {
    const path = join(dir, fileName);
    writeFileSync(path, content);
    return path;
  };

  const sshKeygenFingerprint = (): string => {
    const pubPath = knownHostsFile('host.pub', `${hostPublicKey}\n`);
    return execFileSync('ssh-keygen', ['-lf', pubPath], { encoding: 'utf8' }).split(' ')[1]!;
  };

  it('accepts the pinned fingerprint that ssh-keygen -lf prints, and exposes it', async () => {
    const fingerprint = sshKeygenFingerprint();
    expect(fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    const transport = await connect({ kind: 'fingerprint', fingerprint });
    expect(transport.fingerprint).toBe(fingerprint);
    expect((await transport.exec(['echo', 'pinned'])).stdout).toBe('pinned\n');
    await transport.close();
  });

  it('accepts a pinned legacy MD5 fingerprint', async () => {
    const pubPath = knownHostsFile('host-md5.pub', `${hostPublicKey}\n`);
    const md5 = execFileSync('ssh-keygen', ['-E', 'md5', '-lf', pubPath], { encoding: 'utf8' }).split(' ')[1]!;
    const transport = await connect({ kind: 'fingerprint', fingerprint: md5 });
    await transport.close();
  });

  it('refuses a host whose key does not match the pinned fingerprint', async () => {
    const error = await refusal({ kind: 'fingerprint', fingerprint: 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' });
    expect(error.code).toBe('HOST_KEY');
    expect(error.message).toContain(sshKeygenFingerprint());
  });

  it('accepts plain [host]:port entries, comma lists and wildcards', async () => {
    for (const hostField of [name, `other.example,${name}`, `[127.0.0.*]:${fixture.port}`]) {
      const path = knownHostsFile('plain', `# comment\n\nelsewhere ssh-rsa AAAAB3NzaC1yc2E=\n${hostField} ${hostPublicKey}\n`);
      const transport = await connect({ kind: 'known_hosts', path });
      await transport.close();
    }
  });

  it('does not match a negated pattern or the bare host on another port', async () => {
    for (const hostField of ['127.0.0.1', `[127.0.0.*]:${fixture.port},!${name}`]) {
      const path = knownHostsFile('nomatch', `${hostField} ${hostPublicKey}\n`);
      expect((await refusal({ kind: 'known_hosts', path })).code).toBe('HOST_KEY');
    }
  });

  it('accepts a hashed entry made by ssh-keygen -H', async () => {
    const path = knownHostsFile('hashed', `${name} ${hostPublicKey}\n`);
    execFileSync('ssh-keygen', ['-H', '-f', path], { stdio: 'ignore' });
    const content = readFileSync(path, 'utf8');
    expect(content).toMatch(/^\|1\|/);
    expect(content).not.toContain('127.0.0.1');
    const transport = await connect({ kind: 'known_hosts', path });
    await transport.close();
  });

  it('refuses an unknown host naming it and its fingerprint, and leaves the file alone', async () => {
    const path = knownHostsFile('unknown', 'other.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIITHpbIRNdpouw08cM/ndsUdI7MOo8cjvg89Ik3JA9RL\n');
    const before = readFileSync(path, 'utf8');
    const error = await refusal({ kind: 'known_hosts', path });
    expect(error.code).toBe('HOST_KEY');
    expect(error.message).toContain(name);
    expect(error.message).toContain(sshKeygenFingerprint());
    expect(error.message).toContain('accept-new');
    expect(readFileSync(path, 'utf8')).toBe(before);
  });

  it('with acceptNew records an unknown host so that ssh-keygen -F finds it', async () => {
    const path = join(dir, 'sub', 'accept-new');
    const transport = await connect({ kind: 'known_hosts', path, acceptNew: true });
    await transport.close();
    const found = spawnSync('ssh-keygen', ['-F', name, '-f', path], { encoding: 'utf8' });
    expect(found.status).toBe(0);
    expect(found.stdout).toContain(`${name} ${hostPublicKey}`);
    const again = await connect({ kind: 'known_hosts', path });
    await again.close();
    expect(readFileSync(path, 'utf8').split('\n').filter(Boolean)).toHaveLength(1);
  });

  it('refuses a changed key loudly even with acceptNew', async () => {
    const oldKey = newHostKey().publicKey.trim();
    const path = knownHostsFile('changed', `${name} ${oldKey}`);
    const error = await refusal({ kind: 'known_hosts', path, acceptNew: true });
    expect(error.code).toBe('HOST_KEY');
    expect(error.message).toMatch(/HAS CHANGED/);
    expect(error.message).toContain(`ssh-keygen -R '${name}'`);
    expect(readFileSync(path, 'utf8')).toBe(`${name} ${oldKey}`);
  });

  it('asks for a key type already recorded, so a host with several keys matches its recorded one', async () => {
    const ecdsa = utils.generateKeyPairSync('ecdsa', { bits: 256 });
    const multiKey = await startSshFixture({ password: PASSWORD, extraHostPrivateKeys: [ecdsa.private] });
    try {
      const multiName = `[127.0.0.1]:${multiKey.port}`;
      const path = knownHostsFile('ecdsa-only', `${multiName} ${ecdsa.public.trim()}\n`);
      const transport = await connectSsh({
        host: '127.0.0.1',
        port: multiKey.port,
        username: 'root',
        password: PASSWORD,
        hostKey: { kind: 'known_hosts', path },
      });
      const pubPath = knownHostsFile('ecdsa.pub', ecdsa.public);
      expect(transport.fingerprint).toBe(execFileSync('ssh-keygen', ['-lf', pubPath], { encoding: 'utf8' }).split(' ')[1]);
      await transport.close();
    } finally {
      await multiKey.close();
    }
  });

  it('refuses a key marked @revoked and ignores @cert-authority lines', async () => {
    const revoked = knownHostsFile('revoked', `@revoked * ${hostPublicKey}\n${name} ${hostPublicKey}\n`);
    const error = await refusal({ kind: 'known_hosts', path: revoked });
    expect(error.code).toBe('HOST_KEY');
    expect(error.message).toContain('@revoked');
    const caOnly = knownHostsFile('ca', `@cert-authority ${name} ${hostPublicKey}\n`);
    expect((await refusal({ kind: 'known_hosts', path: caOnly })).code).toBe('HOST_KEY');
  });
});
