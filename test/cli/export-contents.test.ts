// What a CLI backup writes: user snapshots laid under ours, sparse thin disks, the catalog and .vmx, -M 0, -m san/hotadd, skipped disks (virtual RDMs: rdm.test.ts).

import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { replayWrites } from '../../src/sim/guest/guest.js';
import { FAST_GUEST, DATASTORE, markerIndex, smallInventory } from '../sim/integration/helpers.js';
import { readCatalog, SNAPSHOT_NAME, startBench, type Bench } from './cli-helpers.js';

const IDLE = { writesPerSecond: 0 };
let bench: Bench;

beforeAll(async () => {
  bench = await startBench(
    smallInventory([
      { name: 'snappy', vmid: 31, disks: [{ size: '16M', fillBytes: '2M' }], guest: FAST_GUEST, snapshots: [{ name: 'before-upgrade', description: 'admin' }] },
      { name: 'sparse', vmid: 32, disks: [{ size: '64M', thin: true, fillBytes: '4M' }], guest: IDLE },
      {
        name: 'cat-vm',
        vmid: 33,
        uuid: '56 4d 11 22 33 44 55 66-77 88 99 aa bb cc dd ee',
        disks: [
          { size: '16M', thin: true, fillBytes: '1M' },
          { size: '16M', thin: false, fillBytes: '1M' },
        ],
        guest: IDLE,
      },
      { name: 'split', vmid: 34, disks: [{ size: '24M', thin: false, fillBytes: '3M' }], guest: IDLE },
      { name: 'indep', vmid: 35, disks: [{ size: '16M', fillBytes: '1M' }, { size: '16M', mode: 'independent-persistent' }], guest: IDLE },
      { name: 'rdm-vm', vmid: 36, disks: [{ size: '16M', fillBytes: '1M' }, { size: '64M', rdm: 'physical' }], guest: IDLE },
    ]),
  );
});
afterAll(async () => bench?.stop());

function flatFiles(dir: string): string[] {
  return readdirSync(dir).filter((n) => n.endsWith('-flat.vmdk'));
}

test('the snapshot is removed once both disks are read, before the VM files are copied and the catalog is written', async () => {
  const out = join(bench.work, 'cat-vm-order');
  const from = bench.sim.commandLog.length;
  const r = await bench.cli(['-a', 'name:cat-vm', '-r', out]);
  expect(r.exitCode, r.stderr).toBe(0);
  const commands = bench.sim.commandLog.slice(from);
  const at = (test: (argv: string[]) => boolean) => commands.findIndex((c) => test(c.argv));
  const lastAt = (test: (argv: string[]) => boolean) => commands.findLastIndex((c) => test(c.argv));
  const removed = at((a) => a.includes('vmsvc/snapshot.remove'));
  const lastDiskRead = lastAt((a) => a[0] === 'dd' && a.some((x) => x.includes('cat-vm_1-flat.vmdk')));
  const firstDiskRead = at((a) => a[0] === 'dd' && a.some((x) => x.includes('cat-vm-flat.vmdk')));
  const nvramCopy = at((a) => a[0] === 'cat' && a.some((x) => x.endsWith('.nvram')));
  expect(firstDiskRead).toBeGreaterThanOrEqual(0);
  expect(removed).toBeGreaterThan(lastDiskRead);
  expect(lastDiskRead).toBeGreaterThan(firstDiskRead);
  expect(nvramCopy).toBeGreaterThan(removed);
  expect(statSync(join(out, 'catalog')).mtimeMs).toBeGreaterThanOrEqual(commands[removed]!.endedAt);
  expect(bench.sim.esx.vm('cat-vm').snapshots).toHaveLength(0);
  // The snapshots are listed four times: to inspect them (that listing serves the create), after the
  // create, to find ours for the removal (that one serves the removal), and after the removal.
  const listings = commands.filter((c) => c.argv.includes('vmsvc/snapshot.get')).map((c) => c.startedAt);
  const created = commands[at((a) => a.includes('vmsvc/snapshot.create'))]!.startedAt;
  const removing = commands[removed]!.startedAt;
  expect(listings.length).toBe(4);
  expect(listings.filter((t) => t < created).length).toBe(1);
  expect(listings.filter((t) => t > created && t < removing).length).toBe(2);
  expect(listings.filter((t) => t > removing).length).toBe(1);
  // Each disk descriptor is read once (the RDM check and the chain walk share the read); after the create,
  // each new link's descriptor once, to check it sits on the disk the plan read.
  const descriptorReads = commands.filter((c) => c.argv[0] === 'cat' && c.argv.some((a) => a.endsWith('.vmdk')));
  const planned = descriptorReads.filter((c) => c.startedAt < created).map((c) => c.argv.at(-1)!);
  const links = descriptorReads.filter((c) => c.startedAt > created).map((c) => c.argv.at(-1)!);
  expect(planned.length).toBe(2);
  expect(new Set(planned).size).toBe(2);
  expect(links.length).toBe(2);
  expect(links.every((p) => /-000001\.vmdk$/.test(p))).toBe(true);
  expect(new Set(links).size).toBe(2);
});

