// Snapshot removal on a full datastore, over SSH: it fails with a space fault and changes nothing; once there is room a retry commits every write.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findVimFault } from '../../src/esx/parse/vim-fault.js';
import { replayWrites } from '../../src/sim/guest/guest.js';
import type { SimVm } from '../../src/sim/esx/vm.js';
import { startSimulator, type Simulator } from '../../src/sim/simulator.js';
import { appliesSince, DATASTORE, FAST_GUEST, smallInventory, waitUntil } from './integration/helpers.js';
import { connectClient, execOn } from './ssh-helpers.js';

const COLD = { writesPerSecond: 0, flushIntervalMs: 600_000, seed: 9 };
const FILLER = `/vmfs/volumes/${DATASTORE}/filler`;

interface Baseline {
  initial: Buffer;
  start: number;
}

/** Everything about a VM a failed removal must leave alone (the delta's bytes aside: a running guest keeps writing there). */
interface Footprint {
  vmx: string;
  vmsd: string;
  files: string[];
  snapshots: string[];
  disks: string[];
}

function footprint(sim: Simulator, vm: SimVm): Footprint {
  const read = (p: string) => sim.esx.vfs.readFile(p).toString('utf8');
  return {
    vmx: read(vm.state.vmxPath),
    vmsd: read(`${vm.dir}/${vm.fileBase}.vmsd`),
    files: sim.esx.vfs.list(vm.dir),
    snapshots: vm.snapshots.map((s) => `${s.uid}:${s.name}`),
    disks: vm.spec.disks.map((_, i) => vm.diskPath(i)),
  };
}

const baseline = (vm: SimVm): Baseline => ({ initial: vm.readDisk(0), start: vm.guest.events.length });

/** The disk as the guest's log says it is: the initial content plus every write that reached the disk since. */
function expectDiskHoldsEveryWrite(vm: SimVm, b: Baseline): Buffer {
  const disk = vm.readDisk(0);
  const replayed = replayWrites([b.initial], vm.guest.events.slice(b.start), vm.spec.guest.seed)[0]!;
  expect(disk.equals(replayed)).toBe(true);
  return disk;
}

/** Takes every free block but `leave`, as a real disk-filling file would. */
function fillUp(sim: Simulator, leave = 0): void {
  const info = () => sim.esx.vfs.datastores().find((d) => d.name === DATASTORE)!;
  sim.esx.vfs.createFile(FILLER, { size: info().free - leave * info().blockSize, thin: false });
  expect(info().free).toBe(leave * info().blockSize);
}

async function ssh(sim: Simulator, line: string) {
  const client = await connectClient({ port: sim.port, username: sim.username, password: sim.password });
  try {
    return await execOn(client, line);
  } finally {
    client.end();
  }
}

