// A test host made of a real OpenSSH sshd and a real /bin/sh, whose PATH holds the simulated host's commands.
//
// The product's command lines are parsed, expanded and run by dash exactly as on a host; only the programs they
// name are the simulator's (a wrapper per command runs sim/bridge/shim.js, which runs it on the simulated host).
// An unquoted argument therefore does on this host what it would do on a real one.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { Simulator } from '../../src/sim/simulator.js';
import { freePort } from './free-port.js';
import { projectRoot } from './project-root.js';

export interface OpenSshHost {
  port: number;
  user: string;
  /** Private key the product logs in with (-i). */
  identityFile: string;
  /** SHA256 fingerprint of sshd's host key (--host-key). */
  fingerprint: string;
  /** Lines written by the `vcb-canary` command: anything an injected command line would have run. */
  canaryCalls(): string[];
  stop(): Promise<void>;
}

/** A program found on this host's PATH, not on the simulated host's: if it ever runs, a command line was injected. */
export const CANARY = 'vcb-canary';

async function waitForPort(port: number, sshd: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (sshd.exitCode !== null) throw new Error(`sshd exited (${sshd.exitCode}): ${log()}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`sshd did not listen on ${port}: ${log()}`);
}

const quote = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;

/** Starts sshd (as the user running the tests) in front of `sim`'s commands. Needs /usr/sbin/sshd (openssh-server). */
export async function startOpenSshHost(sim: Simulator): Promise<OpenSshHost> {
  const dir = mkdtempSync(join(tmpdir(), 'vcb-openssh-host-'));
  chmodSync(dir, 0o755);
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  const bridge = await sim.openCommandBridge(join(dir, 'bridge.sock'));
  const shim = join(projectRoot(), 'dist', 'sim', 'bridge', 'shim.js');
  for (const name of bridge.commandNames) {
    const wrapper = join(bin, name);
    writeFileSync(wrapper, `#!/bin/sh\nexec ${quote(process.execPath)} ${quote(shim)} ${quote(bridge.socketPath)} ${quote(name)} "$@"\n`);
    chmodSync(wrapper, 0o755);
  }
  const canaryLog = join(dir, 'canary.log');
  writeFileSync(join(bin, CANARY), `#!/bin/sh\nprintf '%s\\n' "$*" >> ${quote(canaryLog)}\n`);
  chmodSync(join(bin, CANARY), 0o755);
  // sshd runs this (as ForceCommand) in place of the command: the session's PATH is the simulated host's, and the
  // product's line goes to dash as sshd would hand it to a login shell.
  const session = join(dir, 'session.sh');
  writeFileSync(session, `#!/bin/sh\nPATH=${quote(bin)}\nexport PATH\ncd /\nexec /bin/sh -c "$SSH_ORIGINAL_COMMAND"\n`);
  chmodSync(session, 0o755);

  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host_key')]);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'client_key')]);
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'client_key.pub')));
  const fingerprint = execFileSync('ssh-keygen', ['-l', '-f', join(dir, 'host_key.pub')], { encoding: 'utf8' }).split(' ')[1]!;
  const user = userInfo().username;
  const port = await freePort();
  const config = join(dir, 'sshd_config');
  writeFileSync(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${join(dir, 'host_key')}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      'PermitRootLogin prohibit-password',
      `AllowUsers ${user}`,
      `ForceCommand ${session}`,
      'MaxSessions 10',
      'LogLevel ERROR',
      '',
    ].join('\n'),
  );
  // As root, sshd wants its privilege separation directory; it exists wherever the package's service ran once.
  if (process.getuid?.() === 0) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  let log = '';
  const sshd = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  sshd.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString('utf8')));
  try {
    await waitForPort(port, sshd, () => log);
  } catch (error) {
    sshd.kill('SIGKILL');
    await bridge.close();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    port,
    user,
    identityFile: join(dir, 'client_key'),
    fingerprint,
    canaryCalls: () => {
      try {
        return readFileSync(canaryLog, 'utf8').split('\n').filter(Boolean);
      } catch {
        return [];
      }
    },
    async stop() {
      const exited = new Promise((resolve) => (sshd.exitCode !== null ? resolve(undefined) : sshd.once('exit', resolve)));
      sshd.kill('SIGTERM');
      await exited;
      await bridge.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
