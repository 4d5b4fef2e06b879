// `vcbmounter sim` as a process (the built CLI): prints its endpoint, serves SSH, honours --port/--dir/--inventory/--faults.

import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { parseGetAllVms } from '../../../src/esx/parse/getallvms.js';
import { binCommand } from '../../../tools/test-support/bin-command.js';
import { freePort } from '../../../tools/test-support/free-port.js';


interface Endpoint {
  host: string;
  port: number;
  username: string;
  password: string;
  fingerprint: string;
}

let work: string;
const children: ChildProcess[] = [];

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'sim-e2e-cli-'));
});
afterAll(async () => {
  for (const c of children) {
    if (c.exitCode !== null || c.signalCode !== null) continue;
    const gone = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
  rmSync(work, { recursive: true, force: true });
});

/** Starts `vcbmounter sim ...` and resolves with the JSON endpoint line it prints once ready. */
function startCli(args: string[]): Promise<{ child: ChildProcess; endpoint: Endpoint; exited: Promise<number | null> }> {
  const run = binCommand(['sim', ...args]);
  const child = spawn(run.command, run.args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return new Promise((resolveStart, reject) => {
    let out = '';
    let err = '';
    child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) resolveStart({ child, endpoint: JSON.parse(out.slice(0, nl)) as Endpoint, exited });
    });
    child.on('exit', (code) => reject(new Error(`vcbmounter sim exited ${code} before it was ready: ${err}`)));
  });
}

/** One exec over ssh2 with the endpoint's password (keyboard-interactive), refusing any host key but the printed fingerprint. */
function sshExec(ep: Endpoint, line: string): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolveExec, reject) => {
    const client = new ssh2.Client();
    client
      .on('ready', () => {
        client.exec(line, (err, channel) => {
          if (err) return reject(err);
          let stdout = '';
          let stderr = '';
          let code = -1;
          channel.on('data', (c: Buffer) => (stdout += c.toString()));
          channel.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
          channel.on('exit', (c: number) => (code = c));
          channel.on('close', () => {
            client.end();
            resolveExec({ stdout, stderr, code });
          });
        });
      })
      .on('error', reject)
      // The simulated ESXi host takes the password by keyboard-interactive only.
      .on('keyboard-interactive', (_name, _instructions, _lang, prompts, finish) => finish(prompts.map(() => ep.password)))
      .connect({
        host: ep.host,
        port: ep.port,
        username: ep.username,
        tryKeyboard: true,
        hostVerifier: (key: Buffer) => `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}` === ep.fingerprint,
      });
  });
}

test('vcbmounter sim serves the inventory and faults it is given, on its --port, keeping state in --dir', async () => {
  const inventory = join(work, 'inventory.json');
  writeFileSync(
    inventory,
    JSON.stringify({
      host: { hostname: 'cli-sim.local' },
      datastores: [{ name: 'ds1', capacity: '128M' }],
      vms: [{ name: 'cli vm', vmid: 31, disks: [{ size: '8M', fillBytes: '1M' }], guest: { writesPerSecond: 0 } }],
    }),
  );
  const faults = join(work, 'faults.json');
  writeFileSync(faults, JSON.stringify([{ match: '^vmware -v$', action: 'fail', exitCode: 4, stderr: 'injected by the fault file' }]));
  const stateDir = join(work, 'state');
  const port = await freePort();
  const args = ['--port', String(port), '--dir', stateDir, '--inventory', inventory, '--faults', faults];

  const first = await startCli(args);
  expect(first.endpoint).toMatchObject({ host: '127.0.0.1', port, username: 'root' });
  const list = await sshExec(first.endpoint, 'vim-cmd vmsvc/getallvms');
  expect(list.code).toBe(0);
  expect(parseGetAllVms(list.stdout).vms.map((v) => [v.vmid, v.name])).toEqual([['31', 'cli vm']]);
  expect(await sshExec(first.endpoint, 'hostname')).toMatchObject({ code: 0, stdout: 'cli-sim.local\n' });
  expect(await sshExec(first.endpoint, 'vmware -v')).toMatchObject({ code: 4, stderr: 'injected by the fault file\n' });
  expect((await sshExec(first.endpoint, "vim-cmd vmsvc/snapshot.create 31 kept '' 0 0")).code).toBe(0);

  first.child.kill('SIGTERM');
  expect(await first.exited).toBe(0);
  expect(existsSync(join(stateDir, 'host.json'))).toBe(true);

  const second = await startCli(['--port', '0', '--dir', stateDir]);
  try {
    expect(second.endpoint.fingerprint).toBe(first.endpoint.fingerprint);
    expect(second.endpoint.password).toBe(first.endpoint.password);
    const tree = await sshExec(second.endpoint, 'vim-cmd vmsvc/snapshot.get 31');
    expect(tree.stdout).toContain('--Snapshot Name        : kept');
  } finally {
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  }
});
