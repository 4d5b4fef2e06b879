// A running VM that already has user snapshots, backed up in nbd and san mode on hosts whose vmkfstools takes descriptors only, and on one that will not map snapshot deltas.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { isDescriptor } from '../../src/formats/vmdk-descriptor.js';
import { replayWrites } from '../../src/sim/guest/guest.js';
import { FAST_GUEST, markerIndex, smallInventory } from '../sim/integration/helpers.js';
import { readCatalog, SNAPSHOT_NAME, startBench, type Bench } from './cli-helpers.js';

const LINK = /-\d{6}(-delta)?\.vmdk$/;

/** Two disks (thin and thick) under two user snapshots, with a guest writing to both. */
const layeredVm = {
  name: 'layered',
  vmid: 51,
  disks: [
    { size: '16M', thin: true, fillBytes: '2M' },
    { size: '8M', thin: false, fillBytes: '1M' },
  ],
  guest: FAST_GUEST,
  snapshots: [
    { name: 'before-upgrade', description: 'admin' },
    { name: 'after-upgrade', description: 'admin' },
  ],
};

describe.each([
  { host: 'a host whose vmkfstools maps snapshot links', deltaMaps: 'file' as const },
  { host: 'a host whose vmkfstools refuses to map snapshot deltas', deltaMaps: 'refuse' as const },
])('on $host', ({ deltaMaps }) => {
  let bench: Bench;

  beforeAll(async () => {
    bench = await startBench(smallInventory([layeredVm], { snapshotDeltaMaps: deltaMaps }));
  });
  afterAll(async () => bench?.stop());

  test.each(['nbd', 'san'] as const)('-m %s: the export is the disks at the snapshot, the user snapshots are untouched', async (mode) => {
    const { sim } = bench;
    const vm = sim.esx.vm('layered');
    const users = vm.snapshots.map((s) => [s.name, s.uid]);
    expect(users.map(([name]) => name)).toEqual(['before-upgrade', 'after-upgrade']);
    const links = sim.esx.vfs.list(vm.dir).filter((n) => LINK.test(n)).sort();
    expect(links).toHaveLength(8);
    // The user snapshots' lower links never change; the top ones take our delta back when it is removed.
    const tops = [0, 1].map((i) => vm.diskPath(i));
    const top = (n: string) => tops.some((t) => t.endsWith(`/${n}`) || t.replace(/\.vmdk$/, '-delta.vmdk').endsWith(`/${n}`));
    const frozen = new Map(links.filter((n) => !top(n)).map((n) => [n, sim.esx.vfs.readFile(`${vm.dir}/${n}`)]));
    expect(frozen.size).toBe(4);

    const initial = [vm.readDisk(0), vm.readDisk(1)];
    const from = vm.guest.events.length;
    const commandsFrom = sim.commandLog.length;
    const out = join(bench.work, `out-${mode}`);
    const ds = sim.esx.vfs.datastores()[0]!;
    const r = await bench.cli(['-a', 'name:layered', '-r', out, '-m', mode, ...(mode === 'san' ? ['--lun', `${ds.lvid}=${ds.lunPath}`] : [])]);
    expect(r.exitCode, r.stderr).toBe(0);

    const events = vm.guest.events.slice(from);
    const snapAt = markerIndex(events, 'snapshot.created');
    expect(snapAt).toBeGreaterThanOrEqual(0);
    const atSnapshot = replayWrites(initial, events, FAST_GUEST.seed, snapAt);
    const catalog = readCatalog(out);
    for (let i = 0; i < 2; i++) {
      const disk = catalog.disks[i]!;
      expect(disk.snapshotDeltas).toHaveLength(2);
      expect(disk.snapshotDeltas.every((p) => p.endsWith('-delta.vmdk'))).toBe(true);
      const flat = readFileSync(join(out, disk.extentFiles[0]!));
      expect(flat.equals(atSnapshot[i]!), `disk ${i}`).toBe(true);
      const expectedRaw = join(bench.work, `expected-${mode}-${i}.raw`);
      writeFileSync(expectedRaw, atSnapshot[i]!);
      await execa('qemu-img', ['compare', '-f', 'vmdk', '-F', 'raw', join(out, disk.descriptorFile), expectedRaw]);
    }

    // Ours is gone, the user's snapshots and their files are as they were, and no guest write was lost.
    expect(vm.snapshots.map((s) => [s.name, s.uid])).toEqual(users);
    expect(vm.snapshots.map((s) => s.name)).not.toContain(SNAPSHOT_NAME);
    expect(sim.esx.vfs.list(vm.dir).filter((n) => LINK.test(n)).sort()).toEqual(links);
    expect([0, 1].map((i) => vm.diskPath(i))).toEqual(tops);
    for (const [name, bytes] of frozen) expect(sim.esx.vfs.readFile(`${vm.dir}/${name}`).equals(bytes), name).toBe(true);
    // (No await from here to the reads: the guest applies nothing in between.)
    const everything = replayWrites(initial, vm.guest.events.slice(from), FAST_GUEST.seed);
    const now = [vm.readDisk(0), vm.readDisk(1)];
    for (let i = 0; i < 2; i++) expect(now[i]!.equals(everything[i]!)).toBe(true);

    // vmkfstools was only ever handed descriptors, and succeeded each time it was asked for a map it then used.
    const commands = sim.commandLog.slice(commandsFrom);
    const mapped = commands.filter((c) => c.argv[0] === 'vmkfstools');
    expect(mapped.length).toBeGreaterThan(0);
    for (const c of mapped) {
      const file = sim.esx.vfs.readFile(c.argv[2]!);
      expect(isDescriptor(file), c.argv[2]).toBe(true);
    }
    const deltaReads = commands.filter((c) => c.argv[0] === 'cat' && c.argv[1]!.endsWith('-delta.vmdk'));
    const fallback = mode === 'san' && deltaMaps === 'refuse';
    const warnings = catalog.warnings.filter((w) => w.includes('snapshot delta'));
    if (mode === 'nbd') {
      // nbd reads the deltas through the host and needs no map of them.
      expect(mapped.map((c) => c.argv[2]!.split('/').pop())).toEqual(['layered.vmdk', 'layered_1.vmdk']);
      expect(deltaReads).toHaveLength(4);
    } else {
      // san asks for the map of every link's descriptor (the base's and the two users')...
      expect(mapped).toHaveLength(6);
      expect(mapped.filter((c) => /-\d{6}\.vmdk$/.test(c.argv[2]!))).toHaveLength(4);
      // ...and reads through the host exactly the deltas the host would not map.
      expect(deltaReads).toHaveLength(fallback ? 4 : 0);
    }
    if (fallback) {
      expect(warnings).toHaveLength(4);
      for (const slot of ['scsi0:0', 'scsi0:1']) {
        expect(warnings.filter((w) => w.startsWith(`${slot} `))).toHaveLength(2);
      }
      expect(warnings[0]).toMatch(/-000001-delta\.vmdk \(.*does not map.*\), so -m san read that delta through the host/);
      expect(r.stderr).toMatch(/scsi0:0 .*no usable block map of snapshot delta .*layered-000001-delta\.vmdk/);
    } else {
      expect(warnings).toEqual([]);
      expect(r.stderr).not.toMatch(/no usable block map/);
    }
    expect(sim.esx.vm('layered').snapshots.some((s) => s.name === SNAPSHOT_NAME)).toBe(false);
  });
});
