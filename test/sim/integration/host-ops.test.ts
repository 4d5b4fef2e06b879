// Host operations beyond snapshots: vmkfstools -i clones, power on/off/shutdown, unregister and register.

import { afterEach, describe, expect, test } from 'vitest';
import { startSimulator, type Simulator } from '../../../src/sim/simulator.js';
import { smallInventory, waitUntil } from './helpers.js';

let sim: Simulator | undefined;
afterEach(async () => {
  await sim?.stop();
  sim = undefined;
});

const idle = { writesPerSecond: 0 };
const dir = '/vmfs/volumes/ds1/vm1';

async function ok(line: string): Promise<string> {
  const r = await sim!.exec(line);
  expect(r.exitCode, `${line}\n${r.stderr}`).toBe(0);
  return r.stdout.toString('utf8');
}

describe('vmkfstools -i', () => {
  test('clones a disk with a snapshot chain into a flat disk holding the chain view, thin clones stay sparse', async () => {
    sim = await startSimulator({ inventory: smallInventory([{ name: 'vm1', disks: [{ size: '16M', thin: true, fillBytes: '4M' }], guest: idle }]) });
    const vm = sim.esx.vm('vm1');
    await ok(`vim-cmd vmsvc/snapshot.create ${vm.vmid} s1 d 0 0`);
    for (let i = 0; i < 40; i++) vm.guest.issue();
    vm.guest.flush();
    const view = vm.readDisk(0);
    const out = await ok(`vmkfstools -i '${dir}/vm1-000001.vmdk' -d thin '${dir}/clone.vmdk'`);
    expect(out).toContain('Clone: 100% done.');
    const flat = sim.esx.vfs.readFile(`${dir}/clone-flat.vmdk`);
    expect(flat.equals(view)).toBe(true);
    const desc = sim.esx.vfs.readFile(`${dir}/clone.vmdk`).toString('utf8');
    expect(desc).toContain('RW 32768 VMFS "clone-flat.vmdk"');
    expect(desc).toContain('ddb.thinProvisioned = "1"');
    expect(sim.esx.vfs.stat(`${dir}/clone-flat.vmdk`)!.allocated).toBeLessThan(16 * 1024 * 1024);
  });

  test('refuses an existing target and reports a full datastore, leaving no half clone', async () => {
    sim = await startSimulator({ inventory: smallInventory([{ name: 'vm1', disks: [{ size: '16M', thin: false, fillBytes: '1M' }], guest: idle }]) });
    const exists = await sim.exec(`vmkfstools -i ${dir}/vm1.vmdk ${dir}/vm1.vmdk`);
    expect(exists.exitCode).toBe(1);
    expect(exists.stderr).toContain('Failed to clone disk');
    sim.esx.vfs.setFull('ds1', true);
    const full = await sim.exec(`vmkfstools -i ${dir}/vm1.vmdk -d zeroedthick ${dir}/big.vmdk`);
    expect(full.exitCode).toBe(1);
    expect(full.stderr).toBe('Failed to clone disk : No space left on device\n');
    expect(sim.esx.vfs.stat(`${dir}/big-flat.vmdk`)).toBeUndefined();
    expect(sim.esx.vfs.stat(`${dir}/big.vmdk`)).toBeUndefined();
  });
});

