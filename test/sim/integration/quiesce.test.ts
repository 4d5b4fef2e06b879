// Quiesced snapshots over SSH: script order and arguments, buffered writes, and every way quiescing can fail.

import { afterAll, beforeAll, expect, test } from 'vitest';
import { findVimFault } from '../../../src/esx/parse/vim-fault.js';
import { parseSnapshotGet } from '../../../src/esx/parse/snapshot-tree.js';
import { vimCmd } from '../../../src/esx/commands/vim-cmd.js';
import { replayWrites, type GuestEvent } from '../../../src/sim/guest/guest.js';
import type { SimVm } from '../../../src/sim/esx/vm.js';
import { startSimulator, type Simulator } from '../../../src/sim/simulator.js';
import { shellJoin } from '../../../src/util/shell-quote.js';
import { makeClientKey, markerIndex, openSsh, smallInventory, type ClientKey, type OpenSsh, type ProcessResult } from './helpers.js';

const LINUX_DIR = '/etc/vmware-tools/backupScripts.d/';
const PRE = '/usr/sbin/pre-freeze-script';
const POST = '/usr/sbin/post-thaw-script';

/** Idle guest (writes only when the test issues them) whose buffer never flushes on its own. */
const IDLE_GUEST = { writesPerSecond: 0, flushIntervalMs: 600_000, seed: 9 };
const vm = (name: string, extra: Record<string, unknown> = {}) => ({ name, disks: [{ size: '16M', fillBytes: '1M' }], guest: IDLE_GUEST, ...extra });
const scripts = (...names: string[]) => names.map((name) => ({ name }));
const fullQuiesce = { preFreeze: {}, postThaw: {}, freezeMs: 5, backupScripts: scripts('20-b', '10-a', 'Z-upper', 'a-lower') };

let key: ClientKey;
let sim: Simulator;
let ssh: OpenSsh;

beforeAll(async () => {
  key = await makeClientKey();
  sim = await startSimulator({
    inventory: smallInventory([
      vm('q-on', { quiesce: fullQuiesce }),
      vm('q-off', { quiesce: fullQuiesce }),
      vm('q-freezefail', { quiesce: { preFreeze: {}, postThaw: {}, freezeMs: 5, backupScripts: [{ name: '10-a' }, { name: '20-b' }, { name: '30-c', freezeExit: 1 }] } }),
      vm('q-prefail', { quiesce: { preFreeze: { exitCode: 3 }, postThaw: {}, backupScripts: scripts('10-a') } }),
      vm('q-thawfail', { quiesce: { postThaw: {}, freezeMs: 5, backupScripts: [{ name: '10-a' }, { name: '20-b', thawExit: 2 }, { name: '30-c' }] } }),
      vm('q-syncfail', { quiesce: { syncDriver: 'fail', backupScripts: scripts('10-a') } }),
      vm('q-hang', { quiesce: { syncDriver: 'hang', hangMs: 30, backupScripts: scripts('10-a') } }),
      vm('q-notools', { tools: { installed: false, running: false } }),
      vm('q-win', { family: 'windows', guestOS: 'windows9Server64Guest', quiesce: { preFreeze: {}, postThaw: {}, freezeMs: 5, backupScripts: scripts('10-a') } }),
    ]),
    authorizedKeys: [key.publicKey],
  });
  ssh = await openSsh(sim, key);
});
afterAll(async () => {
  await sim?.stop();
  key?.cleanup();
});

function snapshotCreate(target: SimVm, quiesce: boolean): Promise<ProcessResult> {
  return ssh.run(shellJoin(vimCmd.snapshotCreate(String(target.vmid), 'backup', 'quiesce test', false, quiesce)));
}

/** The quiescing steps from `from` on, one string each: scripts as "path arg", freeze/thaw, markers as "@what". */
function steps(events: readonly GuestEvent[], from: number): string[] {
  const out: string[] = [];
  for (const e of events.slice(from)) {
    if (e.ev === 'script') out.push(`${e.path} ${e.args.join(' ')}${e.exitCode ? ` => ${e.exitCode}` : ''}`);
    else if (e.ev === 'freeze' || e.ev === 'thaw') out.push(e.ev);
    else if (e.ev === 'marker') out.push(`@${e.what}`);
  }
  return out;
}

