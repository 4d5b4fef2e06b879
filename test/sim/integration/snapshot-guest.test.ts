// Snapshots taken and removed over SSH while the guest keeps writing: the base freezes, the guest log replays every layer.

import { afterAll, beforeAll, expect, test } from 'vitest';
import { parseSnapshotGet } from '../../../src/esx/parse/snapshot-tree.js';
import { parseVmsd } from '../../../src/esx/parse/vmsd.js';
import { vimCmd } from '../../../src/esx/commands/vim-cmd.js';
import { parseDescriptor } from '../../../src/formats/vmdk-descriptor.js';
import { replayWrites, type GuestEvent } from '../../../src/sim/guest/guest.js';
import type { SimVm } from '../../../src/sim/esx/vm.js';
import { startSimulator, type Simulator } from '../../../src/sim/simulator.js';
import { shellJoin, shellQuote } from '../../../src/util/shell-quote.js';
import { appliesSince, FAST_GUEST, makeClientKey, markerIndex, openSsh, smallInventory, waitUntil, type ClientKey, type OpenSsh } from './helpers.js';

let key: ClientKey;
let sim: Simulator;
let ssh: OpenSsh;

const writerVm = (name: string, snapshots: Array<{ name: string; description: string }> = []) => ({
  name,
  disks: [{ size: '16M', fillBytes: '2M' }],
  guest: FAST_GUEST,
  snapshots,
});

beforeAll(async () => {
  key = await makeClientKey();
  sim = await startSimulator({
    inventory: smallInventory([
      writerVm('writer'),
      writerVm('layered', [{ name: 'user1', description: 'kept by the admin' }]),
      writerVm('layered2', [{ name: 'user1', description: 'kept by the admin' }]),
    ]),
    authorizedKeys: [key.publicKey],
  });
  ssh = await openSsh(sim, key);
});
afterAll(async () => {
  await sim?.stop();
  key?.cleanup();
});

interface Baseline {
  initial: Buffer;
  start: number;
}

/** The disk and the log position at one instant (one synchronous tick). */
function baseline(vm: SimVm): Baseline {
  return { initial: vm.readDisk(0), start: vm.guest.events.length };
}

/** The disk as the guest log says it was just before events[until]. */
function replayed(vm: SimVm, b: Baseline, until = vm.guest.events.length): Buffer {
  const events: readonly GuestEvent[] = vm.guest.events;
  return replayWrites([b.initial], events.slice(b.start, until), vm.spec.guest.seed)[0]!;
}

/** readDisk and the replay of every applied write, taken in the same tick. */
function expectDiskMatchesLog(vm: SimVm, b: Baseline): Buffer {
  const disk = vm.readDisk(0);
  expect(disk.equals(replayed(vm, b))).toBe(true);
  return disk;
}

async function catOverSsh(path: string): Promise<Buffer> {
  const r = await ssh.run(`cat ${shellQuote(path)}`);
  expect(r.code).toBe(0);
  return r.stdout;
}

async function snapshotTree(vm: SimVm) {
  return parseSnapshotGet(await ssh.ok(shellJoin(vimCmd.snapshotGet(String(vm.vmid)))));
}

async function createSnapshotOverSsh(vm: SimVm, name: string): Promise<number> {
  const from = vm.guest.events.length;
  expect(await ssh.ok(`vim-cmd vmsvc/snapshot.create ${vm.vmid} ${name} d 0 0`)).toBe('Create Snapshot:\n');
  const created = markerIndex(vm.guest.events, 'snapshot.created', from);
  expect(created).toBeGreaterThanOrEqual(from);
  return created;
}

async function guestWrites(vm: SimVm, from: number, n = 40): Promise<void> {
  await waitUntil(() => appliesSince(vm.guest.events, from) >= n, `${n} guest writes on ${vm.name}`);
}

const flatOf = (vm: SimVm) => `${vm.dir}/${vm.fileBase}-flat.vmdk`;

