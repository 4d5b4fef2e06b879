// -m san on LUNs laid out as a SAN presents them: the VMFS volume in an MBR or GPT partition, and a datastore spanning
// two LUNs. The block map's LVID and extent number lead each read to the right device and offset; a missing LUN is a
// clear error. Partition tables are checked with sfdisk, exports byte for byte.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { parseInventory } from '../../src/sim/inventory.js';
import { readCatalog, SNAPSHOT_NAME, startBench, type Bench } from './cli-helpers.js';

let bench: Bench;
const vm = (name: string, vmid: number, datastore: string) => ({
  name,
  vmid,
  datastore,
  disks: [{ size: '40M', thin: false, fillBytes: '40M' }],
  guest: { writesPerSecond: 0 },
});

beforeAll(async () => {
  bench = await startBench(
    parseInventory({
      datastores: [
        { name: 'gpt-ds', capacity: '96M', partitionTable: 'gpt' },
        { name: 'mbr-ds', capacity: '96M', partitionTable: 'mbr' },
        { name: 'span-ds', capacity: '96M', partitionTable: 'gpt', spanAt: '24M' },
      ],
      vms: [vm('on-gpt', 1, 'gpt-ds'), vm('on-mbr', 2, 'mbr-ds'), vm('spanned', 3, 'span-ds')],
    }),
  );
});
afterAll(async () => bench?.stop());

const ds = (name: string) => bench.sim.esx.vfs.datastores().find((d) => d.name === name)!;

async function san(vmName: string, out: string, luns: string[]) {
  return bench.cli(['-a', `name:${vmName}`, '-r', join(bench.work, out), '-m', 'san', ...luns.flatMap((l) => ['--lun', l]), '-L', '4']);
}

function expectExact(vmName: string, out: string): void {
  const catalog = readCatalog(join(bench.work, out));
  const disk = readFileSync(join(bench.work, out, catalog.disks[0]!.extentFiles[0]!));
  expect(disk.equals(bench.sim.esx.vm(vmName).readDisk(0)), `${vmName} byte for byte`).toBe(true);
  expect(bench.sim.esx.vm(vmName).snapshots.map((s) => s.name)).not.toContain(SNAPSHOT_NAME);
}

test('the simulated LUNs carry the partition tables sfdisk reads: GPT from sector 2048, MBR type fb from sector 128', async () => {
  const gpt = JSON.parse(String((await execa('sfdisk', ['--json', ds('gpt-ds').lunPath])).stdout)).partitiontable;
  expect(gpt.label).toBe('gpt');
  expect(gpt.partitions).toHaveLength(1);
  expect(gpt.partitions[0].start).toBe(2048);
  expect(gpt.partitions[0].type.toLowerCase()).toBe('aa31e02a-400f-11db-9590-000c2911d1b8');
  const mbr = JSON.parse(String((await execa('sfdisk', ['--json', ds('mbr-ds').lunPath])).stdout)).partitiontable;
  expect(mbr.label).toBe('dos');
  expect(mbr.partitions[0].start).toBe(128);
  expect(mbr.partitions[0].type).toBe('fb');
});

test('a whole LUN with a GPT or an MBR: the VMFS partition is found from the table, and the export is exact', async () => {
  for (const [vmName, name, offset] of [['on-gpt', 'gpt-ds', 1048576], ['on-mbr', 'mbr-ds', 65536]] as const) {
    const r = await san(vmName, `whole-${name}`, [`${ds(name).lvid}=${ds(name).lunPath}`]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`"partitionOffset":${offset},"how":"partition table"`));
    expectExact(vmName, `whole-${name}`);
  }
});

test('PATH@OFFSET names the partition start itself', async () => {
  const r = await san('on-gpt', 'given-offset', [`${ds('gpt-ds').uuid}=${ds('gpt-ds').lunPath}@1048576`]);
  expect(r.exitCode, r.stderr).toBe(0);
  expect(r.stderr).toMatch(/"partitionOffset":1048576,"how":"given"/);
  expectExact('on-gpt', 'given-offset');
});

test('a datastore spanning two LUNs: each extent is read from its own LUN; without the second LUN the error says what to map', async () => {
  const d = ds('span-ds');
  expect(d.extents).toHaveLength(2);
  const map = await bench.sim.exec(`vmkfstools -t0 '/vmfs/volumes/span-ds/spanned/spanned.vmdk'`);
  expect(map.stdout.toString(), 'the disk has blocks on both LUNs').toMatch(/\/1:\(/);
  expect(map.stdout.toString()).toMatch(/\/2:\(/);

  const missing = await san('spanned', 'span-missing', [`${d.lvid}=${d.extents[0]!.path}`]);
  expect(missing.exitCode, missing.stderr).toBe(2);
  expect(missing.stderr).toContain(`spans several LUNs and no LUN was given for its extent 2; map it with --lun ${d.lvid}:2=<device>`);
  expect(bench.sim.esx.vm('spanned').snapshots).toHaveLength(0);

  const r = await san('spanned', 'span', [`${d.lvid}:1=${d.extents[0]!.path}`, `${d.lvid}:2=${d.extents[1]!.path}`]);
  expect(r.exitCode, r.stderr).toBe(0);
  expectExact('spanned', 'span');
});

test('a malformed --lun is a usage error naming the form', async () => {
  const r = await san('on-gpt', 'bad-lun', [`${ds('gpt-ds').lvid}:0=/dev/null`]);
  expect(r.exitCode).toBe(2);
  expect(r.stderr).toContain('expected LVID[:EXTENT]=PATH[@OFFSET]');
});
