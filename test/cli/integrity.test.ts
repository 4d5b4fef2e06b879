// The CLI backs up a VM whose guest keeps writing: the export is the disk at the snapshot instant, byte for byte.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { replayWrites } from '../../src/sim/guest/guest.js';
import { FAST_GUEST, markerIndex, smallInventory } from '../sim/integration/helpers.js';
import { readCatalog, SNAPSHOT_NAME, startBench, type Bench } from './cli-helpers.js';

let bench: Bench;

beforeAll(async () => {
  bench = await startBench(
    smallInventory([
      {
        name: 'busy',
        vmid: 21,
        disks: [
          { size: '32M', thin: true, fillBytes: '4M' },
          { size: '16M', thin: false, fillBytes: '2M' },
        ],
        guest: FAST_GUEST,
        quiesce: { backupScripts: [{ name: '10-flush' }], preFreeze: { exitCode: 0 }, postThaw: { exitCode: 0 } },
      },
    ]),
  );
});
afterAll(async () => bench?.stop());

test('every exported disk equals the guest disk at the snapshot instant, and consolidation keeps every later write', async () => {
  const vm = bench.sim.esx.vm('busy');
  const initial = [vm.readDisk(0), vm.readDisk(1)];
  const from = vm.guest.events.length;
  const out = join(bench.work, 'out');

  const r = await bench.cli(['-a', 'name:busy', '-r', out]);
  expect(r.exitCode, r.stderr).toBe(0);

  vm.guest.stop();
  const events = vm.guest.events.slice(from);
  const snapAt = markerIndex(events, 'snapshot.created');
  expect(snapAt).toBeGreaterThanOrEqual(0);
  const appliedBefore = events.slice(0, snapAt).filter((e) => e.ev === 'apply').length;
  const appliedAfter = events.slice(snapAt).filter((e) => e.ev === 'apply').length;
  expect(appliedBefore).toBeGreaterThan(0);
  expect(appliedAfter).toBeGreaterThan(0);

  const seed = FAST_GUEST.seed;
  const atSnapshot = replayWrites(initial, events, seed, snapAt);
  const catalog = readCatalog(out);
  expect(catalog.disks.map((d) => d.thin)).toEqual([true, false]);
  for (let i = 0; i < 2; i++) {
    const disk = catalog.disks[i]!;
    expect(disk.extentFiles).toHaveLength(1);
    const flat = readFileSync(join(out, disk.extentFiles[0]!));
    expect(flat.equals(atSnapshot[i]!)).toBe(true);
    const expectedRaw = join(bench.work, `expected-${i}.raw`);
    writeFileSync(expectedRaw, atSnapshot[i]!);
    const descriptor = join(out, disk.descriptorFile);
    await execa('qemu-img', ['check', descriptor]);
    await execa('qemu-img', ['compare', '-f', 'vmdk', '-F', 'raw', descriptor, expectedRaw]);
  }

  const everything = replayWrites(initial, events, seed);
  for (let i = 0; i < 2; i++) expect(vm.readDisk(i).equals(everything[i]!)).toBe(true);
  expect(vm.snapshots.map((s) => s.name)).not.toContain(SNAPSHOT_NAME);
  expect(vm.snapshots).toHaveLength(0);

  const scripts = events.filter((e) => e.ev === 'script').map((e) => (e.ev === 'script' ? `${e.path} ${e.args.join(' ')}` : ''));
  expect(scripts).toEqual([
    '/usr/sbin/pre-freeze-script freeze',
    '/etc/vmware-tools/backupScripts.d/10-flush freeze',
    '/etc/vmware-tools/backupScripts.d/10-flush thaw',
    '/usr/sbin/post-thaw-script thaw',
  ]);
  const freezeAt = events.findIndex((e) => e.ev === 'freeze');
  const thawAt = events.findIndex((e) => e.ev === 'thaw');
  expect(freezeAt).toBeLessThan(snapAt);
  expect(thawAt).toBeGreaterThan(snapAt);
  expect(catalog.snapshot).toMatchObject({ name: SNAPSHOT_NAME, quiesced: true });
});
