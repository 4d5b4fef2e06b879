// A running VM with a snapshot tree (a branch, and a current snapshot that is not the newest, after a revert), backed up byte-exact in nbd and san mode.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { parseVmsd } from '../../src/esx/parse/vmsd.js';
import { replayWrites } from '../../src/sim/guest/guest.js';
import type { SimVm } from '../../src/sim/esx/vm.js';
import { FAST_GUEST, markerIndex, smallInventory } from '../sim/integration/helpers.js';
import { readCatalog, SNAPSHOT_NAME, startBench, type Bench } from './cli-helpers.js';

const LINK = /-\d{6}(-delta)?\.vmdk$|\.vmsn$/;

let bench: Bench;

beforeAll(async () => {
  bench = await startBench(
    smallInventory([
      {
        name: 'branched',
        vmid: 61,
        disks: [
          { size: '16M', thin: true, fillBytes: '2M' },
          { size: '8M', thin: false, fillBytes: '1M' },
        ],
        guest: FAST_GUEST,
        snapshots: [{ name: 'A', description: 'root' }],
      },
    ]),
  );
  const { sim } = bench;
  const run = async (line: string) => {
    const r = await sim.exec(line);
    if (r.exitCode !== 0) throw new Error(`${line}: ${r.stdout.toString()}${r.stderr}`);
  };
  const settle = () => new Promise((r) => setTimeout(r, 150));
  // A → B; back to A; A → C (the newest); back to B, which is now current. The guest writes in between.
  await settle();
  await run('vim-cmd vmsvc/snapshot.create 61 B on-A 0 0');
  await settle();
  await run('vim-cmd vmsvc/snapshot.revert 61 1 0');
  await run('vim-cmd vmsvc/power.on 61');
  await settle();
  await run('vim-cmd vmsvc/snapshot.create 61 C newest 0 0');
  await settle();
  await run('vim-cmd vmsvc/snapshot.revert 61 2 0');
  await run('vim-cmd vmsvc/power.on 61');
  await settle();
});
afterAll(async () => bench?.stop());

/** Everything of the user's snapshots a backup must leave as it was: the tree, the current one, and the files only snapshots hold. */
function userTree(vm: SimVm, read: (p: string) => Buffer) {
  const vmsd = parseVmsd(read(`${vm.dir}/${vm.fileBase}.vmsd`).toString('utf8'));
  const current = /^snapshot\.current = "(\d+)"$/m.exec(read(`${vm.dir}/${vm.fileBase}.vmsd`).toString('utf8'))?.[1];
  return {
    listed: vmsd.map((s) => ({ name: s.name, id: s.id, parent: s.parentId, description: s.description, createdOn: s.createdOn })),
    current,
    model: vm.snapshots.map((s) => [s.uid, s.name, s.parent]),
  };
}

