// The simulated host's snapshot trees (revert, branches, a current snapshot that is not the newest) and its unconsolidated removals.

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseSnapshotGet } from '../../../src/esx/parse/snapshot-tree.js';
import { parseVmsd } from '../../../src/esx/parse/vmsd.js';
import { parseVmSummary } from '../../../src/esx/parse/vm-summary.js';
import { parseVimDump } from '../../../src/esx/parse/vim-object.js';
import { startSimulator, type Simulator } from '../../../src/sim/simulator.js';
import type { SimVm } from '../../../src/sim/esx/vm.js';
import { smallInventory } from './helpers.js';

const COLD = { writesPerSecond: 0, flushIntervalMs: 600_000, seed: 3 };

let sim: Simulator;
const run = async (line: string) => {
  const r = await sim.exec(line);
  expect(r.exitCode, `${line}: ${r.stdout.toString()}${r.stderr}`).toBe(0);
  return r.stdout.toString();
};
const ids = async (vmid: number) => parseSnapshotGet(await run(`vim-cmd vmsvc/snapshot.get ${vmid}`));

/** Writes `text` at `offset` of disk 0 as the guest would. */
function write(vm: SimVm, offset: number, text: string): void {
  vm.chain(0).write(Buffer.from(text.padEnd(512, '.')), offset);
}
const at = (vm: SimVm, offset: number) => vm.readDisk(0).subarray(offset, offset + 16).toString().replace(/\.+$/, '');

beforeAll(async () => {
  sim = await startSimulator({
    inventory: smallInventory([
      { name: 'tree', vmid: 31, power: 'off', guest: COLD, disks: [{ size: '4M', fillBytes: '1M' }] },
      { name: 'unconsolidated', vmid: 32, power: 'off', guest: COLD, disks: [{ size: '4M', fillBytes: '1M' }], consolidation: { unconsolidatedRemovals: 1, failingConsolidations: 1 } },
    ]),
  });
});
afterAll(async () => sim?.stop());

describe('snapshot trees', () => {
  test('revert, a branch, and a current snapshot that is not the newest: listings, .vmsd and disks as a host keeps them', async () => {
    const vm = sim.esx.vm('tree');
    write(vm, 0, 'state-A');
    await run('vim-cmd vmsvc/snapshot.create 31 A a 0 0');
    write(vm, 0, 'state-B');
    await run('vim-cmd vmsvc/snapshot.create 31 B b 0 0');
    write(vm, 0, 'after-B');
    await run('vim-cmd vmsvc/snapshot.revert 31 1 0');
    expect(at(vm, 0)).toBe('state-A');
    write(vm, 0, 'state-C');
    await run('vim-cmd vmsvc/snapshot.create 31 C c 0 0');
    await run('vim-cmd vmsvc/snapshot.revert 31 2 0');
    expect(at(vm, 0)).toBe('state-B');
    expect(vm.currentSnapshot).toBe(2);

    const listed = await ids(31);
    expect(listed.map((s) => [s.name, s.id, s.parentId, s.depth])).toEqual([
      ['A', '1', undefined, 0],
      ['B', '2', '1', 1],
      ['C', '3', '1', 1],
    ]);
    const vmsdText = sim.esx.vfs.readFile(`${vm.dir}/${vm.fileBase}.vmsd`).toString();
    expect(vmsdText).toMatch(/^snapshot\.current = "2"$/m);
    expect(parseVmsd(vmsdText).map((s) => [s.name, s.id, s.parentId])).toEqual([
      ['A', '1', undefined],
      ['B', '2', '1'],
      ['C', '3', '1'],
    ]);
    const info = parseVimDump(await run('vim-cmd vmsvc/get.snapshotinfo 31')).value as Record<string, unknown>;
    expect(info.currentSnapshot).toBe('vim.vm.Snapshot:31-snapshot-2');

    // A snapshot of the current state is a child of B; removing it consolidates into B's branch only.
    write(vm, 512, 'runs-on-B');
    await run('vim-cmd vmsvc/snapshot.create 31 D d 0 0');
    expect((await ids(31)).map((s) => [s.name, s.parentName])).toEqual([
      ['A', undefined],
      ['B', 'A'],
      ['D', 'B'],
      ['C', 'A'],
    ]);
    write(vm, 1024, 'after-D');
    const files = sim.esx.vfs.list(vm.dir).sort();
    await run('vim-cmd vmsvc/snapshot.remove 31 4');
    expect(vm.currentSnapshot).toBe(2);
    expect(at(vm, 512)).toBe('runs-on-B');
    expect(at(vm, 1024)).toBe('after-D');
    expect((await ids(31)).map((s) => s.name)).toEqual(['A', 'B', 'C']);
    const gone = files.filter((f) => !sim.esx.vfs.list(vm.dir).includes(f));
    expect(gone.sort()).toEqual(['tree-000006-delta.vmdk', 'tree-000006.vmdk', 'tree-Snapshot4.vmsn']);

    // The other branch still reads as it was taken.
    await run('vim-cmd vmsvc/snapshot.revert 31 3 0');
    expect(at(vm, 0)).toBe('state-C');
    await run('vim-cmd vmsvc/snapshot.removeall 31');
    expect(vm.snapshots).toHaveLength(0);
    expect(at(vm, 0)).toBe('state-C');
    expect(sim.esx.vfs.list(vm.dir).filter((f) => /-\d{6}/.test(f))).toEqual([]);
  });
});

