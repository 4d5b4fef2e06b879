// How long the simulated hostd takes over each management operation: which commands wait, and a remove that grows
// with the delta (checked on the computed waits, not on the clock).

import { afterAll, beforeAll, expect, test } from 'vitest';
import { FAST_TIMING, hostdDelayMs, REALISTIC_TIMING, resolveTiming } from '../../src/sim/esx/hostd-timing.js';
import { startSimulator, type Simulator } from '../../src/sim/simulator.js';
import { smallInventory } from './integration/helpers.js';

let esxi: Simulator;
let esx3: Simulator;
beforeAll(async () => {
  const vms = [
    { name: 'small', vmid: 1, disks: [{ size: '16M', fillBytes: '1M' }], guest: { writesPerSecond: 0 } },
    { name: 'busy', vmid: 2, disks: [{ size: '16M', fillBytes: '1M' }], guest: { writesPerSecond: 0 } },
  ];
  esxi = await startSimulator({ inventory: smallInventory(vms, { kind: 'esxi', timing: 'realistic' }) });
  esx3 = await startSimulator({ inventory: smallInventory(vms, { kind: 'esx3', timing: 'realistic' }) });
});
afterAll(async () => {
  await esxi?.stop();
  await esx3?.stop();
});

test('the profile comes from the inventory, else from $VCBMOUNTER_SIM_TIMING, else realistic', () => {
  expect(resolveTiming(undefined, {})).toEqual(REALISTIC_TIMING);
  expect(resolveTiming(undefined, { VCBMOUNTER_SIM_TIMING: 'fast' })).toEqual(FAST_TIMING);
  expect(resolveTiming('realistic', { VCBMOUNTER_SIM_TIMING: 'fast' })).toEqual(REALISTIC_TIMING);
  expect(resolveTiming({ quiesceMs: 5000 }, {})).toEqual({ ...REALISTIC_TIMING, quiesceMs: 5000 });
});

test('management operations wait as hostd does; reads of files and the power state do not', () => {
  const t = REALISTIC_TIMING;
  const host = esxi.esx;
  expect(hostdDelayMs(host, t, ['vim-cmd', 'vmsvc/getallvms'])).toBe(t.listVmsMs);
  expect(hostdDelayMs(host, t, ['vim-cmd', 'vmsvc/get.snapshotinfo', '1'])).toBe(t.listSnapshotsMs);
  expect(hostdDelayMs(host, t, ['vim-cmd', 'vmsvc/snapshot.create', '1', 'n', 'd', '0', '0'])).toBe(t.createSnapshotMs);
  expect(hostdDelayMs(host, t, ['vim-cmd', 'vmsvc/snapshot.create', '1', 'n', 'd', '0', '1'])).toBe(t.createSnapshotMs + t.quiesceMs);
  expect(hostdDelayMs(host, t, ['vim-cmd', 'vmsvc/power.off', '1'])).toBe(t.powerMs);
  expect(hostdDelayMs(host, t, ['vim-cmd', 'vmsvc/power.getstate', '1'])).toBe(0);
  expect(hostdDelayMs(host, t, ['cat', '/vmfs/volumes/ds1/small/small.vmx'])).toBe(0);
  const vmx = esx3.esx.vm('small').state.vmxPath;
  expect(hostdDelayMs(esx3.esx, t, ['vmware-cmd', '-l'])).toBe(t.listVmsMs);
  expect(hostdDelayMs(esx3.esx, t, ['vmware-cmd', vmx, 'createsnapshot', 'n', 'd', '1', '0'])).toBe(t.createSnapshotMs + t.quiesceMs);
  expect(hostdDelayMs(esx3.esx, t, ['vmware-cmd', vmx, 'hassnapshot'])).toBe(t.listSnapshotsMs);
  expect(hostdDelayMs(esx3.esx, t, ['vmware-cmd', vmx, 'getstate'])).toBe(0);
});

test('a snapshot remove waits longer the more the guest wrote into the delta', async () => {
  const host = esxi.esx;
  for (const name of ['small', 'busy']) await esxi.exec(`vim-cmd vmsvc/snapshot.create ${host.vm(name).vmid} s d 0 0`);
  const before = hostdDelayMs(host, REALISTIC_TIMING, ['vim-cmd', 'vmsvc/snapshot.removeall', '2']);
  // The guest of "busy" writes 8 MiB after the snapshot: they land in its delta.
  const busy = host.vm('busy');
  busy.chain(0).write(Buffer.alloc(8 * 1024 * 1024, 7), 0);
  const after = hostdDelayMs(host, REALISTIC_TIMING, ['vim-cmd', 'vmsvc/snapshot.removeall', '2']);
  const small = hostdDelayMs(host, REALISTIC_TIMING, ['vim-cmd', 'vmsvc/snapshot.removeall', '1']);
  expect(before).toBeGreaterThanOrEqual(REALISTIC_TIMING.removeSnapshotMs);
  expect(after).toBeGreaterThan(small);
  expect(after - before).toBeGreaterThanOrEqual(8 * REALISTIC_TIMING.removePerDeltaMiBMs);
});