test("a user snapshot's delta is part of the export, and the user snapshot survives with its id and delta file", async () => {
  const vm = bench.sim.esx.vm('snappy');
  const user = vm.snapshots.find((s) => s.name === 'before-upgrade')!;
  const userChild = user.children[0]!;
  const userDelta = userChild.replace(/\.vmdk$/, '-delta.vmdk');
  const baseFlat = `${vm.dir}/${bench.sim.esx.vfs.list(vm.dir).find((n) => n.endsWith('-flat.vmdk'))!}`;
  const initial = [vm.readDisk(0)];
  const from = vm.guest.events.length;
  const out = join(bench.work, 'snappy');

  const r = await bench.cli(['-a', 'name:snappy', '-r', out]);
  expect(r.exitCode, r.stderr).toBe(0);

  const events = vm.guest.events.slice(from);
  const snapAt = markerIndex(events, 'snapshot.created');
  expect(snapAt).toBeGreaterThanOrEqual(0);
  const expected = replayWrites(initial, events, FAST_GUEST.seed, snapAt)[0]!;
  const exported = readFileSync(join(out, flatFiles(out)[0]!));
  expect(exported.equals(expected)).toBe(true);
  expect(exported.equals(bench.sim.esx.vfs.readFile(baseFlat))).toBe(false);
  expect(readCatalog(out).disks[0]!.snapshotDeltas).toHaveLength(1);

  expect(vm.snapshots.map((s) => [s.name, s.uid])).toEqual([['before-upgrade', user.uid]]);
  expect(bench.sim.esx.vfs.stat(userChild)?.type).toBe('file');
  expect(bench.sim.esx.vfs.stat(userDelta)?.type).toBe('file');
});

test('a thin disk exports as a sparse flat file', async () => {
  const out = join(bench.work, 'sparse');
  const r = await bench.cli(['-a', 'name:sparse', '-r', out]);
  expect(r.exitCode, r.stderr).toBe(0);
  const flat = join(out, flatFiles(out)[0]!);
  const st = statSync(flat);
  expect(st.size).toBe(64 * 1024 * 1024);
  expect(st.blocks * 512).toBeLessThan(12 * 1024 * 1024);
  expect(readFileSync(flat).equals(bench.sim.esx.vm('sparse').readDisk(0))).toBe(true);
});

