// Running VMs on a VMFS6 datastore (SEsparse snapshot deltas), one whose chain also holds a COWD link, backed up by the CLI in nbd and san mode: byte-exact, ours removed, guest writes kept.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { isDescriptor } from '../../src/formats/vmdk-descriptor.js';
import { replayWrites } from '../../src/sim/guest/guest.js';
import { parseInventory } from '../../src/sim/inventory.js';
import { FAST_GUEST, markerIndex } from '../sim/integration/helpers.js';
import { readCatalog, SNAPSHOT_NAME, startBench, type Bench } from './cli-helpers.js';

const VMS = [
  {
    // Two disks (thin and thick) under two user snapshots, all SEsparse.
    name: 'vmfs6',
    vmid: 61,
    disks: [
      { size: '16M', thin: true, fillBytes: '2M' },
      { size: '8M', thin: false, fillBytes: '1M' },
    ],
    guest: FAST_GUEST,
    snapshots: [{ name: 'before-upgrade' }, { name: 'after-upgrade' }],
  },
  {
    // A user snapshot taken while the VM lived on VMFS5 (COWD), one on VMFS6 (SEsparse); ours is SEsparse.
    name: 'mixed',
    vmid: 62,
    disks: [{ size: '24M', thin: true, fillBytes: '3M' }],
    guest: { ...FAST_GUEST, seed: 12 },
    snapshots: [{ name: 'on-vmfs5', format: 'vmfsSparse' }, { name: 'on-vmfs6' }],
  },
];

const FORMATS: Record<string, string[]> = {
  vmfs6: ['-000001-sesparse.vmdk', '-000002-sesparse.vmdk'],
  mixed: ['-000001-delta.vmdk', '-000002-sesparse.vmdk'],
};

let bench: Bench;
beforeAll(async () => {
  bench = await startBench(parseInventory({ datastores: [{ name: 'ds6', capacity: '512M', vmfsVersion: 6 }], vms: VMS, seed: 21 }));
});
afterAll(async () => bench?.stop());

