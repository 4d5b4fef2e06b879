// What a restore asks of the simulated host: volume space, thin disks, writes into a flat file, the moved-or-copied question.

import { afterEach, describe, expect, test } from 'vitest';
import { startSimulator, type Simulator } from '../../../src/sim/simulator.js';
import { smallInventory } from './helpers.js';

let sim: Simulator | undefined;
afterEach(async () => {
  await sim?.stop();
  sim = undefined;
});

const idle = { writesPerSecond: 0 };
const MiB = 1024 * 1024;

async function ok(line: string, stdin?: Buffer): Promise<string> {
  const r = await sim!.exec(line, stdin);
  expect(r.exitCode, `${line}\n${r.stderr}`).toBe(0);
  return r.stdout.toString('utf8');
}

describe('vmkfstools -P and -c', () => {
  test('-P prints the volume capacity and what is free, in the Capacity ... avail line hosts print', async () => {
    sim = await startSimulator({ inventory: smallInventory([{ name: 'vm1', power: 'off', disks: [{ size: '8M', thin: false }], guest: idle }]) });
    const ds = sim.esx.vfs.datastores()[0]!;
    const text = await ok(`vmkfstools -P /vmfs/volumes/ds1`);
    expect(text).toContain(`Capacity ${ds.capacity} (${ds.capacity / MiB} file blocks * ${MiB}), ${ds.free} (${ds.free / MiB} blocks) avail`);
    expect(text).toContain('File system label (if any): ds1');
    expect((await sim.exec('vmkfstools -P /vmfs/volumes/nope')).exitCode).toBe(1);
  });

  test('-c makes a thin disk that allocates nothing, refuses an existing one, and dd writes land where seek says', async () => {
    sim = await startSimulator({ inventory: smallInventory([{ name: 'vm1', power: 'off', disks: [{ size: '8M' }], guest: idle }]) });
    await ok(`mkdir '/vmfs/volumes/ds1/new vm'`);
    expect((await sim.exec(`mkdir '/vmfs/volumes/ds1/new vm'`)).exitCode).toBe(1);
    expect(await ok(`vmkfstools -c ${16 * MiB} -d thin -a lsilogic '/vmfs/volumes/ds1/new vm/new vm.vmdk'`)).toBe('Create: 100% done.\n');
    const flat = '/vmfs/volumes/ds1/new vm/new vm-flat.vmdk';
    expect(sim.esx.vfs.stat(flat)).toMatchObject({ size: 16 * MiB, allocated: 0, thin: true });
    const desc = sim.esx.vfs.readFile('/vmfs/volumes/ds1/new vm/new vm.vmdk').toString();
    expect(desc).toContain('RW 32768 VMFS "new vm-flat.vmdk"');
    expect(desc).toContain('ddb.thinProvisioned = "1"');
    const again = await sim.exec(`vmkfstools -c 1M -d thin -a lsilogic '/vmfs/volumes/ds1/new vm/new vm.vmdk'`);
    expect(again.stderr).toBe('Failed to create virtual disk: The file already exists (39).\n');
    const data = Buffer.alloc(2 * MiB + 1000, 7);
    await ok(`dd 'of=${flat}' bs=1048576 seek=5 conv=notrunc`, data);
    const after = sim.esx.vfs.readFile(flat);
    expect(after.length).toBe(16 * MiB);
    expect(after.subarray(5 * MiB, 5 * MiB + data.length).equals(data)).toBe(true);
    expect(after.subarray(0, 5 * MiB).every((b) => b === 0)).toBe(true);
    expect(sim.esx.vfs.stat(flat)!.allocated).toBe(3 * MiB);
  });

  test('a write past the free space fails late with No space left on device', async () => {
    sim = await startSimulator({ inventory: smallInventory([{ name: 'vm1', power: 'off', disks: [{ size: '8M' }], guest: idle }]) });
    await ok(`vmkfstools -c 1G -d thin -a lsilogic /vmfs/volumes/ds1/big.vmdk`);
    const free = sim.esx.vfs.datastores()[0]!.free;
    const r = await sim.exec(`dd of=/vmfs/volumes/ds1/big-flat.vmdk bs=1048576 seek=0 conv=notrunc`, Buffer.alloc(free + 2 * MiB, 1));
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('No space left on device');
  });
});

describe('the moved-or-copied question', () => {
  async function copyVm(): Promise<string> {
    const vm = sim!.esx.vm('vm1');
    await ok(`mkdir /vmfs/volumes/ds1/copy`);
    for (const f of ['vm1.vmx', 'vm1.vmdk', 'vm1-flat.vmdk', 'vm1.nvram']) await ok(`cp '${vm.dir}/${f}' /vmfs/volumes/ds1/copy/${f}`);
    return '/vmfs/volumes/ds1/copy/vm1.vmx';
  }

  test('a copied .vmx without uuid.action is refused power-on; with "create" it gets a new BIOS uuid, with "keep" the old one', async () => {
    sim = await startSimulator({ inventory: smallInventory([{ name: 'vm1', power: 'off', disks: [{ size: '8M' }], guest: idle }]) });
    const original = sim.esx.vm('vm1');
    await ok(`vim-cmd vmsvc/power.on ${original.vmid}`);
    await ok(`vim-cmd vmsvc/power.off ${original.vmid}`);
    const vmx = await copyVm();
    const id = (await ok(`vim-cmd solo/registervm ${vmx}`)).trim();
    const refused = await sim.exec(`vim-cmd vmsvc/power.on ${id}`);
    expect(refused.exitCode).toBe(1);
    expect(refused.stdout.toString()).toContain('msg.uuid.moved');
    const copy = sim.esx.vm(Number(id));
    const text = sim.esx.vfs.readFile(vmx).toString().replace(/^uuid\.bios = .*$/m, (l) => `${l}\nuuid.action = "create"`);
    sim.esx.vfs.writeFile(vmx, text);
    await ok(`vim-cmd vmsvc/power.on ${id}`);
    expect(copy.config().get('uuid.bios')).not.toBe(original.config().get('uuid.bios'));
    expect(copy.config().get('ethernet0.generatedAddress')).not.toBe(original.config().get('ethernet0.generatedAddress'));
  });

  test('ESX 3.x: vmware-cmd start of a copied VM fails with a VMControl error until uuid.action says keep', async () => {
    sim = await startSimulator({ inventory: smallInventory([{ name: 'vm1', power: 'off', disks: [{ size: '8M' }], guest: idle }], { kind: 'esx3' }) });
    const bios = sim.esx.vm('vm1').config().get('uuid.bios');
    const vmx = await copyVm();
    await ok(`vmware-cmd -s register ${vmx}`);
    const refused = await sim.exec(`vmware-cmd ${vmx} start`);
    expect(refused.exitCode).not.toBe(0);
    expect(refused.stdout.toString() + refused.stderr).toContain('VMControl error -16');
    sim.esx.vfs.writeFile(vmx, sim.esx.vfs.readFile(vmx).toString() + 'uuid.action = "keep"\n');
    expect(await ok(`vmware-cmd ${vmx} start`)).toBe('start() = 1\n');
    expect(sim.esx.vm('vm1').config().get('uuid.bios')).toBe(bios);
  });
});
