// vcbmounter restore --drill as a process against the simulated host over SSH: a backup that boots, one that never
// does, an interrupt; every time nothing of the drill is left and the original runs on untouched.

import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseInventory } from '../../src/sim/inventory.js';
import { FAST_TIMING } from '../../src/sim/esx/hostd-timing.js';
import { binCommand } from '../../tools/test-support/bin-command.js';
import { startBench, type Bench, type CliResult } from './cli-helpers.js';

const IDLE = { writesPerSecond: 0 };
/** Tools start this long after a power-on (the simulator's boot), so the drill really waits for them. */
const TOOLS_START_MS = 1500;
let bench: Bench;
/** A backup whose first disk carries a boot signature (it boots), and one whose first sector is random data (it never does). */
let bootable: string;
let unbootable: string;

beforeAll(async () => {
  bench = await startBench(
    parseInventory({
      host: { timing: { ...FAST_TIMING, toolsStartMs: TOOLS_START_MS } },
      seed: 23,
      datastores: [{ name: 'ds1', capacity: '512M' }],
      vms: [
        { name: 'web', vmid: 50, power: 'on', disks: [{ size: '32M', thin: true, fillBytes: '3M' }], guest: IDLE },
        { name: 'dead', vmid: 51, power: 'off', disks: [{ size: '16M', thin: true, fillBytes: '2M' }], guest: IDLE },
      ],
    }),
  );
  // A boot sector's signature: what a BIOS looks for before it boots the disk.
  bench.sim.esx.vm('web').writeAsGuest(0, 510, Buffer.from([0x55, 0xaa]));
  const dead = bench.sim.esx.vm('dead').readDisk(0);
  expect(dead[510] === 0x55 && dead[511] === 0xaa).toBe(false);
  bootable = join(bench.work, 'web-backup');
  unbootable = join(bench.work, 'dead-backup');
  for (const [vm, dir] of [['web', bootable], ['dead', unbootable]] as const) {
    const r = await bench.cli(['-a', `name:${vm}`, '-r', dir]);
    expect(r.exitCode, r.stderr).toBe(0);
  }
}, 60_000);
afterAll(async () => bench?.stop());

function restoreArgs(source: string, args: string[]): string[] {
  return ['restore', '-h', '127.0.0.1', '--port', String(bench.sim.port), '--host-key', bench.sim.fingerprint, '-p', '-', '--state-dir', bench.stateDir, '-s', source, ...args];
}

function drill(source: string, args: string[] = []): Promise<CliResult> {
  return bench.cli(restoreArgs(source, ['--drill', ...args]), { bare: true, input: `${bench.sim.password}\n` });
}

const vfs = () => bench.sim.esx.vfs;
const names = () => bench.sim.esx.vms().map((v) => v.name).sort();
const folders = () => vfs().list('/vmfs/volumes/ds1').sort();
const commandsSince = (from: number) => bench.sim.commandLog.slice(from).map((c) => c.argv.join(' '));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** What the original VM is: its registration, power, files and disk bytes; a drill must leave all of it as it was. */
function original(): { vmid: number; power: string; files: string[]; vmx: string; disk: string } {
  const web = bench.sim.esx.vm('web');
  return { vmid: web.vmid, power: web.power, files: vfs().list('/vmfs/volumes/ds1/web').sort(), vmx: vfs().readFile(web.state.vmxPath).toString('utf8'), disk: sha(web.readDisk(0)) };
}

/** Nothing of any drill is left on the host: registered or on the datastore. */
function expectNothingLeft(): void {
  expect(names()).toEqual(['dead', 'web']);
  expect(folders().filter((f) => f.includes('-drill-'))).toEqual([]);
}