describe.each(['vmfs6', 'mixed'])('VM %s', (name) => {
  test.each(['nbd', 'san'] as const)('-m %s: the export is the disks at our snapshot, byte-exact; ours is gone; no guest write is lost', async (mode) => {
    const { sim } = bench;
    const vm = sim.esx.vm(name);
    const disks = vm.spec.disks.length;
    const users = vm.snapshots.map((s) => [s.name, s.uid]);
    const links = () => sim.esx.vfs.list(vm.dir).filter((n) => /-\d{6}(-delta|-sesparse)?\.vmdk$/.test(n)).sort();
    const linksBefore = links();
    const initial = Array.from({ length: disks }, (_, i) => vm.readDisk(i));
    const from = vm.guest.events.length;
    const commandsFrom = sim.commandLog.length;
    const createFile = vi.spyOn(sim.esx.vfs, 'createFile');
    const out = join(bench.work, `${name}-${mode}`);
    const ds = sim.esx.vfs.datastores()[0]!;
    const r = await bench.cli(['-a', `name:${name}`, '-r', out, '-m', mode, ...(mode === 'san' ? ['--lun', `${ds.lvid}=${ds.lunPath}`] : [])]);
    expect(r.exitCode, r.stderr).toBe(0);
    // Our snapshot's links were SEsparse, as on any VMFS6 datastore.
    const createdFiles = createFile.mock.calls.map(([path]) => path.slice(path.lastIndexOf('/') + 1));
    createFile.mockRestore();
    const ourLinks = createdFiles.filter((f) => /-\d{6}-(delta|sesparse)\.vmdk$/.test(f));
    expect(ourLinks.map((f) => f.replace(/-\d{6}-/, '-N-'))).toEqual(Array.from({ length: disks }, (_, i) => `${name}${i === 0 ? '' : `_${i}`}-N-sesparse.vmdk`));
    const commands = sim.commandLog.slice(commandsFrom);
    const events = vm.guest.events.slice(from);
    const snapAt = markerIndex(events, 'snapshot.created');
    expect(snapAt).toBeGreaterThanOrEqual(0);
    const atSnapshot = replayWrites(initial, events, vm.spec.guest.seed, snapAt);
    const catalog = readCatalog(out);
    expect(catalog.warnings).toEqual([]);
    for (let i = 0; i < disks; i++) {
      const disk = catalog.disks[i]!;
      expect(disk.snapshotDeltas.map((p) => p.slice(p.lastIndexOf('-00000')))).toEqual(FORMATS[name]);
      const flat = readFileSync(join(out, disk.extentFiles[0]!));
      expect(flat.equals(atSnapshot[i]!), `disk ${i}`).toBe(true);
      const expectedRaw = join(bench.work, `expected-${name}-${mode}-${i}.raw`);
      writeFileSync(expectedRaw, atSnapshot[i]!);
      await execa('qemu-img', ['compare', '-f', 'vmdk', '-F', 'raw', join(out, disk.descriptorFile), expectedRaw]);
    }

    // Ours is gone, the user's snapshots and their links are as they were, every guest write is in the disks.
    expect(vm.snapshots.map((s) => [s.name, s.uid])).toEqual(users);
    expect(vm.snapshots.map((s) => s.name)).not.toContain(SNAPSHOT_NAME);
    expect(links()).toEqual(linksBefore);
    const everything = replayWrites(initial, vm.guest.events.slice(from), vm.spec.guest.seed);
    for (let i = 0; i < disks; i++) expect(vm.readDisk(i).equals(everything[i]!), `disk ${i} now`).toBe(true);

    // vmkfstools only ever got descriptors; nbd read the users' links through the host, san through their maps.
    const created = commands.filter((c) => c.argv[0] === 'cat' && /-\d{6}-sesparse\.vmdk$/.test(c.argv[1] ?? ''));
    const mapped = commands.filter((c) => c.argv[0] === 'vmkfstools');
    for (const c of mapped) expect(isDescriptor(sim.esx.vfs.readFile(c.argv[2]!)), c.argv[2]).toBe(true);
    if (mode === 'nbd') {
      expect(created.length).toBe(FORMATS[name]!.filter((f) => f.includes('sesparse')).length * disks);
    } else {
      expect(created).toEqual([]);
      expect(mapped.filter((c) => /-\d{6}\.vmdk$/.test(c.argv[2]!))).toHaveLength(2 * disks);
    }
    const ours = commands.filter((c) => c.argv[0] === 'vim-cmd' && c.argv[1] === 'vmsvc/snapshot.create');
    expect(ours).toHaveLength(1);
  });
});

describe('on a VMFS6 host that will not map snapshot deltas', () => {
  let refusing: Bench;
  beforeAll(async () => {
    refusing = await startBench(parseInventory({ host: { snapshotDeltaMaps: 'refuse' }, datastores: [{ name: 'ds6', capacity: '512M', vmfsVersion: 6 }], vms: [VMS[1]], seed: 22 }));
  });
  afterAll(async () => refusing?.stop());

  test('-m san reads the COWD and SEsparse links through the host, checked whole, with a warning each; the export is byte-exact', async () => {
    const { sim } = refusing;
    const vm = sim.esx.vm('mixed');
    const initial = [vm.readDisk(0)];
    const from = vm.guest.events.length;
    const out = join(refusing.work, 'mixed-san-refused');
    const ds = sim.esx.vfs.datastores()[0]!;
    const r = await refusing.cli(['-a', 'name:mixed', '-r', out, '-m', 'san', '--lun', `${ds.lvid}=${ds.lunPath}`]);
    expect(r.exitCode, r.stderr).toBe(0);
    const events = vm.guest.events.slice(from);
    const atSnapshot = replayWrites(initial, events, vm.spec.guest.seed, markerIndex(events, 'snapshot.created'));
    const catalog = readCatalog(out);
    expect(readFileSync(join(out, catalog.disks[0]!.extentFiles[0]!)).equals(atSnapshot[0]!)).toBe(true);
    const warnings = catalog.warnings.filter((w) => w.includes('snapshot delta'));
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/mixed-000001-delta\.vmdk \(.*does not map.*\), so -m san read that delta through the host/);
    expect(warnings[1]).toMatch(/mixed-000002-sesparse\.vmdk \(.*does not map.*\), so -m san read that delta through the host/);
    expect(vm.snapshots.map((s) => s.name)).toEqual(['on-vmfs5', 'on-vmfs6']);
  });
});
