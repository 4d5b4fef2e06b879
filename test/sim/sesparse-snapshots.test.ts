// Snapshots on a VMFS6 datastore are SEsparse deltas (as ESXi 6.5+ writes them); guest writes land in them, a remove commits them; qemu-img reads the chains.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDescriptor } from '../../src/formats/vmdk-descriptor.js';
import { replayWrites } from '../../src/sim/guest/guest.js';
import { parseInventory } from '../../src/sim/inventory.js';
import { deltaFormatFor } from '../../src/sim/esx/snapshot-create.js';
import type { SimVm } from '../../src/sim/esx/vm.js';
import { startSimulator, type Simulator } from '../../src/sim/simulator.js';
import { shellQuote } from '../../src/util/shell-quote.js';
import { appliesSince, FAST_GUEST, markerIndex, run, waitUntil } from './integration/helpers.js';

let sim: Simulator;
let work: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'sim-sesparse-'));
  sim = await startSimulator({
    inventory: parseInventory({
      datastores: [
        { name: 'ds5', capacity: '256M' },
        { name: 'ds6', capacity: '256M', vmfsVersion: 6 },
      ],
      vms: [
        { name: 'new', datastore: 'ds6', disks: [{ size: '40M', fillBytes: '3M' }], guest: FAST_GUEST, snapshots: [{ name: 'user1' }] },
        { name: 'moved', datastore: 'ds6', disks: [{ size: '24M', fillBytes: '2M' }], guest: { ...FAST_GUEST, seed: 8 }, snapshots: [{ name: 'on-vmfs5', format: 'vmfsSparse' }] },
        { name: 'old', datastore: 'ds5', power: 'off', disks: [{ size: '8M', fillBytes: '1M' }], snapshots: [{ name: 'u' }] },
      ],
      seed: 3,
    }),
  });
});
afterAll(async () => {
  await sim?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

async function ok(line: string): Promise<string> {
  const r = await sim.exec(line);
  if (r.exitCode !== 0) throw new Error(`${line}: exit ${r.exitCode}: ${r.stderr}`);
  return r.stdout.toString('utf8');
}

function vmdks(vm: SimVm): string[] {
  return sim.esx.vfs.list(vm.dir).filter((f) => f.endsWith('.vmdk'));
}

/** Copies the VM's .vmdk files out and has qemu-img convert the descriptor the VM runs on. */
async function qemuRead(vm: SimVm): Promise<Buffer> {
  const dir = mkdtempSync(join(work, 'copy-'));
  for (const f of vmdks(vm)) writeFileSync(join(dir, f), sim.esx.vfs.readFile(`${vm.dir}/${f}`));
  const out = join(dir, 'out.raw');
  const top = join(dir, vm.diskPath(0).split('/').pop()!);
  const r = await run('qemu-img', ['convert', '-f', 'vmdk', '-O', 'raw', top, out]);
  expect(r.stderr).toBe('');
  return readFileSync(out);
}

async function snapshotWhileWriting(vm: SimVm, name: string): Promise<void> {
  const from = vm.guest.events.length;
  await ok(`vim-cmd vmsvc/snapshot.create ${vm.vmid} ${name} 'while writing' 0 0`);
  const created = markerIndex(vm.guest.events, 'snapshot.created', from);
  await waitUntil(() => appliesSince(vm.guest.events, created) >= 30, 'guest writes after the snapshot');
}

describe('the delta format a host picks', () => {
  it('SEsparse on VMFS6; on VMFS5 COWD below 2 TiB and SEsparse from 2 TiB', () => {
    expect(deltaFormatFor(6, 1024 ** 2)).toBe('seSparse');
    expect(deltaFormatFor(5, 1024 ** 2)).toBe('vmfsSparse');
    expect(deltaFormatFor(5, 2 * 1024 ** 4 - 512)).toBe('vmfsSparse');
    expect(deltaFormatFor(5, 2 * 1024 ** 4)).toBe('seSparse');
  });

  it('an inventory puts VMFS6 only on ESXi 6.5 and later', () => {
    const inv = (host: Record<string, unknown>) => ({ host, datastores: [{ name: 'd', capacity: '64M', vmfsVersion: 6 }], vms: [] });
    expect(() => parseInventory(inv({ kind: 'esx3' }))).toThrow(/datastores\.0\.vmfsVersion: VMFS6 needs ESXi 6\.5 or later; this host is VMware ESX Server 3\.5\.0/);
    expect(() => parseInventory(inv({ version: 'VMware ESXi 6.0.0 build-3620759' }))).toThrow(/VMFS6 needs ESXi 6\.5 or later/);
    expect(parseInventory(inv({ version: 'VMware ESXi 6.5.0 build-4564106' })).datastores[0]!.vmfsVersion).toBe(6);
    expect(parseInventory(inv({})).datastores[0]!.vmfsVersion).toBe(6);
  });

  it('a VM on VMFS5 keeps COWD deltas', () => {
    expect(vmdks(sim.esx.vm('old'))).toEqual(['old-000001-delta.vmdk', 'old-000001.vmdk', 'old-flat.vmdk', 'old.vmdk']);
  });
});

describe('a running VM on VMFS6', () => {
  it('gets SEsparse links with seSparse descriptors; guest writes go to them; qemu-img reads the chain as the guest sees it', async () => {
    const vm = sim.esx.vm('new');
    await snapshotWhileWriting(vm, 'second');
    expect(vmdks(vm)).toEqual(['new-000001-sesparse.vmdk', 'new-000001.vmdk', 'new-000002-sesparse.vmdk', 'new-000002.vmdk', 'new-flat.vmdk', 'new.vmdk']);
    const d = parseDescriptor(sim.esx.vfs.readFile(`${vm.dir}/new-000002.vmdk`).toString('utf8'));
    expect(d.createType).toBe('seSparse');
    expect(d.parentFileNameHint).toBe('new-000001.vmdk');
    expect(d.extents).toEqual([{ access: 'RW', sectors: (40 * 1024 * 1024) / 512, type: 'SESPARSE', fileName: 'new-000002-sesparse.vmdk' }]);
    expect(vm.chain(0).deltas.map((x) => x.format)).toEqual(['seSparse', 'seSparse']);
    expect(vm.chain(0).deltas[1]!.allocatedExtents().length).toBeGreaterThan(0);

    vm.guest.stop();
    const expected = vm.readDisk(0);
    expect((await qemuRead(vm)).equals(expected)).toBe(true);
  });

  it('vmkfstools -t0 maps a seSparse descriptor and refuses its -sesparse.vmdk', async () => {
    const vm = sim.esx.vm('new');
    const map = await ok(`vmkfstools -t0 ${shellQuote(`${vm.dir}/new-000002.vmdk`)}`);
    expect(map).toMatch(/VMFS/);
    const refused = await sim.exec(`vmkfstools -t0 ${shellQuote(`${vm.dir}/new-000002-sesparse.vmdk`)}`);
    expect(refused.exitCode).not.toBe(0);
    expect(refused.stderr).toContain('The file specified is not a virtual disk (15).');
  });

  it('removing every snapshot commits every guest write into the base and deletes the SEsparse files', async () => {
    const vm = sim.esx.vm('new');
    const initial = vm.readDisk(0);
    const start = vm.guest.events.length;
    vm.guest.start();
    await waitUntil(() => appliesSince(vm.guest.events, start) >= 20, 'guest writes on the delta');
    await ok(`vim-cmd vmsvc/snapshot.removeall ${vm.vmid}`);
    vm.guest.stop();
    const replayed = replayWrites([initial], vm.guest.events.slice(start), vm.spec.guest.seed)[0]!;
    expect(vm.readDisk(0).equals(replayed)).toBe(true);
    expect(vmdks(vm)).toEqual(['new-flat.vmdk', 'new.vmdk']);
    expect(vm.chain(0).deltas).toHaveLength(0);
  });
});

describe('a chain that mixes formats (a user snapshot taken on VMFS5, then the VM on VMFS6)', () => {
  it('has a COWD link under a SEsparse one; qemu-img reads it; removing both commits every write', async () => {
    const vm = sim.esx.vm('moved');
    vm.guest.stop();
    const initial = vm.readDisk(0);
    const start = vm.guest.events.length;
    vm.guest.start();
    await snapshotWhileWriting(vm, 'on-vmfs6');
    expect(vmdks(vm)).toEqual(['moved-000001-delta.vmdk', 'moved-000001.vmdk', 'moved-000002-sesparse.vmdk', 'moved-000002.vmdk', 'moved-flat.vmdk', 'moved.vmdk']);
    expect(vm.chain(0).deltas.map((x) => x.format)).toEqual(['vmfsSparse', 'seSparse']);
    vm.guest.stop();
    expect((await qemuRead(vm)).equals(vm.readDisk(0))).toBe(true);
    await ok(`vim-cmd vmsvc/snapshot.removeall ${vm.vmid}`);
    const replayed = replayWrites([initial], vm.guest.events.slice(start), vm.spec.guest.seed)[0]!;
    expect(vm.readDisk(0).equals(replayed)).toBe(true);
    expect(vmdks(vm)).toEqual(['moved-flat.vmdk', 'moved.vmdk']);
  });
});