function issueBuffered(target: SimVm, n: number): number[] {
  const seqs: number[] = [];
  for (let i = 0; i < n; i++) seqs.push(target.guest.issue()!.seq);
  expect(target.guest.pendingWrites).toBe(n);
  return seqs;
}

async function expectNoSnapshot(target: SimVm): Promise<void> {
  expect(target.snapshots).toEqual([]);
  expect(parseSnapshotGet(await ssh.ok(shellJoin(vimCmd.snapshotGet(String(target.vmid)))))).toEqual([]);
  expect(sim.esx.vfs.list(target.dir).filter((f) => /-0000\d\d|\.vmsn$/.test(f))).toEqual([]);
  expect(target.diskPath(0)).toBe(`${target.dir}/${target.fileBase}.vmdk`);
}

function expectQuiesceFault(r: ProcessResult, text: RegExp): void {
  expect(r.code).not.toBe(0);
  const fault = findVimFault(r.stdout.toString());
  expect(fault?.name).toBe('ApplicationQuiesceFault');
  expect(fault?.message).toMatch(text);
}

test('a quiesced snapshot runs the freeze scripts in byte order, freezes, snapshots, thaws in reverse', async () => {
  const target = sim.esx.vm('q-on');
  const seqs = issueBuffered(target, 6);
  const initial = target.readDisk(0);
  const start = target.guest.events.length;

  const r = await snapshotCreate(target, true);
  expect(r.code).toBe(0);
  expect(r.stdout.toString()).toBe('Create Snapshot:\n');
  expect(steps(target.guest.events, start)).toEqual([
    '@snapshot.begin',
    `${PRE} freeze`,
    `${LINUX_DIR}10-a freeze`,
    `${LINUX_DIR}20-b freeze`,
    `${LINUX_DIR}Z-upper freeze`,
    `${LINUX_DIR}a-lower freeze`,
    'freeze',
    '@snapshot.created',
    'thaw',
    `${LINUX_DIR}a-lower thaw`,
    `${LINUX_DIR}Z-upper thaw`,
    `${LINUX_DIR}20-b thaw`,
    `${LINUX_DIR}10-a thaw`,
    `${POST} thaw`,
  ]);

  const events = target.guest.events;
  const created = markerIndex(events, 'snapshot.created', start);
  const appliedBefore = events.slice(start, created).filter((e) => e.ev === 'apply').map((e) => (e as { seq: number }).seq);
  expect(appliedBefore).toEqual(seqs);
  const base = sim.esx.vfs.readFile(`${target.dir}/q-on-flat.vmdk`);
  expect(base.equals(replayWrites([initial], events.slice(start), target.spec.guest.seed, created - start)[0]!)).toBe(true);
  expect(base.equals(initial)).toBe(false);
  expect(target.snapshots[0]).toMatchObject({ name: 'backup', quiesced: true });
  expect(target.guest.isFrozen).toBe(false);
});

test('without quiesce no script runs and buffered writes land after the snapshot, in the delta', async () => {
  const target = sim.esx.vm('q-off');
  issueBuffered(target, 6);
  const initial = target.readDisk(0);
  const start = target.guest.events.length;

  expect((await snapshotCreate(target, false)).code).toBe(0);
  expect(steps(target.guest.events, start)).toEqual(['@snapshot.begin', '@snapshot.created']);
  expect(target.guest.pendingWrites).toBe(6);

  target.guest.flush();
  const flat = sim.esx.vfs.readFile(`${target.dir}/q-off-flat.vmdk`);
  expect(flat.equals(initial)).toBe(true);
  const disk = target.readDisk(0);
  expect(disk.equals(replayWrites([initial], target.guest.events.slice(start), target.spec.guest.seed)[0]!)).toBe(true);
  expect(disk.equals(initial)).toBe(false);
});

test('a failing freeze script fails the snapshot; every script then gets freezeFail in reverse, then post-thaw', async () => {
  const target = sim.esx.vm('q-freezefail');
  const start = target.guest.events.length;
  const r = await snapshotCreate(target, true);
  expectQuiesceFault(r, /30-c exited with status 1/);
  expect(steps(target.guest.events, start)).toEqual([
    '@snapshot.begin',
    '/usr/sbin/pre-freeze-script freeze',
    `${LINUX_DIR}10-a freeze`,
    `${LINUX_DIR}20-b freeze`,
    `${LINUX_DIR}30-c freeze => 1`,
    `${LINUX_DIR}30-c freezeFail`,
    `${LINUX_DIR}20-b freezeFail`,
    `${LINUX_DIR}10-a freezeFail`,
    `${POST} freezeFail`,
    '@quiesce.failed',
  ]);
  await expectNoSnapshot(target);
  expect(target.guest.isFrozen).toBe(false);
});

