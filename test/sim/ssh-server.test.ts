// The simulated host's SSH server against the real OpenSSH client (public key) and the ssh2 client (password).

import { createHash } from 'node:crypto';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shellJoin } from '../../src/util/shell-quote.js';
import { loadOrCreateHostKey } from '../../src/sim/host-key.js';
import { writeChunk } from '../../src/sim/posix/streams.js';
import { posixCommands } from '../../src/sim/posix/index.js';
import type { CommandImpl } from '../../src/sim/shell/types.js';
import { MiB, patternBytes } from './shell-helpers.js';
import { connectClient, execOn, startSimServer, type SimServer } from './ssh-helpers.js';

const DS = '/vmfs/volumes/datastore1';
const PASSWORD = 'correct horse';
let produced = 0;
const producer: CommandImpl = async (io) => {
  for (let i = 0; i < 64; i++) {
    await writeChunk(io.stdout, Buffer.alloc(MiB, i), io.signal);
    produced += MiB;
  }
  return 0;
};

let sim: SimServer;
let keyFile: string;
let knownHosts: string;
const data = patternBytes(24 * MiB + 777, 3);

let clientKeyDir: string;

beforeAll(async () => {
  clientKeyDir = mkdtempSync(join(tmpdir(), 'sim-ssh-client-'));
  keyFile = join(clientKeyDir, 'id_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', keyFile]);
  const publicKey = readFileSync(`${keyFile}.pub`, 'utf8').trim();
  sim = await startSimServer([{ username: 'root', password: PASSWORD, authorizedKeys: [publicKey] }], new Map([...posixCommands(), ['producer', producer]]));
  knownHosts = join(clientKeyDir, 'known_hosts');
  writeFileSync(knownHosts, `[127.0.0.1]:${sim.server.port} ${sim.hostKey.publicKey}\n`);
  sim.host.vfs.mkdir(`${DS}/vm`);
  sim.host.vfs.writeFile(`${DS}/vm/disk-flat.vmdk`, data);
});
afterAll(async () => {
  await sim?.close();
  rmSync(clientKeyDir, { recursive: true, force: true });
});

interface SshResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

function openssh(command: string, input?: Buffer | string): Promise<SshResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('ssh', [
      '-F', '/dev/null',
      '-p', String(sim.server.port),
      '-i', keyFile,
      '-o', 'IdentitiesOnly=yes',
      '-o', 'BatchMode=yes',
      '-o', 'StrictHostKeyChecking=yes',
      '-o', `UserKnownHostsFile=${knownHosts}`,
      '-o', 'GlobalKnownHostsFile=/dev/null',
      '-o', 'LogLevel=ERROR',
      'root@127.0.0.1',
      command,
    ]);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') }));
    child.stdin.end(input ?? '');
  });
}

const sha1 = (b: Uint8Array) => createHash('sha1').update(b).digest('hex');

