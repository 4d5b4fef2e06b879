// vmkfstools -t0 over SSH gives a block map that rebuilds every demo disk byte for byte from the raw LUN image.

import { closeSync, openSync, readSync } from 'node:fs';
import { posix } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { stockCmd } from '../../../src/esx/commands/stock.js';
import { parseBlockMap, type BlockMap } from '../../../src/esx/parse/block-map.js';
import { parseDescriptor } from '../../../src/formats/vmdk-descriptor.js';
import { diskStem } from '../../../src/sim/esx/vm-files.js';
import type { SimVm } from '../../../src/sim/esx/vm.js';
import { startSimulator, type Simulator } from '../../../src/sim/simulator.js';
import { shellJoin } from '../../../src/util/shell-quote.js';
import { makeClientKey, openSsh, type ClientKey, type OpenSsh } from './helpers.js';

let key: ClientKey;
let sim: Simulator;
let ssh: OpenSsh;

beforeAll(async () => {
  key = await makeClientKey();
  sim = await startSimulator({ inventory: 'demo', authorizedKeys: [key.publicKey] });
  for (const vm of sim.esx.vms()) vm.guest.stop();
  ssh = await openSsh(sim, key);
});
afterAll(async () => {
  await sim?.stop();
  key?.cleanup();
});

async function blockMapOverSsh(path: string): Promise<BlockMap> {
  const argv = stockCmd.blockMap(path);
  return parseBlockMap(await ssh.ok(shellJoin(argv)), argv);
}

/** The file's bytes as the block map says they lie on the LUN; holes and unzeroed blocks read as zeros. */
function rebuildFromLun(map: BlockMap, lunPath: string): Buffer {
  const out = Buffer.alloc(map.size);
  const fd = openSync(lunPath, 'r');
  try {
    for (const e of map.extents) {
      if (e.kind !== 'mapped') continue;
      let done = 0;
      while (done < e.length) {
        const n = readSync(fd, out, e.fileOffset + done, e.length - done, e.lunOffset! + done);
        if (n === 0) throw new Error(`LUN image ends before offset ${e.lunOffset! + done}`);
        done += n;
      }
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

function baseDescriptor(vm: SimVm, disk: number): string {
  return `${vm.dir}/${diskStem(vm.fileBase, disk)}.vmdk`;
}

function lunOf(): string {
  const stores = sim.esx.vfs.datastores();
  expect(stores).toHaveLength(1);
  return stores[0]!.lunPath;
}

test('every demo disk without snapshots is rebuilt exactly from its block map', async () => {
  const kinds = new Map<string, Set<string>>();
  let checked = 0;
  for (const vm of sim.esx.vms().filter((v) => v.snapshots.length === 0)) {
    for (let i = 0; i < vm.spec.disks.length; i++) {
      const map = await blockMapOverSsh(baseDescriptor(vm, i));
      expect(map.size).toBe(vm.spec.disks[i]!.size);
      const disk = vm.readDisk(i);
      expect(disk.equals(Buffer.alloc(disk.length))).toBe(false);
      expect(rebuildFromLun(map, lunOf()).equals(disk), `${vm.name} disk ${i}`).toBe(true);
      kinds.set(`${vm.name}:${i}`, new Set(map.extents.map((e) => e.kind)));
      checked++;
    }
  }
  expect(checked).toBe(6);
  expect(kinds.get('win01:0')!.has('hole')).toBe(false);
  expect(kinds.get('web01:0')!.has('hole')).toBe(true);
  expect(kinds.get('win01:1')!.has('hole')).toBe(true);
});

test('a thick disk maps every block; the thin fixture disk maps only what holds data', async () => {
  const win01 = sim.esx.vm('win01');
  const thick = await blockMapOverSsh(baseDescriptor(win01, 0));
  expect(thick.extents.every((e) => e.kind !== 'hole')).toBe(true);
  const stat = sim.esx.vfs.stat(`${win01.dir}/win01-flat.vmdk`)!;
  expect(stat.thin).toBe(false);
  expect(stat.allocated).toBe(win01.spec.disks[0]!.size);

  const web01 = sim.esx.vm('web01');
  const thin = await blockMapOverSsh(baseDescriptor(web01, 0));
  const mappedBytes = thin.extents.filter((e) => e.kind !== 'hole').reduce((n, e) => n + e.length, 0);
  expect(mappedBytes).toBe(sim.esx.vfs.stat(`${web01.dir}/web01-flat.vmdk`)!.allocated);
  expect(mappedBytes).toBeLessThan(thin.size);
});

test('with a snapshot, the base map rebuilds the frozen flat file and the child map rebuilds the delta file', async () => {
  const app02 = sim.esx.vm('app02');
  expect(app02.snapshots).toHaveLength(1);
  const base = await blockMapOverSsh(baseDescriptor(app02, 0));
  expect(rebuildFromLun(base, lunOf()).equals(sim.esx.vfs.readFile(`${app02.dir}/app02-flat.vmdk`))).toBe(true);

  const top = app02.diskPath(0);
  expect(top).toMatch(/app02-000001\.vmdk$/);
  const delta = `${app02.dir}/${parseDescriptor(sim.esx.vfs.readFile(top).toString()).extents[0]!.fileName}`;
  const child = await blockMapOverSsh(top);
  const deltaBytes = sim.esx.vfs.readFile(delta);
  expect(child.size).toBe(deltaBytes.length);
  expect(deltaBytes.subarray(0, 4).toString('latin1')).toBe('COWD');
  expect(rebuildFromLun(child, lunOf()).equals(deltaBytes)).toBe(true);
  expect(posix.basename(delta)).toBe('app02-000001-delta.vmdk');
});