describe('restore --drill', () => {
  test('a backup that boots: restored under a temporary name, powered on until Tools report in, then removed; exit 0, the original untouched', async () => {
    const before = original();
    const foldersBefore = folders();
    const from = bench.sim.commandLog.length;
    const r = await drill(bootable, ['--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as { ok: boolean; vm: { name: string; vmx: string }; uuidAction: string; drill: { booted: boolean; heartbeatAfterMs: number; evidence: string; removed: boolean } };
    expect(result.ok).toBe(true);
    expect(result.vm.name).toMatch(/^web-drill-\d{8}-\d{6}$/);
    expect(result.uuidAction).toBe('create');
    expect(result.drill).toMatchObject({ booted: true, removed: true });
    expect(result.drill.evidence).toContain('guestToolsRunning');
    // The simulated guest's Tools start TOOLS_START_MS after the power-on: the drill waited for them.
    expect(result.drill.heartbeatAfterMs).toBeGreaterThanOrEqual(TOOLS_START_MS - 100);
    const ran = commandsSince(from);
    const drillVmx = `/vmfs/volumes/ds1/${result.vm.name}/${result.vm.name}.vmx`;
    expect(ran).toContain(`vim-cmd solo/registervm ${drillVmx}`);
    expect(ran.some((c) => /^vim-cmd vmsvc\/power\.on \d+$/.test(c))).toBe(true);
    expect(ran.filter((c) => c.startsWith('vim-cmd vmsvc/get.summary')).length).toBeGreaterThanOrEqual(2);
    // Only the drill VM was powered off or unregistered, never the original.
    expect(ran.filter((c) => /vmsvc\/(power\.off|unregister) 50$/.test(c))).toEqual([]);
    expectNothingLeft();
    expect(folders()).toEqual(foldersBefore);
    expect(original()).toEqual(before);
    expect(before.power).toBe('on');
  }, 60_000);

  test('the drill VM boots with its network cards disconnected, and as a copy (a new BIOS uuid)', async () => {
    // Watch the host while the drill runs: its VM is registered and on for TOOLS_START_MS at least.
    const seen: Array<{ startConnected?: string; uuid?: string; power: string }> = [];
    const watch = setInterval(() => {
      const vm = bench.sim.esx.vms().find((v) => v.name.includes('-drill-'));
      if (vm?.power === 'on') seen.push({ startConnected: vm.config().get('ethernet0.startConnected'), uuid: vm.config().get('uuid.bios'), power: vm.power });
    }, 100);
    try {
      const r = await drill(bootable);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^drill passed: web-drill-\S+ booted from the backup/);
    } finally {
      clearInterval(watch);
    }
    expect(seen.length).toBeGreaterThan(0);
    expect(seen[0]!.startConnected).toBe('FALSE');
    expect(seen[0]!.uuid).not.toBe(bench.sim.esx.vm('web').config().get('uuid.bios'));
    expectNothingLeft();
  }, 60_000);

  test('a backup whose guest never reports a heartbeat: exit 16 after --drill-timeout, the drill VM powered off, unregistered and deleted', async () => {
    const before = original();
    const from = bench.sim.commandLog.length;
    const r = await drill(unbootable, ['--drill-timeout', '3']);
    expect(r.exitCode, r.stderr).toBe(16);
    expect(r.stderr).toMatch(/reported no VMware Tools heartbeat within 3 s/);
    const ran = commandsSince(from);
    expect(ran.some((c) => /^vim-cmd vmsvc\/power\.on \d+$/.test(c))).toBe(true);
    expect(ran.some((c) => /^vim-cmd vmsvc\/power\.off \d+$/.test(c))).toBe(true);
    expectNothingLeft();
    expect(original()).toEqual(before);
  }, 60_000);

  test('SIGTERM while waiting for the heartbeat: exit 143, nothing of the drill left', async () => {
    const run = binCommand(restoreArgs(unbootable, ['--drill', '--drill-timeout', '600']));
    const child = execa(run.command, run.args, { reject: false, input: `${bench.sim.password}\n` });
    const poweredOn = () => bench.sim.esx.vms().some((v) => v.name.startsWith('dead-drill-') && v.power === 'on');
    const deadline = Date.now() + 30_000;
    while (!poweredOn() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(poweredOn()).toBe(true);
    child.kill('SIGTERM');
    const r = await child;
    expect(r.exitCode, String(r.stderr)).toBe(143);
    expectNothingLeft();
  }, 60_000);

  test('a drill that is refused by the host at power-on (exit 6) leaves nothing either', async () => {
    bench.sim.faults.add({ match: '^vim-cmd vmsvc/power\\.on', action: 'fail', times: 1, stderr: '(vim.fault.InsufficientResourcesFault) {\n   msg = "Insufficient resources."\n}\n' } as never);
    try {
      const r = await drill(bootable);
      expect(r.exitCode, r.stderr).toBe(6);
    } finally {
      bench.sim.faults.clear();
    }
    expectNothingLeft();
  }, 60_000);

  test.each([
    [['-b', 'overwrite'], /--drill with -b overwrite/],
    [['-b', 'rename'], /--drill with -b rename/],
    [['--name', 'web2'], /--drill with --name/],
    [['--power-on'], /--drill with --power-on/],
  ])('refuses --drill %j (exit 2, nothing contacted)', async (extra, message) => {
    const from = bench.sim.commandLog.length;
    const r = await drill(bootable, [...extra, '--dry-run']);
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(commandsSince(from)).toEqual([]);
  });

  test('--dry-run lists the drill steps', async () => {
    const r = await drill(bootable, ['--dry-run']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/power-on: power the drill VM on/);
    expect(r.stdout).toMatch(/heartbeat: wait up to 600 s/);
    expect(r.stdout).toMatch(/remove: power the drill VM off, unregister it and delete its directory/);
    expect(r.stdout).not.toMatch(/replace|finish/);
  });
});