describe('power and registration', () => {
  test('vim-cmd power.off / power.on / power.shutdown change the state, the swap file and the IP', async () => {
    sim = await startSimulator({ inventory: smallInventory([{ name: 'vm1', ip: '10.0.0.5', disks: [{ size: '8M' }], guest: idle }]) });
    const vm = sim.esx.vm('vm1');
    expect(sim.esx.vfs.stat(vm.vswpPath())).toBeDefined();
    await ok(`vim-cmd vmsvc/power.off ${vm.vmid}`);
    expect(await ok(`vim-cmd vmsvc/power.getstate ${vm.vmid}`)).toBe('Retrieved runtime info\nPowered off\n');
    expect(sim.esx.vfs.stat(vm.vswpPath())).toBeUndefined();
    expect(await ok(`vim-cmd vmsvc/get.summary ${vm.vmid}`)).toContain('ipAddress = <unset>');
    const again = await sim.exec(`vim-cmd vmsvc/power.off ${vm.vmid}`);
    expect(again.exitCode).toBe(1);
    expect(again.stdout.toString()).toContain('(vim.fault.InvalidPowerState)');
    await ok(`vim-cmd vmsvc/power.on ${vm.vmid}`);
    expect(await ok(`vim-cmd vmsvc/get.summary ${vm.vmid}`)).toContain('ipAddress = "10.0.0.5"');
    // The request is answered at once; the guest powers off in its own time.
    expect(await ok(`vim-cmd vmsvc/power.shutdown ${vm.vmid}`)).toBe('');
    await waitUntil(() => vm.power === 'off', 'the guest to shut down');
    const off = await sim.exec(`vim-cmd vmsvc/power.shutdown ${vm.vmid}`);
    expect(off.exitCode).toBe(1);
    expect(off.stdout.toString()).toContain('(vim.fault.InvalidPowerState)');
  });

  test('power.shutdown takes the guest its time, is refused without running Tools, and a hung guest never goes off', async () => {
    sim = await startSimulator({
      inventory: smallInventory([
        { name: 'slow', disks: [{ size: '8M' }], guest: idle, shutdown: { durationMs: 300 } },
        { name: 'notools', disks: [{ size: '8M' }], guest: idle, tools: { installed: true, running: false } },
        { name: 'hung', disks: [{ size: '8M' }], guest: idle, shutdown: { hang: true } },
      ]),
    });
    const slow = sim.esx.vm('slow');
    const started = Date.now();
    await ok(`vim-cmd vmsvc/power.shutdown ${slow.vmid}`);
    expect(await ok(`vim-cmd vmsvc/power.getstate ${slow.vmid}`)).toBe('Retrieved runtime info\nPowered on\n');
    const again = await sim.exec(`vim-cmd vmsvc/power.on ${slow.vmid}`);
    expect(again.exitCode, 'power.on of a VM still shutting down (on) fails').toBe(1);
    await waitUntil(() => slow.power === 'off', 'the guest to shut down');
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(slow.guest.events.filter((e) => e.ev === 'marker').map((e) => (e.ev === 'marker' ? e.what : ''))).toContain('power.off.soft');

    const noTools = await sim.exec(`vim-cmd vmsvc/power.shutdown ${sim.esx.vm('notools').vmid}`);
    expect(noTools.exitCode).toBe(1);
    expect(noTools.stdout.toString()).toContain('(vim.fault.ToolsUnavailable)');
    expect(noTools.stdout.toString()).toContain('msg = "Cannot complete operation because VMware Tools is not running in this virtual machine."');

    const hung = sim.esx.vm('hung');
    await ok(`vim-cmd vmsvc/power.shutdown ${hung.vmid}`);
    await new Promise((r) => setTimeout(r, 300));
    expect(hung.power).toBe('on');
    await ok(`vim-cmd vmsvc/power.off ${hung.vmid}`);
    expect(hung.power).toBe('off');
  });

  test('unregister then solo/registervm gives the VM back under a new vmid with the same files', async () => {
    sim = await startSimulator({ inventory: smallInventory([{ name: 'vm1', vmid: 7, power: 'off', disks: [{ size: '8M', fillBytes: '1M' }], guest: idle }]) });
    const before = sim.esx.vm('vm1').readDisk(0);
    await ok('vim-cmd vmsvc/unregister 7');
    expect(await ok('vim-cmd vmsvc/getallvms')).not.toContain('vm1');
    const id = (await ok(`vim-cmd solo/registervm '${dir}/vm1.vmx'`)).trim();
    expect(Number(id)).toBeGreaterThan(7);
    expect(await ok('vim-cmd vmsvc/getallvms')).toMatch(new RegExp(`^${id}\\s+vm1\\s+\\[ds1\\] vm1/vm1.vmx`, 'm'));
    expect(sim.esx.vm(Number(id)).readDisk(0).equals(before)).toBe(true);
    const twice = await sim.exec(`vim-cmd solo/registervm '${dir}/vm1.vmx'`);
    expect(twice.exitCode).toBe(1);
    expect(twice.stdout.toString()).toContain('AlreadyExists');
  });

  test('ESX 3.x: vmware-cmd -s unregister / register, start and stop hard', async () => {
    sim = await startSimulator({ inventory: smallInventory([{ name: 'vm1', power: 'off', disks: [{ size: '8M' }], guest: idle }], { kind: 'esx3' }) });
    const vmx = sim.esx.vm('vm1').state.vmxPath;
    // A VM registered from files boots (and runs Tools, which stop soft needs) only from a disk with a boot signature.
    sim.esx.vm('vm1').writeAsGuest(0, 510, Buffer.from([0x55, 0xaa]));
    expect(await ok(`vmware-cmd -s unregister '${vmx}'`)).toBe(`unregister(${vmx}) = 1\n`);
    expect(await ok('vmware-cmd -l')).toBe('');
    expect(await ok(`vmware-cmd -s register '${vmx}'`)).toBe(`register(${vmx}) = 1\n`);
    expect(await ok(`vmware-cmd '${vmx}' start`)).toBe('start() = 1\n');
    expect(await ok(`vmware-cmd -q '${vmx}' getstate`)).toBe('on\n');
    expect(await ok(`vmware-cmd '${vmx}' stop hard`)).toBe('stop(hard) = 1\n');
    // stop soft waits for the guest to finish shutting down.
    await ok(`vmware-cmd '${vmx}' start`);
    expect(await ok(`vmware-cmd '${vmx}' stop soft`)).toBe('stop(soft) = 1\n');
    expect(await ok(`vmware-cmd '${vmx}' getstate`)).toBe('getstate() = off\n');
  });
});
