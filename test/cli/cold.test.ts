// --cold: the CLI against the simulated host over SSH shuts the guest down, snapshots it off, powers it on again at once, and powers it on whatever fails.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseCatalog } from '../../src/export/index.js';
import { replayWrites, type GuestEvent } from '../../src/sim/guest/guest.js';
import type { Simulator } from '../../src/sim/simulator.js';
import { backupArgs, cli, outDir, SNAP, startBench, vmSpec, type Bench } from '../failures/helpers.js';
import { FAST_GUEST, waitUntil } from '../sim/integration/helpers.js';

/** Each test backs up its own VM: a run changes its VM's power state. */
const VMS = {
  cold: 31,
  snapfail: 32,
  sigterm: 33,
  killed: 34,
  notools: 35,
  notoolsHard: 36,
  hangs: 37,
  hangsHard: 38,
  off: 39,
  suspended: 40,
  dropped: 41,
  late: 42,
};

const TIMEOUTS = ['--command-timeout', '10', '--cleanup-timeout', '30'];

let bench: Bench;

beforeAll(async () => {
  const shutdown = (durationMs: number) => ({ shutdown: { durationMs } });
  bench = await startBench([
    vmSpec('cold', { vmid: VMS.cold, ...shutdown(1_500) }),
    vmSpec('snapfail', { vmid: VMS.snapfail, ...shutdown(500) }),
    vmSpec('sigterm', { vmid: VMS.sigterm, ...shutdown(4_000) }),
    vmSpec('killed', { vmid: VMS.killed, ...shutdown(1_500) }),
    vmSpec('notools', { vmid: VMS.notools, tools: { installed: true, running: false } }),
    vmSpec('notoolsHard', { vmid: VMS.notoolsHard, tools: { installed: false, running: false } }),
    vmSpec('hangs', { vmid: VMS.hangs, shutdown: { hang: true } }),
    vmSpec('hangsHard', { vmid: VMS.hangsHard, shutdown: { hang: true } }),
    vmSpec('off', { vmid: VMS.off, power: 'off' }),
    vmSpec('suspended', { vmid: VMS.suspended }),
    vmSpec('dropped', { vmid: VMS.dropped, ...shutdown(500) }),
    vmSpec('late', { vmid: VMS.late, ...shutdown(500) }),
  ]);
});
afterAll(async () => bench?.stop());

/** The host commands the runs sent for one VM, as lines, in the order they started. */
function commandsFor(sim: Simulator, vmid: number): string[] {
  return sim.commandLog
    .filter((c) => c.argv[0] === 'vim-cmd' && c.argv[2] === String(vmid))
    .sort((a, b) => a.startedAt - b.startedAt)
    .map((c) => c.argv.slice(1, 2).join(' '));
}

function markers(events: readonly GuestEvent[]): string[] {
  return events.flatMap((e) => (e.ev === 'marker' && /^(power|snapshot\.created)/.test(e.what) ? [e.what] : []));
}

function markerAt(events: readonly GuestEvent[], what: string): number {
  return events.findIndex((e) => e.ev === 'marker' && e.what === what);
}

/** Each exported disk equals the guest's disk at the snapshot, replayed from its write log. */
function expectExportAtSnapshot(dir: string, initial: Buffer[], events: readonly GuestEvent[]): void {
  const snapAt = markerAt(events, 'snapshot.created');
  expect(snapAt, 'the guest saw the snapshot').toBeGreaterThanOrEqual(0);
  const atSnapshot = replayWrites(initial, events, FAST_GUEST.seed, snapAt);
  const catalog = parseCatalog(readFileSync(join(dir, 'catalog'), 'utf8'));
  expect(catalog.disks).toHaveLength(initial.length);
  for (const [i, d] of catalog.disks.entries()) {
    const flat = Buffer.concat(d.extentFiles.map((f) => readFileSync(join(dir, f))));
    expect(flat.equals(atSnapshot[i]!), `exported disk ${i} equals the guest's disk at the snapshot`).toBe(true);
  }
}

function applies(events: readonly GuestEvent[], from: number, to: number): number {
  return events.slice(from, to).filter((e) => e.ev === 'apply').length;
}

