// The `late` fault over real SSH: the host finishes a command after delayMs whether the client waited, gave up or vanished.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClientChannel } from 'ssh2';
import { parseFaultRules } from '../../src/sim/faults.js';
import { startSimulator, type Simulator } from '../../src/sim/simulator.js';
import { smallInventory, waitUntil } from './integration/helpers.js';
import { connectClient, execOn } from './ssh-helpers.js';

const DELAY_MS = 400;
const IDLE = { writesPerSecond: 0, flushIntervalMs: 600_000, seed: 4 };

let sim: Simulator;

beforeAll(async () => {
  sim = await startSimulator({
    inventory: smallInventory([
      { name: 'closer', vmid: 31, disks: [{ size: '8M', fillBytes: '1M' }], guest: IDLE },
      { name: 'dropper', vmid: 32, disks: [{ size: '8M', fillBytes: '1M' }], guest: IDLE },
      { name: 'waiter', vmid: 33, disks: [{ size: '8M', fillBytes: '1M' }], guest: IDLE },
    ]),
    faults: [
      { match: '^vim-cmd vmsvc/snapshot\\.create ', action: 'late', delayMs: DELAY_MS },
      { match: '^echo late-to-file$', action: 'late', delayMs: DELAY_MS },
    ],
  });
});
afterAll(async () => sim?.stop());

const login = () => connectClient({ port: sim.port, username: sim.username, password: sim.password });

/** Starts a command and resolves with its channel once the fault engine has seen it (the host is now sitting on it). */
function startOn(client: Awaited<ReturnType<typeof login>>, line: string): Promise<{ channel: ClientChannel; exit: () => number | undefined; closed: Promise<void> }> {
  const firedBefore = sim.faults.fired.length;
  return new Promise((resolve, reject) => {
    client.exec(line, (err, channel) => {
      if (err) return reject(err);
      let code: number | undefined;
      channel.on('exit', (c: number) => (code = c));
      channel.resume();
      channel.stderr.resume();
      const closed = new Promise<void>((r) => channel.once('close', () => r()));
      waitUntil(() => sim.faults.fired.length > firedBefore, `the late rule to fire for ${line}`).then(
        () => resolve({ channel, exit: () => code, closed }),
        reject,
      );
    });
  });
}

const lateRecord = (vmid: number) => sim.commandLog.find((r) => r.argv[1] === 'vmsvc/snapshot.create' && r.argv[2] === String(vmid));

describe('a late snapshot.create', () => {
  it('completes on the host after the client closed its channel (a client-side timeout)', async () => {
    const vm = sim.esx.vm('closer');
    const client = await login();
    try {
      const started = await startOn(client, `vim-cmd vmsvc/snapshot.create ${vm.vmid} late-one '' 0 0; touch /tmp/after-late`);
      started.channel.close();
      await started.closed;
      expect(started.exit()).toBeUndefined();
      expect(vm.snapshots).toEqual([]);

      await waitUntil(() => vm.snapshots.length === 1, 'the snapshot to appear on the host');
      expect(vm.snapshots[0]!.name).toBe('late-one');
      expect(vm.diskPath(0)).toBe(`${vm.dir}/closer-000001.vmdk`);
      expect(sim.esx.vfs.stat(`${vm.dir}/closer-000001-delta.vmdk`)).toBeDefined();
      await waitUntil(() => lateRecord(vm.vmid) !== undefined, 'the late command to be logged');
      const record = lateRecord(vm.vmid)!;
      expect(record).toMatchObject({ exitCode: 0, fault: 'late (rule 0)' });
      expect(record.endedAt - record.startedAt).toBeGreaterThanOrEqual(DELAY_MS);
      // The rest of the command line belonged to the session the client ended: it never runs.
      expect(sim.esx.vfs.stat('/tmp/after-late')).toBeUndefined();
    } finally {
      client.end();
    }
  });

  it('completes on the host after the whole SSH connection went away', async () => {
    const vm = sim.esx.vm('dropper');
    const client = await login();
    await startOn(client, `vim-cmd vmsvc/snapshot.create ${vm.vmid} after-drop '' 0 0`);
    const gone = new Promise<void>((r) => client.once('close', () => r()));
    client.destroy();
    await gone;
    expect(vm.snapshots).toEqual([]);
    await waitUntil(() => vm.snapshots.length === 1, 'the snapshot to appear after the connection dropped');
    expect(vm.snapshots[0]!.name).toBe('after-drop');
    await waitUntil(() => lateRecord(vm.vmid) !== undefined, 'the late command to be logged');
    expect(lateRecord(vm.vmid)!.exitCode).toBe(0);
  });

  it('answers normally, only later, when the client keeps waiting', async () => {
    const vm = sim.esx.vm('waiter');
    const client = await login();
    try {
      const sent = Date.now();
      const r = await execOn(client, `vim-cmd vmsvc/snapshot.create ${vm.vmid} waited '' 0 0 && echo next`);
      expect(Date.now() - sent).toBeGreaterThanOrEqual(DELAY_MS);
      expect(r.code).toBe(0);
      expect(r.stdout.toString()).toBe('Create Snapshot:\nnext\n');
      expect(r.stderr).toBe('');
      expect(vm.snapshots.map((s) => s.name)).toEqual(['waited']);
    } finally {
      client.end();
    }
  });
});

it('a late command whose client left still writes into a file the command line redirected it to', async () => {
  const client = await login();
  const started = await startOn(client, 'echo late-to-file > /tmp/late-out');
  started.channel.close();
  await started.closed;
  expect(sim.esx.vfs.readFile('/tmp/late-out').toString()).toBe('');
  await waitUntil(() => sim.esx.vfs.readFile('/tmp/late-out').length > 0, 'the redirected output');
  expect(sim.esx.vfs.readFile('/tmp/late-out').toString()).toBe('late-to-file\n');
  client.end();
});

it('stop() abandons a late command still waiting out its delay, and returns promptly', async () => {
  const other = await startSimulator({
    inventory: smallInventory([{ name: 'pending', vmid: 41, disks: [{ size: '8M' }], guest: IDLE }]),
    faults: [{ match: '^vim-cmd vmsvc/snapshot\\.create ', action: 'late', delayMs: 60_000 }],
  });
  const client = await connectClient({ port: other.port, username: other.username, password: other.password });
  const pending = new Promise<void>((resolve, reject) => {
    client.exec('vim-cmd vmsvc/snapshot.create 41 never', (err, channel) => {
      if (err) return reject(err);
      channel.resume();
      waitUntil(() => other.faults.fired.length === 1, 'the late rule to fire').then(() => {
        channel.close();
        resolve();
      }, reject);
    });
  });
  await pending;
  client.end();
  const stopping = Date.now();
  await other.stop();
  expect(Date.now() - stopping).toBeLessThan(30_000);
  expect(other.esx.vm(41).snapshots).toEqual([]);
  expect(other.commandLog.find((r) => r.argv[1] === 'vmsvc/snapshot.create')).toMatchObject({ exitCode: 129, fault: 'late (rule 0)' });
});

it('a late rule needs delayMs', () => {
  expect(() => parseFaultRules([{ match: 'x', action: 'late' }])).toThrow(/\[0\]\.delayMs: required for action "late"/);
  expect(parseFaultRules([{ match: 'x', action: 'late', delayMs: 5 }])).toEqual([{ match: 'x', action: 'late', delayMs: 5 }]);
});
