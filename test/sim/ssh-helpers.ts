// Helpers for the SSH server tests: a server over a temp host's shell, and an ssh2 client that reports how a channel ended.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import type { ClientChannel, ConnectConfig } from 'ssh2';
import { loadOrCreateHostKey, type HostKey } from '../../src/sim/host-key.js';
import { startSshServer, type SshServerHandle, type SshUser } from '../../src/sim/ssh-server.js';
import { runCommandLine } from '../../src/sim/shell/interp.js';
import { posixCommands } from '../../src/sim/posix/index.js';
import type { CommandRecord, CommandTable } from '../../src/sim/shell/types.js';
import { FaultEngine } from '../../src/sim/faults.js';
import { makeTempHost, type TempHost } from './shell-helpers.js';

const { Client } = ssh2;

export interface SimServer {
  host: TempHost;
  server: SshServerHandle;
  hostKey: HostKey;
  keyDir: string;
  faults: FaultEngine;
  records: CommandRecord[];
  close(): Promise<void>;
}

export async function startSimServer(users: SshUser[], commands: CommandTable = posixCommands()): Promise<SimServer> {
  const host = makeTempHost(256 * 1024 * 1024);
  const keyDir = mkdtempSync(join(tmpdir(), 'sim-ssh-keys-'));
  const hostKey = loadOrCreateHostKey(join(keyDir, 'host_ed25519'));
  const faults = new FaultEngine();
  const records: CommandRecord[] = [];
  const server = await startSshServer({
    hostKey: hostKey.privateKey,
    users,
    exec: (line, io) =>
      runCommandLine(line, {
        commands,
        vfs: host.vfs,
        env: { PATH: '/bin:/sbin', HOME: '/', ...io.env },
        stdin: io.stdin,
        stdout: io.stdout,
        stderr: io.stderr,
        signal: io.signal,
        session: io.session,
        faults,
        log: (r) => records.push(r),
        onDrop: io.drop,
      }),
  });
  return {
    host,
    server,
    hostKey,
    keyDir,
    faults,
    records,
    close: async () => {
      await server.close();
      host.cleanup();
      rmSync(keyDir, { recursive: true, force: true });
    },
  };
}

export interface ChannelOutcome {
  stdout: Buffer;
  stderr: string;
  /** Exit status, or undefined when the channel closed without one. */
  code: number | undefined;
  connectionClosed: boolean;
}

export function connectClient(config: ConnectConfig): Promise<InstanceType<typeof Client>> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    client.on('ready', () => resolve(client));
    client.on('error', reject);
    // ESXi takes passwords only by keyboard-interactive, as the simulated ESXi host does.
    client.on('keyboard-interactive', (_name, _instructions, _lang, prompts, finish) => finish(prompts.map(() => String(config.password ?? ''))));
    client.connect({ host: '127.0.0.1', readyTimeout: 10_000, tryKeyboard: config.password !== undefined, ...config });
  });
}

/** Runs a command on an ssh2 connection and reports how the channel ended. */
export function execOn(client: InstanceType<typeof Client>, command: string, opts: { stdin?: Buffer | string; onChannel?: (ch: ClientChannel) => void } = {}): Promise<ChannelOutcome> {
  return new Promise((resolve, reject) => {
    client.exec(command, (err, channel) => {
      if (err) return reject(err);
      const out: Buffer[] = [];
      const errOut: Buffer[] = [];
      let code: number | undefined;
      let connectionClosed = false;
      client.once('close', () => {
        connectionClosed = true;
        finish();
      });
      let finished = false;
      const finish = () => {
        if (finished) return;
        finished = true;
        resolve({ stdout: Buffer.concat(out), stderr: Buffer.concat(errOut).toString('utf8'), code, connectionClosed });
      };
      channel.on('data', (c: Buffer) => out.push(c));
      channel.stderr.on('data', (c: Buffer) => errOut.push(c));
      channel.on('exit', (c: number | null) => {
        code = c ?? undefined;
      });
      channel.on('close', () => setImmediate(finish));
      if (opts.stdin !== undefined) channel.end(opts.stdin);
      else channel.end();
      opts.onChannel?.(channel);
    });
  });
}
