// Fault rules given to the simulator (as objects and as a --faults JSON file) act on commands run over SSH.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { findVimFault } from '../../../src/esx/parse/vim-fault.js';
import type { FaultRule } from '../../../src/sim/faults.js';
import { startSimulator, type Simulator } from '../../../src/sim/simulator.js';
import { DATASTORE, makeClientKey, openSsh, smallInventory, waitUntil, type ClientKey, type OpenSsh } from './helpers.js';

const IDLE = { writesPerSecond: 0, flushIntervalMs: 600_000, seed: 2 };
const PROBABLE: FaultRule = { match: '^hostname$', action: 'fail', probability: 0.5, seed: 1234, exitCode: 9 };
const VICTIM_CAT = `/vmfs/volumes/${DATASTORE}/victim/victim.vmx`;

let key: ClientKey;
let sim: Simulator;
let ssh: OpenSsh;
let work: string;

beforeAll(async () => {
  key = await makeClientKey();
  work = mkdtempSync(join(tmpdir(), 'sim-e2e-faults-'));
  sim = await startSimulator({
    inventory: smallInventory([
      { name: 'victim', vmid: 21, disks: [{ size: '16M', fillBytes: '1M' }], guest: IDLE },
      {
        name: 'grower',
        vmid: 22,
        disks: [{ size: '32M', fillBytes: '1M' }],
        guest: { writesPerSecond: 400, flushIntervalMs: 10, writeSize: 65536, seed: 3 },
        snapshots: [{ name: 'old' }],
      },
      { name: 'fresh', vmid: 23, disks: [{ size: '16M', fillBytes: '1M' }], guest: IDLE },
    ]),
    faults: [
      { match: '^vim-cmd vmsvc/snapshot\\.create 21 ', action: 'fail', nth: 2, exitCode: 3, stderr: 'injected: snapshot create refused' },
      { match: `^cat ${VICTIM_CAT.replace(/\./g, '\\.')}$`, action: 'drop' },
      { match: '^vim-cmd vmsvc/snapshot\\.create 23 ', action: 'fill', datastore: DATASTORE },
      PROBABLE,
    ],
    authorizedKeys: [key.publicKey],
  });
  ssh = await openSsh(sim, key);
});
afterAll(async () => {
  await sim?.stop();
  key?.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Runs `hostname` n times in one SSH session and returns which runs the fault engine failed. */
async function hostnamePattern(target: Simulator, client: OpenSsh, n: number): Promise<boolean[]> {
  const from = target.commandLog.length;
  await client.run(Array.from({ length: n }, () => 'hostname').join('; '));
  const runs = target.commandLog.slice(from).filter((c) => c.argv[0] === 'hostname');
  expect(runs).toHaveLength(n);
  for (const r of runs) expect(r.exitCode).toBe(r.fault ? 9 : 0);
  return runs.map((r) => r.fault !== undefined);
}

test('the 2nd snapshot.create of a VM fails as the rule says; the 1st and 3rd succeed', async () => {
  const create = (name: string) => ssh.run(`vim-cmd vmsvc/snapshot.create 21 ${name} '' 0 0`);
  expect((await create('a')).code).toBe(0);
  const second = await create('b');
  expect(second.code).toBe(3);
  expect(second.stderr).toBe('injected: snapshot create refused\n');
  expect(second.stdout.toString()).toBe('');
  expect((await create('c')).code).toBe(0);
  expect(sim.esx.vm(21).snapshots.map((s) => s.name)).toEqual(['a', 'c']);
  const logged = sim.commandLog.filter((c) => c.argv[1] === 'vmsvc/snapshot.create' && c.argv[2] === '21');
  expect(logged.map((c) => c.fault)).toEqual([undefined, 'fail (rule 0)', undefined]);
});

test('a drop rule cuts the SSH connection in the middle of a cat; the next connection works', async () => {
  const r = await ssh.run(`cat ${VICTIM_CAT}`);
  expect(r.code).toBe(255);
  expect(r.stdout.length).toBe(0);
  const last = sim.commandLog.filter((c) => c.argv[0] === 'cat').pop()!;
  expect(last.fault).toBe('drop (rule 1)');
  expect(await ssh.ok(`ls /vmfs/volumes/${DATASTORE}/victim`)).toContain('victim.vmx');
  expect(await ssh.ok(`cat /vmfs/volumes/${DATASTORE}/victim/victim.vmsd`)).toContain('snapshot.numSnapshots = "2"');
});

test('a probability rule with a seed fires the same way on every simulator that loads it', async () => {
  const here = await hostnamePattern(sim, ssh, 16);
  expect(here).toContain(true);
  expect(here).toContain(false);

  const faultFile = join(work, 'faults.json');
  writeFileSync(faultFile, JSON.stringify({ rules: [PROBABLE, { match: '^vmware -v$', action: 'fail', exitCode: 4, stderr: 'from the fault file' }] }));
  const other = await startSimulator({
    inventory: smallInventory([{ name: 'tiny', power: 'off', disks: [{ size: '1M' }] }]),
    faults: faultFile,
    authorizedKeys: [key.publicKey],
  });
  try {
    const otherSsh = await openSsh(other, key);
    expect(await hostnamePattern(other, otherSsh, 16)).toEqual(here);
    const version = await otherSsh.run('vmware -v');
    expect(version.code).toBe(4);
    expect(version.stderr).toBe('from the fault file\n');
    expect(other.faults.fired.map((f) => f.argv[0])).toContain('vmware');
  } finally {
    await other.stop();
  }
});

test('a full datastore fails snapshot.create with a space error, leaves no delta, and stalls writes into an existing delta', async () => {
  const grower = sim.esx.vm('grower');
  expect(grower.snapshots.map((s) => s.name)).toEqual(['old']);
  expect(grower.guest.stalled).toBeUndefined();
  const fresh = sim.esx.vm('fresh');
  const vmxBefore = sim.esx.vfs.readFile(fresh.state.vmxPath).toString();
  const filesBefore = sim.esx.vfs.list(fresh.dir);

  const r = await ssh.run(`vim-cmd vmsvc/snapshot.create 23 backup '' 0 0`);
  expect(r.code).not.toBe(0);
  const fault = findVimFault(r.stdout.toString());
  expect(fault?.message).toMatch(/space/i);
  expect(sim.commandLog.filter((c) => c.argv[2] === '23').pop()?.fault).toBe('fill (rule 2)');

  expect(fresh.snapshots).toEqual([]);
  expect(sim.esx.vfs.list(fresh.dir)).toEqual(filesBefore);
  expect(sim.esx.vfs.readFile(fresh.state.vmxPath).toString()).toBe(vmxBefore);
  expect(sim.esx.vfs.datastores()[0]!.free).toBe(0);

  await waitUntil(() => grower.guest.stalled !== undefined, 'the guest writing into a delta to stall');
  expect(grower.guest.stalled).toMatch(/space|ENOSPC/i);
  const stalledAt = grower.guest.events.length;
  await new Promise((r) => setTimeout(r, 50));
  expect(grower.guest.events.slice(stalledAt).filter((e) => e.ev === 'apply')).toEqual([]);
  sim.esx.vfs.setFull(DATASTORE, false);
});
