// Virtual-mode RDMs through the CLI: exported like any disk (nbd, and through the host under -m san), consolidated afterwards, cleaned up on failure.

import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { replayWrites, type GuestEvent } from '../../src/sim/guest/guest.js';
import { FAST_GUEST, DATASTORE, markerIndex, smallInventory } from '../sim/integration/helpers.js';
import { readCatalog, startBench, type Bench, type CliResult } from './cli-helpers.js';

const MiB = 1024 * 1024;
let bench: Bench;

/** A flat disk and a virtual-mode RDM, both holding data, with a guest writing to both. */
const mixedVm = (name: string, vmid: number) => ({
  name,
  vmid,
  disks: [
    { size: '16M', fillBytes: '2M' },
    { size: '16M', rdm: 'virtual', fillBytes: '3M' },
  ],
  guest: FAST_GUEST,
});

beforeAll(async () => {
  bench = await startBench(
    smallInventory([
      mixedVm('mixed', 41),
      mixedVm('mixed-san', 42),
      mixedVm('mixed-fail', 43),
      { ...mixedVm('layered', 44), guest: { writesPerSecond: 0 }, snapshots: [{ name: 'before-upgrade', description: 'admin' }] },
    ]),
  );
});
afterAll(async () => bench?.stop());

interface Backup {
  r: CliResult;
  out: string;
  /** Both disks as they were when the backup snapshot was taken. */
  atSnapshot: Buffer[];
  /** Guest events during the run, and the index the run's events start at in the guest's log. */
  events: GuestEvent[];
  from: number;
  initial: Buffer[];
  commands: string[];
}

async function backup(vmName: string, extra: string[] = []): Promise<Backup> {
  const vm = bench.sim.esx.vm(vmName);
  const initial = [vm.readDisk(0), vm.readDisk(1)];
  const from = vm.guest.events.length;
  const fromCommand = bench.sim.commandLog.length;
  const out = join(bench.work, vmName);
  const r = await bench.cli(['-a', `name:${vmName}`, '-r', out, ...extra]);
  const events = vm.guest.events.slice(from);
  const snapAt = markerIndex(events, 'snapshot.created');
  const atSnapshot = snapAt >= 0 ? replayWrites(initial, events, FAST_GUEST.seed, snapAt) : [];
  const commands = bench.sim.commandLog.slice(fromCommand).map((c) => c.argv.join(' '));
  return { r, out, atSnapshot, events, from, initial, commands };
}

function mappingFile(vmName: string): string {
  return `${bench.sim.esx.vm(vmName).dir}/${vmName}_1-rdm.vmdk`;
}

/** The VM runs on its own disks again: no snapshot, no delta files, the .vmx names the RDM descriptor. */
function expectConsolidated(vmName: string): void {
  const vm = bench.sim.esx.vm(vmName);
  expect(vm.snapshots).toHaveLength(0);
  expect(vm.diskPath(1)).toBe(`${vm.dir}/${vmName}_1.vmdk`);
  expect(bench.sim.esx.vfs.list(vm.dir).filter((n) => /-\d{6}(-delta)?\.vmdk$/.test(n))).toEqual([]);
}

test('a virtual-mode RDM is exported with the flat disk, each as it was at the snapshot, while the guest writes; the writes are consolidated into the RDM', async () => {
  const b = await backup('mixed');
  expect(b.r.exitCode, b.r.stderr).toBe(0);
  const snapAt = markerIndex(b.events, 'snapshot.created');
  expect(b.events.slice(snapAt).some((e) => e.ev === 'apply' && e.disk === 1)).toBe(true);

  const catalog = readCatalog(b.out);
  expect(catalog.disks.map((d) => [d.slot, d.rdm, d.capacity])).toEqual([
    ['scsi0:0', undefined, 16 * MiB],
    ['scsi0:1', 'virtual', 16 * MiB],
  ]);
  expect(catalog.disks[1]!.thin).toBe(false);
  expect(catalog.disks[1]!.sourceDatastorePath).toBe(`[${DATASTORE}] mixed/mixed_1.vmdk`);
  expect(catalog.skippedDisks).toEqual([]);
  for (const [i, d] of catalog.disks.entries()) {
    expect(readFileSync(join(b.out, d.extentFiles[0]!)).equals(b.atSnapshot[i]!), `disk ${i}`).toBe(true);
  }
  expect(b.atSnapshot[1]!.equals(b.initial[1]!)).toBe(false);
  expect(b.commands.filter((c) => c.startsWith('vmkfstools') && c.includes('mixed_1'))).toEqual([]);
  expect(b.commands.some((c) => c.startsWith('dd ') && c.includes('mixed_1-rdm.vmdk'))).toBe(true);

  const descriptor = join(b.out, catalog.disks[1]!.descriptorFile);
  expect(readFileSync(descriptor, 'utf8')).not.toMatch(/RawDeviceMap|VMFSRDM/);
  const raw = join(bench.work, 'mixed-rdm.raw');
  writeFileSync(raw, b.atSnapshot[1]!);
  await execa('qemu-img', ['check', descriptor]);
  await execa('qemu-img', ['compare', '-f', 'vmdk', '-F', 'raw', descriptor, raw]);

  const vm = bench.sim.esx.vm('mixed');
  vm.guest.stop();
  expectConsolidated('mixed');
  const everyWrite = replayWrites(b.initial, vm.guest.events.slice(b.from), FAST_GUEST.seed);
  expect(bench.sim.esx.vfs.readFile(mappingFile('mixed')).equals(everyWrite[1]!)).toBe(true);
});