describe('--cold', () => {
  test('a running VM is shut down, snapshotted while off, powered on at once, then copied: the export is the disk at the snapshot', async () => {
    const vm = bench.sim.esx.vm('cold');
    const initial = [vm.readDisk(0), vm.readDisk(1)];
    const from = vm.guest.events.length;
    const r = await cli(backupArgs(bench, 'cold', ['--cold', ...TIMEOUTS]));
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('cold (the guest was shut down cleanly for the snapshot)');
    expect(vm.power, 'powered on again').toBe('on');
    expect(vm.snapshots.filter((s) => s.name === SNAP)).toEqual([]);

    // Host side: shutdown, the snapshot, power on, then the copy reads the disks.
    const lines = commandsFor(bench.sim, VMS.cold);
    const at = (cmd: string) => lines.indexOf(cmd);
    expect(at('vmsvc/power.shutdown')).toBeGreaterThanOrEqual(0);
    expect(at('vmsvc/power.shutdown')).toBeLessThan(at('vmsvc/snapshot.create'));
    expect(at('vmsvc/snapshot.create')).toBeLessThan(at('vmsvc/power.on'));
    const on = bench.sim.commandLog.find((c) => c.argv[1] === 'vmsvc/power.on' && c.argv[2] === String(VMS.cold))!;
    const firstDd = bench.sim.commandLog.filter((c) => c.argv[0] === 'dd').sort((a, b) => a.startedAt - b.startedAt)[0]!;
    expect(on.endedAt, 'powered on before the copy starts').toBeLessThanOrEqual(firstDd.startedAt);

    // Guest side: off (cleanly) when the snapshot was taken, no write while off, writing again once on.
    vm.guest.stop();
    const events = vm.guest.events.slice(from);
    expect(markers(events)).toEqual(['power.shutdown.requested', 'power.off.soft', 'snapshot.created', 'power.on']);
    const offAt = markerAt(events, 'power.off.soft');
    const onAt = markerAt(events, 'power.on');
    expect(applies(events, 0, offAt), 'the guest wrote until it was off').toBeGreaterThan(0);
    expect(applies(events, offAt, onAt), 'no guest write while off').toBe(0);
    expect(applies(events, onAt, events.length), 'the guest writes again once on').toBeGreaterThan(0);
    expectExportAtSnapshot(outDir(bench, 'cold'), initial, events);
    const catalog = parseCatalog(readFileSync(join(outDir(bench, 'cold'), 'catalog'), 'utf8'));
    expect(catalog.snapshot).toMatchObject({ quiesced: false, cold: 'shut-down' });
    vm.guest.start();
  });

  test('a snapshot that fails still powers the VM on', async () => {
    const vm = bench.sim.esx.vm('snapfail');
    const from = vm.guest.events.length;
    bench.sim.faults.add({ match: `^vim-cmd vmsvc/snapshot\\.create ${VMS.snapfail} `, action: 'fail', exitCode: 1, stderr: 'injected failure' });
    try {
      const r = await cli(backupArgs(bench, 'snapfail', ['--cold', ...TIMEOUTS]));
      expect(r.exitCode, r.stderr).toBe(6);
      expect(r.stderr).toContain('injected failure');
      expect(r.stderr).toContain('step snapshot');
    } finally {
      bench.sim.faults.clear();
    }
    expect(vm.power, 'powered on again after the failed snapshot').toBe('on');
    expect(markers(vm.guest.events.slice(from))).toEqual(['power.shutdown.requested', 'power.off.soft', 'power.on']);
    expect(vm.snapshots.filter((s) => s.name === SNAP)).toEqual([]);
  });

  test('SIGTERM during the shutdown wait: the guest finishes shutting down and the VM is powered on again', async () => {
    const vm = bench.sim.esx.vm('sigterm');
    const from = vm.guest.events.length;
    const child = cli(backupArgs(bench, 'sigterm', ['--cold', ...TIMEOUTS]));
    await waitUntil(() => vm.shuttingDown, 'the guest to be asked to shut down', 30_000);
    // Straight to the process: execa's own kill() would follow up with SIGKILL after 2 s of cleanup.
    process.kill(child.pid!, 'SIGTERM');
    const r = await child;
    expect(r.exitCode, `${r.signal} ${r.stderr}`).toBe(143);
    expect(vm.power, 'powered on again').toBe('on');
    expect(markers(vm.guest.events.slice(from))).toEqual(['power.shutdown.requested', 'power.off.soft', 'power.on']);
    expect(vm.snapshots.filter((s) => s.name === SNAP)).toEqual([]);
  });

  test('killed during the shutdown wait: `vcbmounter cleanup` powers the VM on from the journal', async () => {
    const vm = bench.sim.esx.vm('killed');
    const child = cli(backupArgs(bench, 'killed', ['--cold', ...TIMEOUTS]));
    await waitUntil(() => vm.shuttingDown, 'the guest to be asked to shut down', 30_000);
    child.kill('SIGKILL');
    await child;
    await waitUntil(() => vm.power === 'off', 'the guest to finish shutting down', 10_000);
    const list = await cli(['cleanup', '--list', ...bench.connect]);
    expect(list.stdout + list.stderr).toContain('killed');
    const c = await cli(['cleanup', ...bench.connect]);
    expect(c.exitCode, c.stderr).toBe(0);
    expect(vm.power, 'cleanup powered it on').toBe('on');
  });

  test('without running VMware Tools it fails clearly and the VM stays on; with --hard-power-off it is powered off hard and on again', async () => {
    const vm = bench.sim.esx.vm('notools');
    const r = await cli(backupArgs(bench, 'notools', ['--cold', ...TIMEOUTS]));
    expect(r.exitCode, r.stderr).toBe(6);
    expect(r.stderr).toContain('VMware Tools are not running');
    expect(r.stderr).toContain('--hard-power-off');
    expect(vm.power).toBe('on');
    expect(commandsFor(bench.sim, VMS.notools)).not.toContain('vmsvc/snapshot.create');
    expect(commandsFor(bench.sim, VMS.notools)).not.toContain('vmsvc/power.off');

    const hard = bench.sim.esx.vm('notoolsHard');
    const initial = [hard.readDisk(0), hard.readDisk(1)];
    const from = hard.guest.events.length;
    const h = await cli(backupArgs(bench, 'notoolsHard', ['--cold', '--hard-power-off', ...TIMEOUTS]));
    expect(h.exitCode, h.stderr).toBe(0);
    expect(h.stdout).toContain('powered off hard');
    expect(hard.power).toBe('on');
    hard.guest.stop();
    const events = hard.guest.events.slice(from);
    expect(markers(events)).toEqual(['power.off.hard', 'snapshot.created', 'power.on']);
    expectExportAtSnapshot(outDir(bench, 'notoolsHard'), initial, events);
    hard.guest.start();
  });

  test('a shutdown that hangs times out: no snapshot, the VM stays on; with --hard-power-off it is powered off hard, snapshotted and on again', async () => {
    const vm = bench.sim.esx.vm('hangs');
    const started = Date.now();
    const r = await cli(backupArgs(bench, 'hangs', ['--cold', '--shutdown-timeout', '2', ...TIMEOUTS]));
    expect(r.exitCode, r.stderr).toBe(6);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_000);
    expect(r.stderr).toContain('did not shut down within --shutdown-timeout 2 s');
    expect(vm.power).toBe('on');
    expect(commandsFor(bench.sim, VMS.hangs)).not.toContain('vmsvc/snapshot.create');

    const hard = bench.sim.esx.vm('hangsHard');
    const h = await cli(backupArgs(bench, 'hangsHard', ['--cold', '--hard-power-off', '--shutdown-timeout', '2', ...TIMEOUTS]));
    expect(h.exitCode, h.stderr).toBe(0);
    expect(h.stdout).toContain('did not shut down within');
    expect(hard.power).toBe('on');
    expect(markers(hard.guest.events)).toEqual(expect.arrayContaining(['power.shutdown.requested', 'power.off.hard', 'snapshot.created', 'power.on']));
  });

  test('a VM that is off stays off and is not touched', async () => {
    const vm = bench.sim.esx.vm('off');
    const r = await cli(backupArgs(bench, 'off', ['--cold', ...TIMEOUTS]));
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('cold (the VM was powered off)');
    expect(r.stderr).toContain('powered off already');
    expect(vm.power).toBe('off');
    expect(commandsFor(bench.sim, VMS.off).filter((c) => /power\.(on|off|shutdown)/.test(c))).toEqual([]);
  });

  test('a suspended VM is refused before anything is done', async () => {
    const vm = bench.sim.esx.vm('suspended');
    vm.guest.stop();
    vm.state.power = 'suspended';
    const r = await cli(backupArgs(bench, 'suspended', ['--cold', ...TIMEOUTS]));
    expect(r.exitCode, r.stderr).toBe(6);
    expect(r.stderr).toContain('is suspended: a cold backup needs the VM powered on');
    expect(commandsFor(bench.sim, VMS.suspended).filter((c) => /power\.(on|off|shutdown)|snapshot\.create/.test(c))).toEqual([]);
  });

  test('the connection drops as the shutdown is asked for: the run fails, and its cleanup (reconnecting) leaves the VM on', async () => {
    const vm = bench.sim.esx.vm('dropped');
    bench.sim.faults.add({ match: `^vim-cmd vmsvc/power\\.shutdown ${VMS.dropped}$`, action: 'drop' });
    try {
      const r = await cli(backupArgs(bench, 'dropped', ['--cold', '--shutdown-timeout', '3', ...TIMEOUTS]));
      expect(bench.sim.faults.fired).toHaveLength(1);
      expect(r.exitCode, r.stderr).toBe(3);
      expect(r.stderr).toContain('step shut-down');
    } finally {
      bench.sim.faults.clear();
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(vm.power).toBe('on');
    expect(vm.snapshots.filter((s) => s.name === SNAP)).toEqual([]);
  });

  test('a shutdown request the host carries out after the run gave up on it: the cleanup waits for the VM to go off and powers it on', async () => {
    const vm = bench.sim.esx.vm('late');
    const from = vm.guest.events.length;
    bench.sim.faults.add({ match: `^vim-cmd vmsvc/power\\.shutdown ${VMS.late}$`, action: 'late', delayMs: 4_000 });
    try {
      const r = await cli(backupArgs(bench, 'late', ['--cold', '--shutdown-timeout', '3', ...TIMEOUTS]));
      expect(bench.sim.faults.fired).toHaveLength(1);
      expect(r.exitCode, r.stderr).not.toBe(0);
      expect(r.stderr).toContain('step shut-down');
      expect(r.stderr).toMatch(/timed out/);
    } finally {
      bench.sim.faults.clear();
    }
    expect(vm.power, 'powered on again after the late shutdown').toBe('on');
    expect(markers(vm.guest.events.slice(from))).toEqual(['power.shutdown.requested', 'power.off.soft', 'power.on']);
  });

  test('--dry-run lists shut-down right before the snapshot and power-on right after it, inside the hook phases', async () => {
    const r = await cli(['-h', 'esx01', '-a', 'name:x', '-r', join(bench.tmp, 'dry'), '--cold', '--hook', '/bin/true', '--dry-run']);
    expect(r.exitCode, r.stderr).toBe(0);
    const names = r.stdout.split('\n').flatMap((l) => /^\s*\d+\.\s+([\w-]+):/.exec(l)?.[1] ?? []);
    const i = names.indexOf('snapshot');
    expect(names.slice(i - 2, i + 3)).toEqual(['hook-pre-snapshot', 'shut-down', 'snapshot', 'power-on', 'hook-post-snapshot']);
  });

  test('--hard-power-off without --cold is a usage error', async () => {
    const r = await cli(backupArgs(bench, 'cold', ['--hard-power-off']));
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('--hard-power-off');
  });
});