test('a failing pre-freeze script fails the snapshot before any backup script freezes', async () => {
  const target = sim.esx.vm('q-prefail');
  const start = target.guest.events.length;
  expectQuiesceFault(await snapshotCreate(target, true), /pre-freeze-script exited with status 3/);
  const ran = steps(target.guest.events, start);
  expect(ran[1]).toBe(`${PRE} freeze => 3`);
  expect(ran).not.toContain(`${LINUX_DIR}10-a freeze`);
  expect(ran).not.toContain('freeze');
  expect(ran.slice(-2)).toEqual([`${POST} freezeFail`, '@quiesce.failed']);
  await expectNoSnapshot(target);
});

test('a failing thaw script keeps the snapshot and the remaining thaw scripts still run', async () => {
  const target = sim.esx.vm('q-thawfail');
  const start = target.guest.events.length;
  expect((await snapshotCreate(target, true)).code).toBe(0);
  expect(steps(target.guest.events, start).slice(-6)).toEqual([
    'thaw',
    `${LINUX_DIR}30-c thaw`,
    `${LINUX_DIR}20-b thaw => 2`,
    `${LINUX_DIR}10-a thaw`,
    `${POST} thaw`,
    '@thaw.failed',
  ]);
  const tree = parseSnapshotGet(await ssh.ok(shellJoin(vimCmd.snapshotGet(String(target.vmid)))));
  expect(tree.map((s) => s.name)).toEqual(['backup']);
  expect(target.diskPath(0)).toBe(`${target.dir}/q-thawfail-000001.vmdk`);
});

test('a sync driver failure fails the quiesced snapshot', async () => {
  const target = sim.esx.vm('q-syncfail');
  const start = target.guest.events.length;
  expectQuiesceFault(await snapshotCreate(target, true), /sync driver/);
  expect(steps(target.guest.events, start)).not.toContain('freeze');
  await expectNoSnapshot(target);
});

test('a hanging sync driver fails the snapshot once the host gives up, and the guest is thawed', async () => {
  const target = sim.esx.vm('q-hang');
  const start = target.guest.events.length;
  expectQuiesceFault(await snapshotCreate(target, true), /Timed out/);
  const ran = steps(target.guest.events, start);
  expect(ran.indexOf('freeze')).toBeGreaterThan(0);
  expect(ran.indexOf('thaw')).toBeGreaterThan(ran.indexOf('freeze'));
  expect(ran).toContain(`${LINUX_DIR}10-a freezeFail`);
  expect(target.guest.isFrozen).toBe(false);
  await expectNoSnapshot(target);
});

test('without Tools a quiesced snapshot is refused, a plain one works', async () => {
  const target = sim.esx.vm('q-notools');
  const r = await snapshotCreate(target, true);
  expect(r.code).not.toBe(0);
  expect(findVimFault(r.stdout.toString())?.name).toBe('ToolsUnavailable');
  await expectNoSnapshot(target);
  expect((await snapshotCreate(target, false)).code).toBe(0);
  expect(target.snapshots.map((s) => s.quiesced)).toEqual([false]);
});

test('a Windows guest runs the .bat scripts under C:\\Windows and the Tools backupScripts.d', async () => {
  const target = sim.esx.vm('q-win');
  const start = target.guest.events.length;
  expect((await snapshotCreate(target, true)).code).toBe(0);
  expect(steps(target.guest.events, start).filter((s) => !s.startsWith('@') && s !== 'freeze' && s !== 'thaw')).toEqual([
    'C:\\Windows\\pre-freeze-script.bat freeze',
    'C:\\Program Files\\VMware\\VMware Tools\\backupScripts.d\\10-a freeze',
    'C:\\Program Files\\VMware\\VMware Tools\\backupScripts.d\\10-a thaw',
    'C:\\Windows\\post-thaw-script.bat thaw',
  ]);
});