test('the catalog, the .vmx and the --json summary describe the export; no swap or delta files are copied', async () => {
  const vm = bench.sim.esx.vm('cat-vm');
  const out = join(bench.work, 'cat-vm');
  const r = await bench.cli(['-a', 'name:cat-vm', '-r', out, '--json']);
  expect(r.exitCode, r.stderr).toBe(0);
  // The VM's files are copied side by side: no warning from node (e.g. about listeners on the run's signal).
  expect(r.stderr).not.toMatch(/Warning/);
  const summary = JSON.parse(r.stdout) as Record<string, unknown> & { vm: { name: string; id: string }; disks: unknown[]; dir: string };

  const catalog = readCatalog(out);
  expect(catalog.host.name).toBe(`127.0.0.1:${bench.sim.port}`);
  expect(catalog.host.version).toContain('ESXi');
  expect(catalog.vm).toMatchObject({ name: 'cat-vm', vmid: '33' });
  expect(catalog.vm.biosUuid?.replace(/[^0-9a-f]/g, '')).toBe('564d112233445566778899aabbccddee');
  expect(catalog.vm.vmxDatastorePath).toBe(`[${DATASTORE}] cat-vm/cat-vm.vmx`);
  expect(catalog.snapshot).toMatchObject({ name: SNAPSHOT_NAME, quiesced: true });
  expect(catalog.transportMode).toBe('nbd');
  expect(catalog.diskLayout).toBe('monolithicFlat');
  expect(catalog.disks.map((d) => [d.slot, d.thin, d.capacity])).toEqual([
    ['scsi0:0', true, 16 * 1024 * 1024],
    ['scsi0:1', false, 16 * 1024 * 1024],
  ]);
  expect(catalog.disks.map((d) => d.sourceDatastorePath)).toEqual([`[${DATASTORE}] cat-vm/cat-vm.vmdk`, `[${DATASTORE}] cat-vm/cat-vm_1.vmdk`]);
  for (const [i, d] of catalog.disks.entries()) {
    expect(readFileSync(join(out, d.extentFiles[0]!)).equals(vm.readDisk(i))).toBe(true);
  }

  const vmx = readFileSync(join(out, catalog.vm.vmxFile), 'utf8');
  for (const d of catalog.disks) {
    expect(vmx).toMatch(new RegExp(`^${d.slot}\\.fileName = "${d.descriptorFile.replace('.', '\\.')}"$`, 'm'));
    expect(readdirSync(out)).toContain(d.descriptorFile);
  }
  const names = readdirSync(out);
  expect(names.filter((n) => /\.vswp$|-delta\.vmdk$|-\d{6}\.vmdk$/.test(n))).toEqual([]);
  expect(names).toContain('cat-vm.nvram');
  expect(vm.snapshots).toHaveLength(0);

  expect(summary).toMatchObject({ ok: true, dir: out, quiesced: true, vm: { name: 'cat-vm', id: '33' } });
  expect(summary.disks).toEqual(catalog.disks);
});

test('-M 0 writes a twoGbMaxExtentFlat descriptor that qemu-img reads as the disk', async () => {
  const out = join(bench.work, 'split');
  const r = await bench.cli(['-a', 'name:split', '-r', out, '-M', '0']);
  expect(r.exitCode, r.stderr).toBe(0);
  const catalog = readCatalog(out);
  expect(catalog.diskLayout).toBe('twoGbMaxExtentFlat');
  const descriptor = join(out, catalog.disks[0]!.descriptorFile);
  expect(readFileSync(descriptor, 'utf8')).toMatch(/^createType="twoGbMaxExtentFlat"$/m);
  const raw = join(bench.work, 'split.raw');
  writeFileSync(raw, bench.sim.esx.vm('split').readDisk(0));
  await execa('qemu-img', ['check', descriptor]);
  await execa('qemu-img', ['compare', '-f', 'vmdk', '-F', 'raw', descriptor, raw]);
});

test('-m san reads the LUN given with --lun; without it the error names the LVID', async () => {
  const ds = bench.sim.esx.vfs.datastores().find((d) => d.name === DATASTORE)!;
  const missing = await bench.cli(['-a', 'name:split', '-r', join(bench.work, 'san-missing'), '-m', 'san']);
  expect(missing.exitCode, missing.stderr).toBe(2);
  expect(missing.stderr).toContain(ds.lvid);
  expect(missing.stderr).toContain('--lun');
  expect(bench.sim.esx.vm('split').snapshots).toHaveLength(0);
  expect(readdirSync(bench.work).filter((n) => n.startsWith('san-missing'))).toEqual([]);

  const out = join(bench.work, 'san');
  const r = await bench.cli(['-a', 'name:split', '-r', out, '-m', 'san', '--lun', `${ds.lvid}=${ds.lunPath}`]);
  expect(r.exitCode, r.stderr).toBe(0);
  const catalog = readCatalog(out);
  expect(catalog.transportMode).toBe('san');
  expect(readFileSync(join(out, catalog.disks[0]!.extentFiles[0]!)).equals(bench.sim.esx.vm('split').readDisk(0))).toBe(true);
  // The log says how the LUN was read (direct I/O where the LUN image's file system takes it).
  expect(r.stderr).toMatch(/reading the LUN (directly|through the page cache)/);
  expect(r.stderr).toContain(JSON.stringify(ds.lunPath));

  const byUuid = join(bench.work, 'san-uuid');
  const r2 = await bench.cli(['-a', 'name:split', '-r', byUuid, '-m', 'san', '--lun', `${ds.uuid}=${ds.lunPath}`]);
  expect(r2.exitCode, r2.stderr).toBe(0);
});