describe('--cold on ESX 3.x (vmware-cmd)', () => {
  let esx3: Bench;
  beforeAll(async () => {
    esx3 = await startBench(
      [vmSpec('old', { shutdown: { durationMs: 1_000 } }), vmSpec('oldNoTools', { tools: { installed: false, running: false } })],
      [],
      { kind: 'esx3' },
    );
  });
  afterAll(async () => esx3?.stop());

  test('stop soft, the snapshot, start: the export is the disk at the snapshot and the VM is on again', async () => {
    const vm = esx3.sim.esx.vm('old');
    const initial = [vm.readDisk(0), vm.readDisk(1)];
    const from = vm.guest.events.length;
    const r = await cli(backupArgs(esx3, 'old', ['--cold', ...TIMEOUTS]));
    expect(r.exitCode, r.stderr).toBe(0);
    expect(vm.power).toBe('on');
    const ops = esx3.sim.commandLog.filter((c) => c.argv[0] === 'vmware-cmd' && c.argv[1] === vm.state.vmxPath).map((c) => c.argv[2]);
    expect(ops.indexOf('stop')).toBeLessThan(ops.indexOf('createsnapshot'));
    expect(ops.indexOf('createsnapshot')).toBeLessThan(ops.indexOf('start'));
    vm.guest.stop();
    const events = vm.guest.events.slice(from);
    expect(markers(events)).toEqual(['power.shutdown.requested', 'power.off.soft', 'snapshot.created', 'power.on']);
    expectExportAtSnapshot(outDir(esx3, 'old'), initial, events);
    vm.guest.start();
  });

  test('without Tools the host refuses stop soft: a clear failure, the VM stays on', async () => {
    const vm = esx3.sim.esx.vm('oldNoTools');
    const r = await cli(backupArgs(esx3, 'oldNoTools', ['--cold', ...TIMEOUTS]));
    expect(r.exitCode, r.stderr).toBe(6);
    expect(r.stderr).toContain('VMware Tools are not running');
    expect(vm.power).toBe('on');
  });
});
