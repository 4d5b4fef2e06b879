// A snapshot.create that runs out of space at its very last allocation leaves the VM as it was (no .vmx naming a deleted delta).

import { afterAll, beforeAll, expect, it } from 'vitest';
import { findVimFault } from '../../src/esx/parse/vim-fault.js';
import { parseInventory } from '../../src/sim/inventory.js';
import type { SimVm } from '../../src/sim/esx/vm.js';
import { startSimulator, type Simulator } from '../../src/sim/simulator.js';
import { connectClient, execOn } from './ssh-helpers.js';

const DS = 'small';
const FILLER = `/vmfs/volumes/${DS}/filler`;
// Small blocks, so that the .vmx and .vmsd growing by a few bytes can need a block of their own.
const BLOCK = 512;
// The .vmsd records the description: this one makes it grow by blocks, the create's last allocation.
const DESCRIPTION = 'd'.repeat(3 * BLOCK);
const twin = (name: string, vmid: number) => ({ name, vmid, power: 'off', disks: [{ size: '1M', fillBytes: '64K' }], guest: { writesPerSecond: 0 } });

let sim: Simulator;
beforeAll(async () => {
  sim = await startSimulator({
    inventory: parseInventory({ datastores: [{ name: DS, capacity: '16M', blockSize: BLOCK }], vms: [twin('twin-a', 61), twin('twin-b', 62)], seed: 3 }),
  });
});
afterAll(async () => sim?.stop());

const free = () => sim.esx.vfs.datastores()[0]!.free;

async function ssh(line: string) {
  const client = await connectClient({ port: sim.port, username: sim.username, password: sim.password });
  try {
    return await execOn(client, line);
  } finally {
    client.end();
  }
}

function footprint(vm: SimVm) {
  const read = (p: string) => sim.esx.vfs.readFile(p).toString('utf8');
  return { vmx: read(vm.state.vmxPath), vmsd: read(`${vm.dir}/${vm.fileBase}.vmsd`), files: sim.esx.vfs.list(vm.dir), snapshots: vm.snapshots.length, disk: vm.diskPath(0) };
}

it('one block short of what a twin VM used: the create fails with a space fault and changes nothing; with the block back it succeeds', async () => {
  const a = sim.esx.vm('twin-a');
  const b = sim.esx.vm('twin-b');
  const before = free();
  expect((await ssh(`vim-cmd vmsvc/snapshot.create 61 s1 ${DESCRIPTION} 0 0`)).code).toBe(0);
  const needed = (before - free()) / BLOCK;
  expect(a.snapshots).toHaveLength(1);
  expect(needed).toBeGreaterThan(2);

  const left = needed - 1;
  sim.esx.vfs.createFile(FILLER, { size: free() - left * BLOCK, thin: false });
  expect(free()).toBe(left * BLOCK);
  const was = footprint(b);
  const disk = b.readDisk(0);
  const r = await ssh(`vim-cmd vmsvc/snapshot.create 62 s1 ${DESCRIPTION} 0 0`);
  expect(r.code).not.toBe(0);
  expect(findVimFault(r.stdout.toString())?.message).toMatch(/space/i);
  expect(footprint(b)).toEqual(was);
  expect(b.readDisk(0).equals(disk)).toBe(true);

  sim.esx.vfs.remove(FILLER);
  expect((await ssh(`vim-cmd vmsvc/snapshot.create 62 s1 ${DESCRIPTION} 0 0`)).code).toBe(0);
  expect(b.diskPath(0)).toBe(`${b.dir}/twin-b-000001.vmdk`);
  expect(b.snapshots.map((s) => s.name)).toEqual(['s1']);
});