test('-m hotadd is refused with an explanation, before contacting the host', async () => {
  const before = bench.sim.commandLog.length;
  const r = await bench.cli(['-a', 'name:split', '-r', join(bench.work, 'hotadd'), '-m', 'hotadd']);
  expect(r.exitCode).toBe(2);
  expect(r.stderr).toMatch(/hotadd/);
  expect(r.stderr).toMatch(/-m nbd|-m san/);
  expect(bench.sim.commandLog.length).toBe(before);
});

test('-t file --dry-run prints the file job\'s steps, and -t with an unknown type is refused, without contacting the host', async () => {
  const before = bench.sim.commandLog.length;
  const r = await bench.cli(['-a', 'name:split', '-r', join(bench.work, 'file'), '-t', 'file', '--dry-run']);
  expect(r.exitCode, r.stderr).toBe(0);
  expect(r.stdout.split('\n').map((l) => /^\d+\. ([a-z-]+):/.exec(l)?.[1]).filter(Boolean)).toEqual(['proxy', 'connect', 'resolve', 'lock', 'recover', 'destination', 'disks', 'snapshots', 'snapshot', 'blockmap', 'serve', 'mount', 'hand-over']);
  const unknown = await bench.cli(['-a', 'name:split', '-r', join(bench.work, 'file'), '-t', 'image']);
  expect(unknown.exitCode).toBe(2);
  expect(unknown.stderr).toMatch(/fullvm.*file/);
  expect(bench.sim.commandLog.length).toBe(before);
});

test('an independent disk is skipped with a warning and listed in the catalog', async () => {
  const out = join(bench.work, 'indep');
  const r = await bench.cli(['-a', 'name:indep', '-r', out]);
  expect(r.exitCode, r.stderr).toBe(0);
  expect(r.stderr).toMatch(/skipped scsi0:1 .*independent/);
  const catalog = readCatalog(out);
  expect(catalog.disks.map((d) => d.slot)).toEqual(['scsi0:0']);
  expect(catalog.skippedDisks).toEqual([
    expect.objectContaining({ slot: 'scsi0:1', reason: 'independent', sourceDatastorePath: `[${DATASTORE}] indep/indep_1.vmdk` }),
  ]);
  expect(catalog.skippedDisks[0]!.detail).toMatch(/independent-persistent/);
  expect(catalog.warnings.join('\n')).toMatch(/scsi0:1/);
  expect(flatFiles(out)).toHaveLength(1);
});

test('a physical-mode RDM is skipped with a warning and listed in the catalog', async () => {
  const out = join(bench.work, 'rdm');
  const r = await bench.cli(['-a', 'name:rdm-vm', '-r', out]);
  expect(r.exitCode, r.stderr).toBe(0);
  expect(r.stderr).toMatch(/skipped scsi0:1 .*raw device mapping in physical compatibility mode/);
  const catalog = readCatalog(out);
  expect(catalog.skippedDisks).toEqual([expect.objectContaining({ slot: 'scsi0:1', reason: 'physical-rdm' })]);
  expect(catalog.disks.map((d) => d.slot)).toEqual(['scsi0:0']);
  expect(bench.sim.esx.vm('rdm-vm').snapshots).toHaveLength(0);
});