describe('ESXi (vim-cmd)', () => {
  let sim: Simulator;
  beforeAll(async () => {
    sim = await startSimulator({
      inventory: smallInventory([
        { name: 'busy', vmid: 51, disks: [{ size: '16M', thin: false, fillBytes: '2M' }], guest: FAST_GUEST },
        { name: 'stacked', vmid: 52, disks: [{ size: '16M', fillBytes: '2M' }], guest: { ...FAST_GUEST, seed: 6 }, snapshots: [{ name: 'user1' }] },
        {
          name: 'cold',
          vmid: 53,
          power: 'off',
          disks: [
            { size: '8M', thin: false, fillBytes: '1M' },
            { size: '16M', thin: true, fillBytes: '8M' },
          ],
          guest: COLD,
          snapshots: [{ name: 'before' }, { name: 'second' }],
        },
      ]),
      faults: [{ match: '^vim-cmd vmsvc/snapshot\\.remove 51 ', action: 'fill', datastore: DATASTORE, times: 1 }],
    });
  });
  afterAll(async () => sim?.stop());

  it('snapshot.remove on a datastore that fills up fails with NoDiskSpace; the VM keeps its delta; a later retry commits every write', async () => {
    const vm = sim.esx.vm('busy');
    await waitUntil(() => appliesSince(vm.guest.events, 0) >= 5, 'first guest writes');
    const b = baseline(vm);
    expect((await ssh(sim, `vim-cmd vmsvc/snapshot.create 51 backup '' 0 0`)).code).toBe(0);
    await waitUntil(() => appliesSince(vm.guest.events, b.start) >= 40, 'guest writes into the delta');
    const before = footprint(sim, vm);
    expect(before.disks).toEqual([`${vm.dir}/busy-000001.vmdk`]);

    const r = await ssh(sim, `vim-cmd vmsvc/snapshot.remove 51 ${vm.snapshots[0]!.uid}`);
    expect(r.code).not.toBe(0);
    const fault = findVimFault(r.stdout.toString());
    expect(fault?.type).toBe('vim.fault.NoDiskSpace');
    expect(fault?.message).toMatch(/space/i);
    expect(sim.commandLog.at(-1)?.fault).toBe('fill (rule 0)');

    expect(footprint(sim, vm)).toEqual(before);
    expect(sim.esx.vfs.stat(`${vm.dir}/busy-000001-delta.vmdk`)).toBeDefined();
    expectDiskHoldsEveryWrite(vm, b);

    sim.esx.vfs.setFull(DATASTORE, false);
    const retry = await ssh(sim, `vim-cmd vmsvc/snapshot.remove 51 ${vm.snapshots[0]!.uid}`);
    expect(retry.code).toBe(0);
    expect(retry.stdout.toString()).toBe('Remove Snapshot:\n');
    const disk = expectDiskHoldsEveryWrite(vm, b);
    expect(sim.esx.vfs.readFile(`${vm.dir}/busy-flat.vmdk`).equals(disk)).toBe(true);
    expect(vm.snapshots).toEqual([]);
    expect(vm.diskPath(0)).toBe(`${vm.dir}/busy.vmdk`);
    expect(sim.esx.vfs.list(vm.dir).filter((f) => f.includes('-00000'))).toEqual([]);
  });

  it('snapshot.removeall on a datastore with no free block fails and keeps both snapshots; after freeing space it succeeds', async () => {
    const vm = sim.esx.vm('stacked');
    const b = baseline(vm);
    expect((await ssh(sim, `vim-cmd vmsvc/snapshot.create 52 backup '' 0 0`)).code).toBe(0);
    await waitUntil(() => appliesSince(vm.guest.events, b.start) >= 40, 'guest writes into the newest delta');
    fillUp(sim);
    try {
      const before = footprint(sim, vm);
      expect(before.snapshots.map((s) => s.split(':')[1])).toEqual(['user1', 'backup']);
      const r = await ssh(sim, 'vim-cmd vmsvc/snapshot.removeall 52');
      expect(r.code).not.toBe(0);
      expect(findVimFault(r.stdout.toString())?.type).toBe('vim.fault.NoDiskSpace');
      expect(footprint(sim, vm)).toEqual(before);
      expectDiskHoldsEveryWrite(vm, b);
    } finally {
      sim.esx.vfs.remove(FILLER);
    }
    const retry = await ssh(sim, 'vim-cmd vmsvc/snapshot.removeall 52');
    expect(retry.code).toBe(0);
    const disk = expectDiskHoldsEveryWrite(vm, b);
    expect(sim.esx.vfs.readFile(`${vm.dir}/stacked-flat.vmdk`).equals(disk)).toBe(true);
    expect(vm.snapshots).toEqual([]);
    expect(sim.esx.vfs.list(vm.dir).filter((f) => f.includes('-00000'))).toEqual([]);
  });

  it('a powered-off VM whose thin disk must grow: the consolidation fails part-way and every file is put back as it was', async () => {
    const vm = sim.esx.vm('cold');
    const flats = [`${vm.dir}/cold-flat.vmdk`, `${vm.dir}/cold_1-flat.vmdk`];
    const newer = [`${vm.dir}/cold-000002.vmdk`, `${vm.dir}/cold_1-000002.vmdk`];
    const read = (p: string) => sim.esx.vfs.readFile(p);
    const views = [vm.readDisk(0), vm.readDisk(1)];
    const flatBytes = flats.map(read);
    const newerBytes = newer.map(read);
    const blockSize = sim.esx.vfs.datastores()[0]!.blockSize;
    // Removing the older snapshot commits its delta into both bases: disk 0 is thick (that commit needs no
    // space and succeeds, and the newer snapshot's descriptor is repointed), disk 1 is thin with its last 8 MiB
    // unallocated and the delta holds writes over more holes than there will be free blocks.
    const events = vm.guest.events;
    const from = events.findIndex((e) => e.ev === 'marker' && e.what === 'snapshot.created');
    const until = events.findIndex((e, i) => i > from && e.ev === 'marker' && e.what === 'snapshot.created');
    const holeBlocks = new Set(
      events
        .slice(from, until)
        .flatMap((e) => (e.ev === 'apply' && e.disk === 1 && e.offset >= 8 * 1024 * 1024 ? [Math.floor(e.offset / blockSize), Math.floor((e.offset + e.length - 1) / blockSize)] : [])),
    );
    expect(holeBlocks.size).toBeGreaterThan(2);
    expect(events.slice(from, until).some((e) => e.ev === 'apply' && e.disk === 0)).toBe(true);
    // Room for the consolidation's own needs (a block per disk), not for the thin disk's growth.
    fillUp(sim, 2);
    try {
      const before = footprint(sim, vm);
      const r = await ssh(sim, `vim-cmd vmsvc/snapshot.remove 53 1`);
      expect(r.code).not.toBe(0);
      expect(findVimFault(r.stdout.toString())?.type).toBe('vim.fault.NoDiskSpace');
      // The commit got as far as taking the last free blocks (a thin file keeps what it grew by, as on VMFS).
      expect(sim.esx.vfs.datastores()[0]!.free).toBe(0);
      expect(footprint(sim, vm)).toEqual(before);
      flats.forEach((p, i) => expect(read(p).equals(flatBytes[i]!), p).toBe(true));
      newer.forEach((p, i) => expect(read(p).equals(newerBytes[i]!), p).toBe(true));
      expect(vm.readDisk(0).equals(views[0]!)).toBe(true);
      expect(vm.readDisk(1).equals(views[1]!)).toBe(true);
    } finally {
      sim.esx.vfs.remove(FILLER);
    }
    expect((await ssh(sim, 'vim-cmd vmsvc/snapshot.remove 53 1')).code).toBe(0);
    expect(vm.snapshots.map((s) => s.name)).toEqual(['second']);
    expect(vm.readDisk(0).equals(views[0]!)).toBe(true);
    expect(vm.readDisk(1).equals(views[1]!)).toBe(true);
    expect(sim.esx.vfs.stat(`${vm.dir}/cold_1-000001-delta.vmdk`)).toBeUndefined();
  });
});