test('-m san reads the flat disk from the LUN and the RDM through the host, with a warning in the log and the catalog', async () => {
  const ds = bench.sim.esx.vfs.datastores().find((d) => d.name === DATASTORE)!;
  const b = await backup('mixed-san', ['-m', 'san', '--lun', `${ds.lvid}=${ds.lunPath}`]);
  expect(b.r.exitCode, b.r.stderr).toBe(0);
  expect(b.r.stderr).toMatch(/scsi0:1 .*virtual-mode raw device mapping.*through the host/);
  const catalog = readCatalog(b.out);
  expect(catalog.transportMode).toBe('san');
  expect(catalog.warnings.join('\n')).toMatch(/scsi0:1 .*mixed-san_1\.vmdk.*through the host/);
  expect(catalog.disks.map((d) => d.rdm)).toEqual([undefined, 'virtual']);
  for (const [i, d] of catalog.disks.entries()) {
    expect(readFileSync(join(b.out, d.extentFiles[0]!)).equals(b.atSnapshot[i]!), `disk ${i}`).toBe(true);
  }
  expect(b.commands.some((c) => c.startsWith('dd ') && c.includes('mixed-san_1-rdm.vmdk'))).toBe(true);
  expect(b.commands.filter((c) => c.startsWith('dd ') && c.includes('-flat.vmdk'))).toEqual([]);
  expectConsolidated('mixed-san');
});

test('a failed read of the RDM exits 7 naming the command; the snapshot is removed and nothing is published', async () => {
  const vmName = 'mixed-fail';
  const vm = bench.sim.esx.vm(vmName);
  bench.sim.faults.add({ match: '^dd .*mixed-fail_1-rdm\\.vmdk', action: 'fail', exitCode: 1, stderr: 'dd: injected RDM read error' });
  const vmFilesBefore = bench.sim.esx.vfs.list(vm.dir).filter((n) => n.endsWith('.vmdk')).sort();
  const b = await backup(vmName);
  bench.sim.faults.clear();
  expect(b.r.exitCode, b.r.stderr).toBe(7);
  expect(b.r.stderr).toContain('step export');
  expect(b.r.stderr).toContain('injected RDM read error');
  expect(b.r.stderr).toContain('mixed-fail_1-rdm.vmdk');
  expect(markerIndex(b.events, 'snapshot.created')).toBeGreaterThanOrEqual(0);
  expectConsolidated(vmName);
  expect(bench.sim.esx.vfs.list(vm.dir).filter((n) => n.endsWith('.vmdk')).sort()).toEqual(vmFilesBefore);
  expect(existsSync(b.out)).toBe(false);
  expect(readdirSync(bench.work).filter((n) => n.startsWith(`${vmName}.`) || n.includes('partial'))).toEqual([]);
});

test("a user snapshot's delta over a virtual RDM is part of its export, and the user snapshot survives", async () => {
  const vm = bench.sim.esx.vm('layered');
  const user = vm.snapshots.find((s) => s.name === 'before-upgrade')!;
  expect(user.children[1]).toMatch(/layered_1-\d{6}\.vmdk$/);
  vm.chain(1).write(Buffer.alloc(8192, 0x77), 5 * MiB);
  const b = await backup('layered');
  expect(b.r.exitCode, b.r.stderr).toBe(0);
  const catalog = readCatalog(b.out);
  expect(catalog.disks[1]!.rdm).toBe('virtual');
  expect(catalog.disks[1]!.snapshotDeltas.map((p) => p.split('/').pop())).toEqual(['layered_1-000001-delta.vmdk']);
  const exported = readFileSync(join(b.out, catalog.disks[1]!.extentFiles[0]!));
  expect(exported.equals(vm.readDisk(1))).toBe(true);
  expect(exported.equals(bench.sim.esx.vfs.readFile(mappingFile('layered')))).toBe(false);
  expect(vm.snapshots.map((s) => [s.name, s.uid])).toEqual([['before-upgrade', user.uid]]);
});