describe('OpenSSH client with public-key auth and a pinned host key', () => {
  it('cat streams a multi-MiB datastore file', async () => {
    const r = await openssh(`cat ${DS}/vm/disk-flat.vmdk`);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(sha1(r.stdout)).toBe(sha1(data));
  });

  it('dd with skip/count, and a pipeline into sha1sum', async () => {
    const dd = await openssh(`dd if=${DS}/vm/disk-flat.vmdk bs=1M skip=5 count=4`);
    expect(dd.code).toBe(0);
    expect(dd.stdout.equals(data.subarray(5 * MiB, 9 * MiB))).toBe(true);
    expect(dd.stderr).toMatch(/^4\+0 records in\n4\+0 records out\n/);
    const pipe = await openssh(`cat ${DS}/vm/disk-flat.vmdk | sha1sum`);
    expect(pipe.stdout.toString()).toBe(`${sha1(data)}  -\n`);
  });

  it('hostile quoting arrives as one argument and runs nothing else', async () => {
    const before = sim.records.length;
    const r = await openssh(shellJoin(['echo', 'x; touch /tmp/p', '$(touch /tmp/q)', "it's `id`"]));
    expect(r.stdout.toString()).toBe("x; touch /tmp/p $(touch /tmp/q) it's `id`\n");
    const ran = sim.records.slice(before).map((x) => x.argv);
    expect(ran).toEqual([['echo', 'x; touch /tmp/p', '$(touch /tmp/q)', "it's `id`"]]);
    expect(sim.host.vfs.stat('/tmp/p')).toBeUndefined();
    expect(sim.host.vfs.stat('/tmp/q')).toBeUndefined();
  });

  it('returns exit statuses: 127 for unknown commands, exit N, false', async () => {
    const unknown = await openssh('vim-cmd-nope vmsvc/getallvms');
    expect(unknown.code).toBe(127);
    expect(unknown.stderr).toBe('sh: vim-cmd-nope: not found\n');
    expect((await openssh('exit 42')).code).toBe(42);
    expect((await openssh('false')).code).toBe(1);
  });

  it('pipes stdin to a command writing a file', async () => {
    const upload = patternBytes(3 * MiB + 5, 9);
    const r = await openssh(`cat > ${DS}/vm/uploaded.bin`, upload);
    expect(r.code).toBe(0);
    expect(sim.host.vfs.readFile(`${DS}/vm/uploaded.bin`).equals(upload)).toBe(true);
  });

  it('refuses to connect when the pinned host key does not match', async () => {
    const other = join(sim.keyDir, 'known_hosts_other');
    const otherKey = loadOrCreateHostKey(join(sim.keyDir, 'other_host_key'));
    writeFileSync(other, `[127.0.0.1]:${sim.server.port} ${otherKey.publicKey}\n`);
    const code = await new Promise<number | null>((resolve) => {
      const child = execFile('ssh', ['-F', '/dev/null', '-p', String(sim.server.port), '-i', keyFile, '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${other}`, '-o', 'GlobalKnownHostsFile=/dev/null', 'root@127.0.0.1', 'true'], () => {});
      child.on('close', resolve);
    });
    expect(code).toBe(255);
  });
});

describe('host key', () => {
  it('is persistent, mode 0600, and its fingerprint matches ssh-keygen -lf', () => {
    const path = join(sim.keyDir, 'host_ed25519');
    const again = loadOrCreateHostKey(path);
    expect(again.privateKey).toBe(sim.hostKey.privateKey);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const pub = join(sim.keyDir, 'host.pub');
    writeFileSync(pub, `${again.publicKey}\n`);
    const printed = execFileSync('ssh-keygen', ['-lf', pub], { encoding: 'utf8' });
    expect(printed.split(' ')[1]).toBe(again.fingerprint);
    expect(again.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });
});

describe('ssh2 client', () => {
  it('logs in with a password and runs commands', async () => {
    const client = await connectClient({ port: sim.server.port, username: 'root', password: PASSWORD });
    try {
      const r = await execOn(client, 'echo hello && uname -r');
      expect(r.stdout.toString()).toBe('hello\n6.7.0\n');
      expect(r.code).toBe(0);
      const second = await execOn(client, 'cat /nonexistent');
      expect(second.code).toBe(1);
      expect(second.stderr).toBe("cat: can't open '/nonexistent': No such file or directory\n");
    } finally {
      client.end();
    }
  });

  it('rejects a wrong password and an unknown user', async () => {
    await expect(connectClient({ port: sim.server.port, username: 'root', password: 'wrong' })).rejects.toThrow(/authentication methods failed/);
    await expect(connectClient({ port: sim.server.port, username: 'admin', password: PASSWORD })).rejects.toThrow(/authentication methods failed/);
  });

  it('rejects sftp', async () => {
    const client = await connectClient({ port: sim.server.port, username: 'root', password: PASSWORD });
    try {
      await expect(new Promise((resolve, reject) => client.sftp((err, sftp) => (err ? reject(err) : resolve(sftp))))).rejects.toThrow();
    } finally {
      client.end();
    }
  });

  it('does not buffer a large output when the client stops reading', async () => {
    const client = await connectClient({ port: sim.server.port, username: 'root', password: PASSWORD });
    try {
      produced = 0;
      const total = await new Promise<number>((resolve, reject) => {
        client.exec('producer', (err, channel) => {
          if (err) return reject(err);
          channel.pause();
          let received = 0;
          let previous = -1;
          const waitForStall = () => {
            if (produced !== previous) {
              previous = produced;
              setTimeout(waitForStall, 50);
              return;
            }
            try {
              expect(produced).toBeLessThan(32 * MiB);
            } catch (e) {
              reject(e);
              return;
            }
            channel.on('data', (c: Buffer) => {
              received += c.length;
            });
            channel.resume();
          };
          setTimeout(waitForStall, 50);
          channel.on('close', () => resolve(received));
          channel.stderr.resume();
        });
      });
      expect(total).toBe(64 * MiB);
    } finally {
      client.end();
    }
  });

  it('counts open connections', async () => {
    const client = await connectClient({ port: sim.server.port, username: 'root', password: PASSWORD });
    expect(sim.server.connections()).toBeGreaterThanOrEqual(1);
    client.end();
    await new Promise<void>((resolve) => client.on('close', () => resolve()));
  });
});

describe('interactive shell', () => {
  it('runs lines typed into a shell channel and ends on exit', async () => {
    const client = await connectClient({ port: sim.server.port, username: 'root', password: PASSWORD });
    try {
      const { output, code } = await new Promise<{ output: string; code: number | undefined }>((resolve, reject) => {
        client.shell(false, (err, channel) => {
          if (err) return reject(err);
          let output = '';
          let code: number | undefined;
          channel.on('data', (c: Buffer) => (output += c.toString()));
          channel.on('exit', (c: number) => (code = c));
          channel.on('close', () => resolve({ output, code }));
          channel.write('echo one\nhostname\nexit 4\n');
        });
      });
      expect(output).toBe('~ # one\n~ # esx-sim\n~ # ');
      expect(code).toBe(4);
    } finally {
      client.end();
    }
  });
});