it('ESX 3.x: vmware-cmd removesnapshots on a full datastore fails with a VMControl error and changes nothing; the retry succeeds', async () => {
  const sim = await startSimulator({
    inventory: smallInventory([{ name: 'old', disks: [{ size: '16M', thin: false, fillBytes: '2M' }], guest: FAST_GUEST }], { kind: 'esx3' }),
    faults: [{ match: '^vmware-cmd .* removesnapshots$', action: 'fill', datastore: DATASTORE, times: 1 }],
  });
  try {
    const vm = sim.esx.vm('old');
    const b = baseline(vm);
    expect((await ssh(sim, `vmware-cmd '${vm.state.vmxPath}' createsnapshot backup '' 0 0`)).code).toBe(0);
    await waitUntil(() => appliesSince(vm.guest.events, b.start) >= 40, 'guest writes into the delta');
    const before = footprint(sim, vm);
    const r = await ssh(sim, `vmware-cmd '${vm.state.vmxPath}' removesnapshots`);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/^VMControl error -\d+: .*space/im);
    expect(footprint(sim, vm)).toEqual(before);
    expectDiskHoldsEveryWrite(vm, b);
    sim.esx.vfs.setFull(DATASTORE, false);
    const retry = await ssh(sim, `vmware-cmd '${vm.state.vmxPath}' removesnapshots`);
    expect(retry.code).toBe(0);
    expect(retry.stdout.toString()).toBe('removesnapshots() = 1\n');
    const disk = expectDiskHoldsEveryWrite(vm, b);
    expect(sim.esx.vfs.readFile(`${vm.dir}/old-flat.vmdk`).equals(disk)).toBe(true);
    expect(vm.snapshots).toEqual([]);
  } finally {
    await sim.stop();
  }
});
