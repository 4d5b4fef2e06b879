// A job's backups find their VMs through the job's own listing (one info call each), and fall back to a full
// resolve when the host no longer agrees with that listing: a VM unregistered mid-run fails alone, clearly.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { connectEsxHost } from '../../src/esx/detect.js';
import { startSimulator, type Simulator } from '../../src/sim/simulator.js';
import { connectSsh } from '../../src/transport/index.js';
import { confirmListedVm, parseSelector } from '../../src/workflow/identify.js';
import type { RunSummary } from '../../src/jobfile/summary-types.js';
import { binCommand } from '../../tools/test-support/bin-command.js';
import { smallInventory } from '../sim/integration/helpers.js';

let work: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'vcb-listed-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const disk = { size: '4M', thin: true, fillBytes: '1M' };

function listings(sim: Simulator): number {
  return sim.commandLog.filter((c) => c.argv[0] === 'vim-cmd' && c.argv[1] === 'vmsvc/getallvms').length;
}

describe('vcbmounter run and its listing of the host', () => {
  let sim: Simulator;
  beforeAll(async () => {
    sim = await startSimulator({
      inventory: smallInventory([
        { name: 'alpha', vmid: 31, disks: [disk] },
        { name: 'bravo', vmid: 32, disks: [disk] },
        { name: 'charlie', vmid: 33, power: 'off', disks: [disk] },
      ]),
    });
  }, 60_000);
  afterAll(async () => sim?.stop());

  test('each VM is confirmed by one info call; the VM unregistered after the listing fails alone with VM not found', async () => {
    const pass = join(work, 'pass');
    writeFileSync(pass, `${sim.password}\n`, { mode: 0o600 });
    const job = join(work, 'job.yaml');
    writeFileSync(
      job,
      `hosts:
  esx:
    address: 127.0.0.1
    port: ${sim.port}
    user: root
    passwordFile: ${pass}
    hostKey: ${sim.fingerprint}
defaults:
  type: fullvm
  destination: ${work}/backup/{vm}/{time}
  retries: { attempts: 0 }
concurrency: { total: 1 }
stateDir: ${work}/state
vms:
  - host: esx
    select: [any]
`,
    );
    // Once alpha's snapshot exists (the job listed the host long before), charlie (off, so it may) leaves the inventory.
    const watch = setInterval(() => {
      const created = sim.commandLog.some((c) => c.argv[1] === 'vmsvc/snapshot.create' && c.argv[2] === '31');
      const charlie = sim.esx.vms().find((v) => v.name === 'charlie');
      if (created && charlie) sim.esx.unregister(charlie);
    }, 10);
    const before = listings(sim);
    const c = binCommand(['run', job, '--json', '--no-notify']);
    const r = await execa(c.command, c.args, { reject: false, input: '' });
    clearInterval(watch);
    const summary = JSON.parse(String(r.stdout)) as RunSummary;
    const by = Object.fromEntries(summary.vms.map((v) => [v.vm, v]));
    expect(by.alpha?.result).toBe('ok');
    expect(by.bravo?.result).toBe('ok');
    expect(by.charlie?.result).toBe('failed');
    expect(by.charlie?.failedStep).toBe('resolve');
    expect(by.charlie?.error).toMatch(/no VM matches -a moref:33/);
    expect(r.exitCode).toBe(12); // some VMs failed
    // The job's own listing, and one more for charlie's fallback: alpha and bravo were not listed again.
    expect(listings(sim) - before).toBe(2);
    expect(sim.esx.vms().flatMap((v) => v.snapshots)).toEqual([]);
  }, 120_000);
});

describe('confirmListedVm against the simulated hosts', () => {
  test.each(['esxi', 'esx3'] as const)('%s: confirms only what the host still describes the same way', async (kind) => {
    const sim = await startSimulator({ inventory: smallInventory([{ name: 'delta', vmid: 41, power: 'off', disks: [disk] }], { kind }) });
    const transport = await connectSsh({ host: sim.host, port: sim.port, username: sim.username, password: sim.password, hostKey: { kind: 'fingerprint', fingerprint: sim.fingerprint } });
    try {
      const esx = await connectEsxHost(transport);
      const [ref] = await esx.listVms();
      const sel = parseSelector(`moref:${ref!.id}`);
      const confirmed = await confirmListedVm(esx, sel, ref!);
      if (kind === 'esx3') {
        // vmware-cmd cannot name a VM by itself, so a rename would go unseen: always resolved afresh there.
        expect(confirmed).toBeUndefined();
        return;
      }
      expect(confirmed?.ref).toEqual(ref);
      expect(confirmed?.info.name).toBe('delta');
      // A listing older than a rename (the host now says another name), or than a move of the .vmx.
      expect(await confirmListedVm(esx, sel, { ...ref!, name: 'delta-old' })).toBeUndefined();
      expect(await confirmListedVm(esx, sel, { ...ref!, vmxPath: '/vmfs/volumes/datastore1/elsewhere/delta.vmx' })).toBeUndefined();
      // Another selector than the listed VM's moref.
      expect(await confirmListedVm(esx, parseSelector('name:delta'), ref!)).toBeUndefined();
      sim.esx.unregister(sim.esx.vms()[0]!);
      expect(await confirmListedVm(esx, sel, ref!)).toBeUndefined();
    } finally {
      await transport.close();
      await sim.stop();
    }
  }, 60_000);
});