test.each(['nbd', 'san'] as const)('-m %s: the export is the current branch at the snapshot; the tree, its current snapshot and its files are untouched', async (mode) => {
  const { sim } = bench;
  const vm = sim.esx.vm('branched');
  const read = (p: string) => sim.esx.vfs.readFile(p);
  const tree = userTree(vm, read);
  expect(tree.listed.map((s) => [s.name, s.parent])).toEqual([
    ['A', undefined],
    ['B', '1'],
    ['C', '1'],
  ]);
  expect(tree.current).toBe('2');
  const tops = [0, 1].map((i) => vm.diskPath(i));
  const topFiles = tops.flatMap((t) => [t.split('/').pop()!, t.split('/').pop()!.replace(/\.vmdk$/, '-delta.vmdk')]);
  const files = sim.esx.vfs.list(vm.dir).filter((n) => LINK.test(n)).sort();
  const frozen = new Map(files.filter((n) => !topFiles.includes(n)).map((n) => [n, read(`${vm.dir}/${n}`)]));
  // A's and B's and C's kept layers (2 disks × descriptor and delta, but A keeps the bases) and the three .vmsn files.
  expect([...frozen.keys()].filter((n) => n.endsWith('.vmsn'))).toHaveLength(3);

  const commandsFrom = sim.commandLog.length;
  const initial = [vm.readDisk(0), vm.readDisk(1)];
  const from = vm.guest.events.length;
  const out = join(bench.work, `out-${mode}`);
  const ds = sim.esx.vfs.datastores()[0]!;
  const r = await bench.cli(['-a', 'name:branched', '-r', out, '-m', mode, ...(mode === 'san' ? ['--lun', `${ds.lvid}=${ds.lunPath}`] : [])]);
  expect(r.exitCode, r.stderr).toBe(0);

  const events = vm.guest.events.slice(from);
  const snapAt = markerIndex(events, 'snapshot.created');
  expect(snapAt).toBeGreaterThanOrEqual(0);
  const atSnapshot = replayWrites(initial, events, FAST_GUEST.seed, snapAt);
  const catalog = readCatalog(out);
  for (let i = 0; i < 2; i++) {
    const disk = catalog.disks[i]!;
    // The current branch: B's layer over A's bases, and the delta the VM ran on since the revert.
    expect(disk.snapshotDeltas).toHaveLength(2);
    const flat = readFileSync(join(out, disk.extentFiles[0]!));
    expect(flat.equals(atSnapshot[i]!), `disk ${i}`).toBe(true);
  }

  // Ours was a child of B, listed between B and C (not last), and removed by its own id, never by a remove-all.
  const ours = events.find((e) => e.ev === 'marker' && e.what === 'snapshot.created');
  const removals = sim.commandLog.slice(commandsFrom).filter((c) => c.argv[0] === 'vim-cmd' && /snapshot\.remove/.test(c.argv[1]!));
  expect(removals.map((c) => c.argv.slice(1))).toEqual([['vmsvc/snapshot.remove', '61', String((ours as { detail?: { uid?: number } }).detail?.uid)]]);

  // Ours is gone; the tree, its current snapshot and every file only snapshots hold are as before.
  expect(vm.snapshots.map((s) => s.name)).not.toContain(SNAPSHOT_NAME);
  expect(userTree(vm, read)).toEqual(tree);
  expect(vm.currentSnapshot).toBe(2);
  expect(sim.esx.vfs.list(vm.dir).filter((n) => LINK.test(n)).sort()).toEqual(files);
  expect([0, 1].map((i) => vm.diskPath(i))).toEqual(tops);
  for (const [name, bytes] of frozen) expect(read(`${vm.dir}/${name}`).equals(bytes), name).toBe(true);
  // Every guest write since is in the current branch (no await between these reads: the guest applies nothing).
  const everything = replayWrites(initial, vm.guest.events.slice(from), FAST_GUEST.seed);
  const now = [vm.readDisk(0), vm.readDisk(1)];
  for (let i = 0; i < 2; i++) expect(now[i]!.equals(everything[i]!), `disk ${i} after`).toBe(true);
  expect(vm.consolidationNeeded).toBe(false);
});

test('the VM reverted between reading its disks and the create: the run notices, removes its snapshot and exits 6; the tree is kept', async () => {
  const { sim } = bench;
  const vm = sim.esx.vm('branched');
  const rule = sim.faults.add({ match: '^vim-cmd vmsvc/snapshot\\.create', action: 'slow', delayMs: 1500, times: 1 });
  const firedBefore = sim.faults.fired.length;
  const out = join(bench.work, 'out-raced');
  const running = bench.cli(['-a', 'name:branched', '-r', out]);
  const until = Date.now() + 30_000;
  while (sim.faults.fired.length === firedBefore && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  expect(sim.faults.fired.slice(firedBefore).map((f) => f.ruleIndex)).toEqual([rule]);
  // The create is held back; meanwhile someone goes back to A.
  vm.revertToSnapshot(1);
  vm.powerOn();
  const r = await running;
  sim.faults.clear();
  expect(r.exitCode, r.stderr).toBe(6);
  expect(r.stderr).toMatch(/the disks of branched changed between reading them and taking the snapshot .*someone reverted the VM/);
  expect(vm.snapshots.map((s) => [s.uid, s.name, s.parent])).toEqual([
    [1, 'A', 0],
    [2, 'B', 1],
    [3, 'C', 1],
  ]);
  expect(vm.currentSnapshot).toBe(1);
  expect(vm.consolidationNeeded).toBe(false);
});
