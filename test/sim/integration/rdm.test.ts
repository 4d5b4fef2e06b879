// Raw device mappings on the simulated host: virtual-mode ones snapshot and consolidate like disks, physical ones never do, neither has a block map.

import { afterAll, beforeAll, expect, test } from 'vitest';
import { startSimulator, type Simulator } from '../../../src/sim/simulator.js';
import { shellJoin } from '../../../src/util/shell-quote.js';
import { smallInventory } from './helpers.js';

const MiB = 1024 * 1024;
let sim: Simulator;

beforeAll(async () => {
  sim = await startSimulator({
    inventory: smallInventory([
      {
        name: 'rdms',
        disks: [
          { size: '4M', fillBytes: '1M' },
          { size: '4M', rdm: 'virtual', fillBytes: '2M' },
          { size: '4M', rdm: 'physical', fillBytes: '1M' },
        ],
        guest: { writesPerSecond: 0 },
      },
    ]),
  });
});
afterAll(async () => sim?.stop());

const file = (name: string) => `${sim.esx.vm('rdms').dir}/${name}`;

test('vmkfstools -t0 gives no block map for an RDM descriptor or mapping file, and still does for a flat disk', async () => {
  for (const name of ['rdms_1.vmdk', 'rdms_2.vmdk']) {
    const r = await sim.exec(shellJoin(['vmkfstools', '-t0', file(name)]));
    expect(r.exitCode, name).toBe(1);
    expect(r.stderr).toMatch(/raw device mapping/);
    expect(r.stdout.length).toBe(0);
  }
  // A mapping file is not a descriptor: refused like any other extent file.
  for (const name of ['rdms_1-rdm.vmdk', 'rdms_2-rdmp.vmdk']) {
    const r = await sim.exec(shellJoin(['vmkfstools', '-t0', file(name)]));
    expect(r.exitCode, name).toBe(1);
    expect(r.stderr).toBe(`Failed to open '${file(name)}': The file specified is not a virtual disk (15).\n`);
    expect(r.stdout.length).toBe(0);
  }
  const flat = await sim.exec(shellJoin(['vmkfstools', '-t0', file('rdms.vmdk')]));
  expect(flat.exitCode, flat.stderr).toBe(0);
  expect(flat.stdout.toString()).toMatch(/^Mapping for file /);
});

test('dd of a mapping file through the host reads the RDM as the guest sees it', async () => {
  const vm = sim.esx.vm('rdms');
  const r = await sim.exec(shellJoin(['dd', `if=${file('rdms_1-rdm.vmdk')}`, 'bs=1048576', 'count=4']));
  expect(r.exitCode, r.stderr).toBe(0);
  expect(r.stdout.equals(vm.readDisk(1))).toBe(true);
  expect(r.stdout.subarray(0, MiB).some((b) => b !== 0)).toBe(true);
});

test('a snapshot puts a delta on the virtual RDM and none on the physical one; removing it consolidates into the mapping file', async () => {
  const vm = sim.esx.vm('rdms');
  const mappingBefore = sim.esx.vfs.readFile(file('rdms_1-rdm.vmdk'));
  const snap = await vm.createSnapshot({ name: 's', description: 'd', memory: false, quiesce: false });
  expect(snap.children[0]).toMatch(/rdms-000001\.vmdk$/);
  expect(snap.children[1]).toMatch(/rdms_1-000001\.vmdk$/);
  expect(snap.children[2]).toBe('');
  expect(vm.diskPath(1)).toBe(snap.children[1]);
  expect(vm.diskPath(2)).toBe(file('rdms_2.vmdk'));

  const virtualWrite = Buffer.alloc(4096, 0xa5);
  const physicalWrite = Buffer.alloc(4096, 0x5a);
  vm.chain(1).write(virtualWrite, 3 * MiB);
  vm.chain(2).write(physicalWrite, 2 * MiB);
  expect(vm.readDisk(1).subarray(3 * MiB, 3 * MiB + 4096).equals(virtualWrite)).toBe(true);
  expect(sim.esx.vfs.readFile(file('rdms_1-rdm.vmdk')).equals(mappingBefore)).toBe(true);
  expect(sim.esx.vfs.readFile(file('rdms_2-rdmp.vmdk')).subarray(2 * MiB, 2 * MiB + 4096).equals(physicalWrite)).toBe(true);

  vm.removeSnapshot(snap.uid);
  expect(vm.diskPath(1)).toBe(file('rdms_1.vmdk'));
  const mappingAfter = sim.esx.vfs.readFile(file('rdms_1-rdm.vmdk'));
  expect(mappingAfter.subarray(3 * MiB, 3 * MiB + 4096).equals(virtualWrite)).toBe(true);
  expect(mappingAfter.subarray(0, 3 * MiB).equals(mappingBefore.subarray(0, 3 * MiB))).toBe(true);
  expect(sim.esx.vfs.list(vm.dir).filter((n) => /-\d{6}(-delta)?\.vmdk$/.test(n))).toEqual([]);
});
