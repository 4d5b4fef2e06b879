// The simulated vmkfstools -t0 takes disk descriptors only, as a real host does, and can be a host that will not map snapshot deltas.

import { afterAll, beforeAll, expect, test } from 'vitest';
import { parseBlockMap } from '../../../src/esx/parse/block-map.js';
import { parseInventory } from '../../../src/sim/inventory.js';
import { startSimulator, type Simulator } from '../../../src/sim/simulator.js';
import { shellJoin } from '../../../src/util/shell-quote.js';
import { smallInventory } from './helpers.js';

const vms = [{ name: 'snappy', vmid: 61, disks: [{ size: '8M', fillBytes: '1M' }], guest: { writesPerSecond: 0 }, snapshots: [{ name: 'user' }] }];
let mapping: Simulator;
let refusing: Simulator;

beforeAll(async () => {
  [mapping, refusing] = await Promise.all([
    startSimulator({ inventory: smallInventory(vms) }),
    startSimulator({ inventory: smallInventory(vms, { snapshotDeltaMaps: 'refuse' }) }),
  ]);
});
afterAll(async () => {
  await Promise.all([mapping?.stop(), refusing?.stop()]);
});

const path = (sim: Simulator, name: string) => `${sim.esx.vm('snappy').dir}/${name}`;
const t0 = (sim: Simulator, name: string) => sim.exec(shellJoin(['vmkfstools', '-t0', path(sim, name)]));

test('anything but a descriptor is "not a virtual disk (15)": flat extents, deltas, the .vmx, a directory', async () => {
  for (const sim of [mapping, refusing]) {
    for (const name of ['snappy-flat.vmdk', 'snappy-000001-delta.vmdk', 'snappy.vmx', 'snappy.nvram', '.']) {
      const r = await t0(sim, name);
      expect(r.exitCode, name).toBe(1);
      expect(r.stdout.length, name).toBe(0);
      expect(r.stderr).toBe(`Failed to open '${path(sim, name)}': The file specified is not a virtual disk (15).\n`);
    }
  }
});

test('a snapshot link maps its delta file, unless the host will not map snapshot deltas; the base maps on both', async () => {
  const child = await t0(mapping, 'snappy-000001.vmdk');
  expect(child.exitCode, child.stderr).toBe(0);
  const map = parseBlockMap(child.stdout.toString());
  expect(map.size).toBe(mapping.esx.vfs.stat(path(mapping, 'snappy-000001-delta.vmdk'))!.size);

  const refused = await t0(refusing, 'snappy-000001.vmdk');
  expect(refused.exitCode).toBe(1);
  expect(refused.stdout.length).toBe(0);
  expect(refused.stderr).toMatch(/^Failed to get the block map of '.*snappy-000001\.vmdk': .*snapshot/);

  for (const sim of [mapping, refusing]) {
    const base = await t0(sim, 'snappy.vmdk');
    expect(base.exitCode, base.stderr).toBe(0);
    expect(parseBlockMap(base.stdout.toString()).size).toBe(8 * 1024 * 1024);
  }
});

test('the inventory option is validated by name', () => {
  expect(() => parseInventory({ host: { snapshotDeltaMaps: 'sometimes' }, datastores: [{ name: 'd', capacity: '1M' }], vms: [] })).toThrow(/host\.snapshotDeltaMaps/);
});
