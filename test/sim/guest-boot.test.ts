// The simulated guest's boot: VMware Tools start toolsStartMs after a power-on in a guest that boots, never in one
// that does not, and a VM registered from files boots only from a disk with a boot signature.

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { FAST_TIMING } from '../../src/sim/esx/hostd-timing.js';
import { startSimulator, type Simulator } from '../../src/sim/simulator.js';
import { smallInventory } from './integration/helpers.js';

const TOOLS_START_MS = 600;
const timing = { ...FAST_TIMING, toolsStartMs: TOOLS_START_MS };
const vms = [
  { name: 'boots', vmid: 1, power: 'off', disks: [{ size: '8M', fillBytes: '1M' }], guest: { writesPerSecond: 0 } },
  { name: 'never', vmid: 2, power: 'off', boot: 'no', disks: [{ size: '8M', fillBytes: '1M' }], guest: { writesPerSecond: 0 } },
  { name: 'running', vmid: 3, power: 'on', disks: [{ size: '8M', fillBytes: '1M' }], guest: { writesPerSecond: 0 } },
];
let esxi: Simulator;
let esx3: Simulator;
beforeAll(async () => {
  esxi = await startSimulator({ inventory: smallInventory(vms, { kind: 'esxi', timing }) });
  esx3 = await startSimulator({ inventory: smallInventory(vms, { kind: 'esx3', timing }) });
});
afterAll(async () => {
  await esxi?.stop();
  await esx3?.stop();
});

async function out(sim: Simulator, line: string): Promise<string> {
  const r = await sim.exec(line);
  expect(r.exitCode, r.stderr).toBe(0);
  return r.stdout.toString('utf8');
}
const toolsStatus = async (vmid: number) => /toolsRunningStatus = "(\w+)"/.exec(await out(esxi, `vim-cmd vmsvc/get.summary ${vmid}`))?.[1];
/** Waits past the Tools' start; the simulator's clock is the test's. */
const pastToolsStart = () => new Promise((r) => setTimeout(r, TOOLS_START_MS + 200));

describe('ESXi: get.summary', () => {
  test('a VM built running has its Tools up at once', async () => {
    expect(await toolsStatus(3)).toBe('guestToolsRunning');
  });

  test('after power.on Tools report running only once the guest has booted', async () => {
    await out(esxi, 'vim-cmd vmsvc/power.on 1');
    expect(await toolsStatus(1)).toBe('guestToolsNotRunning');
    // A quiesced snapshot needs Tools: refused while the guest boots.
    expect((await esxi.exec('vim-cmd vmsvc/snapshot.create 1 s d 0 1')).exitCode).not.toBe(0);
    await pastToolsStart();
    expect(await toolsStatus(1)).toBe('guestToolsRunning');
  });

  test('a guest that never boots never reports Tools running', async () => {
    await out(esxi, 'vim-cmd vmsvc/power.on 2');
    await pastToolsStart();
    expect(await toolsStatus(2)).toBe('guestToolsNotRunning');
  });

  test('a VM registered from files boots only from a first disk with a boot signature', async () => {
    const host = esxi.esx;
    const source = host.vm('boots');
    await out(esxi, `vim-cmd vmsvc/power.off 1`);
    // Copies of the powered-off VM's folder, registered as new VMs (as a restore registers uploaded files).
    await out(esxi, `cp -r '${source.dir}' '${source.dir}-plain'`);
    const plain = host.register(`${source.dir}-plain/${source.fileBase}.vmx`);
    source.writeAsGuest(0, 510, Buffer.from([0x55, 0xaa]));
    await out(esxi, `cp -r '${source.dir}' '${source.dir}-bootable'`);
    const bootable = host.register(`${source.dir}-bootable/${source.fileBase}.vmx`);
    for (const vm of [plain, bootable]) {
      // The copies keep the original's uuid.location: answer "copied", as a restore's .vmx does.
      host.vfs.writeFile(vm.state.vmxPath, host.vfs.readFile(vm.state.vmxPath).toString('utf8') + 'uuid.action = "create"\n');
      await out(esxi, `vim-cmd vmsvc/power.on ${vm.vmid}`);
    }
    await pastToolsStart();
    expect(await toolsStatus(plain.vmid)).toBe('guestToolsNotRunning');
    expect(await toolsStatus(bootable.vmid)).toBe('guestToolsRunning');
  });
});

describe('ESX 3.x: vmware-cmd getheartbeat and gettoolslastactive', () => {
  const vmx = (name: string) => esx3.esx.vm(name).state.vmxPath;
  test('0 until the Tools start after a start, then a count above 0; 0 for ever in a guest that never boots', async () => {
    await out(esx3, `vmware-cmd '${vmx('boots')}' start`);
    await out(esx3, `vmware-cmd '${vmx('never')}' start`);
    expect(await out(esx3, `vmware-cmd '${vmx('boots')}' getheartbeat`)).toBe('getheartbeat() = 0\n');
    expect(await out(esx3, `vmware-cmd '${vmx('boots')}' gettoolslastactive`)).toBe('gettoolslastactive() = 0\n');
    await pastToolsStart();
    expect(await out(esx3, `vmware-cmd '${vmx('boots')}' getheartbeat`)).toMatch(/^getheartbeat\(\) = [1-9]\d*\n$/);
    expect(await out(esx3, `vmware-cmd '${vmx('boots')}' gettoolslastactive`)).toBe('gettoolslastactive() = 1\n');
    expect(await out(esx3, `vmware-cmd '${vmx('never')}' getheartbeat`)).toBe('getheartbeat() = 0\n');
    expect(await out(esx3, `vmware-cmd -q '${vmx('running')}' getheartbeat`)).toMatch(/^[1-9]\d*\n$/);
  });
});