describe('consolidation needed (ESXi 5+)', () => {
  test('a removal that leaves the deltas: the VM runs on them, get.summary says so, snapshot.consolidate merges them', async () => {
    const vm = sim.esx.vm('unconsolidated');
    const base = vm.diskPath(0);
    await run('vim-cmd vmsvc/snapshot.create 32 S s 0 0');
    write(vm, 0, 'on-delta');
    await run('vim-cmd vmsvc/snapshot.remove 32 1');
    expect(vm.snapshots).toHaveLength(0);
    expect(vm.diskPath(0)).not.toBe(base);
    const summary = parseVmSummary(await run('vim-cmd vmsvc/get.summary 32'));
    expect(summary.raw.runtime).toMatchObject({ consolidationNeeded: true });

    const failed = await sim.exec('vim-cmd vmsvc/snapshot.consolidate 32');
    expect(failed.exitCode).toBe(1);
    expect(failed.stdout.toString()).toMatch(/vim\.fault\./);
    expect(vm.consolidationNeeded).toBe(true);

    await run('vim-cmd vmsvc/snapshot.consolidate 32');
    expect(vm.consolidationNeeded).toBe(false);
    expect(vm.diskPath(0)).toBe(base);
    expect(at(vm, 0)).toBe('on-delta');
    expect(sim.esx.vfs.list(vm.dir).filter((f) => /-\d{6}/.test(f))).toEqual([]);
  });
});

describe('ESX 3.x', () => {
  test('revertsnapshot goes back to the current snapshot; the .vmsd shows the tree; removals always consolidate', async () => {
    const esx3 = await startSimulator({
      inventory: smallInventory(
        [{ name: 'old', vmid: 41, power: 'off', guest: COLD, disks: [{ size: '4M', fillBytes: '1M' }], consolidation: { unconsolidatedRemovals: 5 } }],
        { kind: 'esx3' },
      ),
    });
    try {
      const vm = esx3.esx.vm('old');
      const exec = async (line: string) => {
        const r = await esx3.exec(line);
        expect(r.exitCode, `${line}: ${r.stdout.toString()}${r.stderr}`).toBe(0);
        return r.stdout.toString();
      };
      write(vm, 0, 'at-snap');
      await exec(`vmware-cmd ${vm.state.vmxPath} createsnapshot S d 0 0`);
      write(vm, 0, 'later');
      expect(await exec(`vmware-cmd ${vm.state.vmxPath} revertsnapshot`)).toBe('revertsnapshot() = 1\n');
      expect(at(vm, 0)).toBe('at-snap');
      const vmsd = esx3.esx.vfs.readFile(`${vm.dir}/${vm.fileBase}.vmsd`).toString();
      expect(vmsd).toMatch(/^snapshot\.current = "1"$/m);
      await exec(`vmware-cmd ${vm.state.vmxPath} removesnapshots`);
      expect(vm.consolidationNeeded).toBe(false);
      expect(vm.diskPath(0)).toMatch(/\/old\.vmdk$/);
    } finally {
      await esx3.stop();
    }
  });
});