test('the base flat file freezes at snapshot time; removing the snapshot commits every write', async () => {
  const vm = sim.esx.vm('writer');
  await guestWrites(vm, 0, 5);
  const b = baseline(vm);
  const created = await createSnapshotOverSsh(vm, 's1');
  await guestWrites(vm, created);

  const flat = await catOverSsh(flatOf(vm));
  expect(flat.equals(replayed(vm, b, created))).toBe(true);
  const disk = expectDiskMatchesLog(vm, b);
  expect(disk.equals(flat)).toBe(false);
  expect(vm.diskPath(0)).toBe(`${vm.dir}/writer-000001.vmdk`);

  const [snap] = await snapshotTree(vm);
  expect(snap).toMatchObject({ name: 's1', description: 'd' });
  expect(await ssh.ok(shellJoin(vimCmd.snapshotRemove(String(vm.vmid), snap!.id!)))).toBe('Remove Snapshot:\n');

  const afterRemove = expectDiskMatchesLog(vm, b);
  expect(sim.esx.vfs.readFile(flatOf(vm)).equals(afterRemove)).toBe(true);
  for (const gone of ['writer-000001.vmdk', 'writer-000001-delta.vmdk', 'writer-Snapshot1.vmsn']) {
    expect(sim.esx.vfs.stat(`${vm.dir}/${gone}`), gone).toBeUndefined();
  }
  expect(await ssh.ok(`ls ${shellQuote(vm.dir)}`)).not.toContain('-00000');
  expect((await catOverSsh(vm.state.vmxPath)).toString()).toContain('scsi0:0.fileName = "writer.vmdk"');
  expect(parseVmsd((await catOverSsh(`${vm.dir}/writer.vmsd`)).toString())).toEqual([]);
  expect(await snapshotTree(vm)).toEqual([]);

  const removedAt = vm.guest.events.length;
  await guestWrites(vm, removedAt, 20);
  const later = expectDiskMatchesLog(vm, b);
  expect(sim.esx.vfs.readFile(flatOf(vm)).equals(later)).toBe(true);
});

test('removing the newest of two snapshots keeps the user snapshot and its delta', async () => {
  const vm = sim.esx.vm('layered');
  const baseFlat = sim.esx.vfs.readFile(flatOf(vm));
  await guestWrites(vm, 0, 5);
  const b = baseline(vm);
  const created = await createSnapshotOverSsh(vm, 's2');
  await guestWrites(vm, created);

  const tree = await snapshotTree(vm);
  expect(tree.map((s) => [s.name, s.depth, s.parentName])).toEqual([
    ['user1', 0, undefined],
    ['s2', 1, 'user1'],
  ]);
  expect(vm.chain(0).layers.map((l) => l.descriptorPath.split('/').pop())).toEqual(['layered.vmdk', 'layered-000001.vmdk', 'layered-000002.vmdk']);
  expectDiskMatchesLog(vm, b);

  await ssh.ok(shellJoin(vimCmd.snapshotRemove(String(vm.vmid), tree[1]!.id!)));
  expectDiskMatchesLog(vm, b);

  const left = await snapshotTree(vm);
  expect(left.map((s) => [s.name, s.id, s.description])).toEqual([['user1', '1', 'kept by the admin']]);
  expect(parseVmsd((await catOverSsh(`${vm.dir}/layered.vmsd`)).toString()).map((s) => s.name)).toEqual(['user1']);
  expect((await catOverSsh(vm.state.vmxPath)).toString()).toContain('scsi0:0.fileName = "layered-000001.vmdk"');
  expect(sim.esx.vfs.stat(`${vm.dir}/layered-000002.vmdk`)).toBeUndefined();
  expect(sim.esx.vfs.stat(`${vm.dir}/layered-000002-delta.vmdk`)).toBeUndefined();
  const userChild = parseDescriptor((await catOverSsh(`${vm.dir}/layered-000001.vmdk`)).toString());
  expect(userChild.extents[0]!.fileName).toBe('layered-000001-delta.vmdk');
  expect(userChild.parentFileNameHint).toBe('layered.vmdk');
  expect(sim.esx.vfs.readFile(flatOf(vm)).equals(baseFlat)).toBe(true);

  await guestWrites(vm, vm.guest.events.length, 20);
  expectDiskMatchesLog(vm, b);
});

test('removing the older snapshot commits it into the base and reparents the newer one', async () => {
  const vm = sim.esx.vm('layered2');
  await guestWrites(vm, 0, 5);
  const b = baseline(vm);
  const created = await createSnapshotOverSsh(vm, 's2');
  await guestWrites(vm, created);

  await ssh.ok(shellJoin(vimCmd.snapshotRemove(String(vm.vmid), '1')));
  expectDiskMatchesLog(vm, b);
  expect(sim.esx.vfs.readFile(flatOf(vm)).equals(replayed(vm, b, created))).toBe(true);

  expect((await snapshotTree(vm)).map((s) => s.name)).toEqual(['s2']);
  const top = parseDescriptor((await catOverSsh(`${vm.dir}/layered2-000002.vmdk`)).toString());
  expect(top.parentFileNameHint).toBe('layered2.vmdk');
  expect(top.parentCid).toBe(parseDescriptor(sim.esx.vfs.readFile(`${vm.dir}/layered2.vmdk`).toString()).cid);
  expect(sim.esx.vfs.stat(`${vm.dir}/layered2-000001-delta.vmdk`)).toBeUndefined();
  expect(vm.diskPath(0)).toBe(`${vm.dir}/layered2-000002.vmdk`);
});
