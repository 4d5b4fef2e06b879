// `vcbmounter snapshot list|create|find|remove` as a process against simulated ESXi and ESX 3.x hosts: round trips, ownership, the VM lock, hostile names.

import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { lockPath } from '../../src/engine/lock.js';
import { markerIndex, smallInventory } from '../sim/integration/helpers.js';
import { SNAPSHOT_NAME, startBench, type Bench, type CliResult } from './cli-helpers.js';

const IDLE = { writesPerSecond: 0 };
const DISK = [{ size: '4M', fillBytes: '64K' }];
const MARKER = `/tmp/pwned-snap-${randomBytes(6).toString('hex')}`;
const HOSTILE = `x; touch ${MARKER} $(touch ${MARKER}) 'q' "dq"`;

interface Listed {
  name: string;
  id?: string;
  backup: boolean;
  madeBy: string;
  quiesced?: boolean;
  description: string;
}

/** A subcommand (`snapshot create`, `cleanup`) with the bench's connection flags after it, where the subcommand reads them. */
function sub(bench: Bench, args: string[]): Promise<CliResult> {
  const words = args.findIndex((a) => a.startsWith('-'));
  const at = words < 0 ? args.length : words;
  const connect = ['-h', '127.0.0.1', '--port', String(bench.sim.port), '--host-key', bench.sim.fingerprint, '--state-dir', bench.stateDir, '-p', '-'];
  return bench.cli([...args.slice(0, at), ...connect, ...args.slice(at)], { bare: true, input: `${bench.sim.password}\n` });
}

async function snapshots(bench: Bench, selector: string): Promise<Listed[]> {
  const r = await sub(bench, ['snapshot', 'list', '-a', selector, '--json']);
  expect(r.exitCode, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { snapshots: Listed[] }).snapshots;
}

/** create, find, list, create again (refused), remove, find (none), remove again (nothing): the VM ends without snapshots. */
async function roundTrip(bench: Bench, selector: string, simName: string, quiesced: boolean): Promise<void> {
  const vm = bench.sim.esx.vm(simName);
  expect(vm.snapshots).toHaveLength(0);
  const created = await sub(bench, ['snapshot', 'create', '-a', selector]);
  expect(created.exitCode, created.stderr).toBe(0);
  const id = created.stdout.trim();
  expect(vm.snapshots).toHaveLength(1);
  expect(vm.snapshots[0]!.name).toBe(SNAPSHOT_NAME);
  expect(vm.snapshots[0]!.quiesced).toBe(quiesced);
  expect(id).toBe(String(vm.snapshots[0]!.uid));

  const found = await sub(bench, ['snapshot', 'find', '-a', selector]);
  expect(found.exitCode, found.stderr).toBe(0);
  expect(found.stdout).toBe(`${id}\n`);

  const listed = await snapshots(bench, selector);
  expect(listed).toHaveLength(1);
  expect(listed[0]).toMatchObject({ name: SNAPSHOT_NAME, id, backup: true, madeBy: 'snapshot-create', quiesced });

  const again = await sub(bench, ['snapshot', 'create', '-a', selector]);
  expect(again.exitCode).toBe(6);
  expect(again.stderr).toMatch(/already has a _VCB-BACKUP_ snapshot .*nothing was created/);
  expect(vm.snapshots.map((s) => s.uid)).toEqual([Number(id)]);

  const removed = await sub(bench, ['snapshot', 'remove', '-a', selector]);
  expect(removed.exitCode, removed.stderr).toBe(0);
  expect(removed.stdout).toMatch(/^removed snapshot "_VCB-BACKUP_" \(id \d+\)/);
  expect(vm.snapshots).toHaveLength(0);

  const none = await sub(bench, ['snapshot', 'find', '-a', selector]);
  expect(none.exitCode).toBe(15);
  expect(none.stdout).toBe('');
  expect(none.stderr).toMatch(/has no _VCB-BACKUP_ snapshot/);

  const repeat = await sub(bench, ['snapshot', 'remove', '-a', selector]);
  expect(repeat.exitCode, repeat.stderr).toBe(0);
  expect(repeat.stdout).toMatch(/nothing to remove/);
  expect(vm.snapshots).toHaveLength(0);
}

/** A user's snapshot: remove --id refuses without --force and leaves it on the host; with --force it goes. */
async function userSnapshotRefusal(bench: Bench, simName: string): Promise<void> {
  const vm = bench.sim.esx.vm(simName);
  const [user] = vm.snapshots;
  expect(user!.name).toBe('admin-snap');
  const listed = await snapshots(bench, `name:${simName}`);
  expect(listed).toEqual([expect.objectContaining({ name: 'admin-snap', id: String(user!.uid), backup: false, madeBy: 'user' })]);

  const refused = await sub(bench, ['snapshot', 'remove', '-a', `name:${simName}`, '--id', String(user!.uid)]);
  expect(refused.exitCode).toBe(6);
  expect(refused.stderr).toContain('"admin-snap"');
  expect(refused.stderr).toMatch(/was not made by vcbmounter .*not removed.*--force/);
  expect(vm.snapshots.map((s) => s.uid)).toEqual([user!.uid]);

  const plain = await sub(bench, ['snapshot', 'remove', '-a', `name:${simName}`]);
  expect(plain.exitCode, plain.stderr).toBe(0);
  expect(plain.stdout).toMatch(/nothing to remove/);
  expect(vm.snapshots.map((s) => s.uid)).toEqual([user!.uid]);

  const noId = await sub(bench, ['snapshot', 'remove', '-a', `name:${simName}`, '--force']);
  expect(noId.exitCode).toBe(2);
  expect(noId.stderr).toMatch(/--force needs --id/);

  const unknown = await sub(bench, ['snapshot', 'remove', '-a', `name:${simName}`, '--id', '999']);
  expect(unknown.exitCode).toBe(15);
  expect(unknown.stderr).toMatch(/no snapshot with id 999; it has "admin-snap"/);

  const forced = await sub(bench, ['snapshot', 'remove', '-a', `name:${simName}`, '--id', String(user!.uid), '--force']);
  expect(forced.exitCode, forced.stderr).toBe(0);
  expect(forced.stdout).toContain('"admin-snap"');
  expect(vm.snapshots).toHaveLength(0);
}

describe('ESXi (vim-cmd)', () => {
  let bench: Bench;
  beforeAll(async () => {
    bench = await startBench(
      smallInventory([
        { name: 'web01', vmid: 31, disks: DISK, guest: IDLE },
        { name: 'kept', vmid: 32, disks: DISK, guest: IDLE, snapshots: [{ name: 'admin-snap' }] },
        // Its freeze script takes 3 s: `snapshot create` holds the VM's lock that long.
        { name: 'slow', vmid: 33, disks: DISK, guest: IDLE, quiesce: { backupScripts: [{ name: 'slow-freeze', durationMs: 3000 }] } },
        { name: HOSTILE, vmid: 34, disks: DISK, guest: IDLE },
        { name: 'off', vmid: 35, power: 'off', disks: DISK, guest: IDLE },
        { name: 'both', vmid: 36, disks: DISK, guest: IDLE, snapshots: [{ name: 'admin-snap' }] },
      ]),
    );
  });
  afterAll(async () => bench?.stop());

  test('create, find, list, remove: a round trip that leaves the VM without snapshots', async () => {
    await roundTrip(bench, 'name:web01', 'web01', true);
  });

  test('--no-quiesce and a powered-off VM make crash-consistent snapshots, and list says so', async () => {
    const r = await sub(bench, ['snapshot', 'create', '-a', 'moref:31', '--no-quiesce', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, vm: { name: 'web01', moref: '31' }, quiesced: false, snapshot: { name: SNAPSHOT_NAME, quiesced: false } });
    expect(bench.sim.esx.vm('web01').snapshots[0]!.quiesced).toBe(false);
    expect((await sub(bench, ['snapshot', 'remove', '-a', 'moref:31'])).exitCode).toBe(0);
    await roundTrip(bench, 'name:off', 'off', false);
  });

  test("remove refuses a user's snapshot without --force and removes it with --force", async () => {
    await userSnapshotRefusal(bench, 'kept');
  });

  test("beside a user's snapshot, remove takes only vcbmounter's", async () => {
    const vm = bench.sim.esx.vm('both');
    const user = vm.snapshots[0]!.uid;
    const created = await sub(bench, ['snapshot', 'create', '-a', 'name:both']);
    expect(created.exitCode, created.stderr).toBe(0);
    const table = await sub(bench, ['snapshot', 'list', '-a', 'name:both']);
    expect(table.stdout).toMatch(/^ID\s+NAME\s+CREATED\s+STATE\s+QUIESCED\s+MADE BY\n/);
    expect(table.stdout).toMatch(new RegExp(`\\n${user}\\s+admin-snap\\s.*\\s-\\n`));
    expect(table.stdout).toMatch(new RegExp(`\\n${created.stdout.trim()}\\s+  _VCB-BACKUP_\\s.*\\syes\\s+vcbmounter snapshot create\\n`));
    const removed = await sub(bench, ['snapshot', 'remove', '-a', 'name:both']);
    expect(removed.exitCode, removed.stderr).toBe(0);
    expect(vm.snapshots.map((s) => s.uid)).toEqual([user]);
  });

  test('a VM whose name holds shell syntax: the round trip works and nothing of the name runs', async () => {
    await roundTrip(bench, `name:${HOSTILE}`, HOSTILE, true);
    expect(existsSync(MARKER)).toBe(false);
    expect(bench.sim.commandLog.map((c) => c.argv[0])).not.toContain('touch');
  });

  test('a backup of the VM is refused while create holds the lock, and while the script holds the snapshot', async () => {
    const vm = bench.sim.esx.vm('slow');
    const lock = lockPath(bench.stateDir, `127.0.0.1:${bench.sim.port}`, 'slow');
    const from = vm.guest.events.length;
    const creating = sub(bench, ['snapshot', 'create', '-a', 'name:slow']);
    // The host has begun the (3 s) quiesced create: the command is in the middle of its work.
    const until = Date.now() + 20_000;
    while (markerIndex(vm.guest.events.slice(from), 'snapshot.begin') < 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    expect(markerIndex(vm.guest.events.slice(from), 'snapshot.begin')).toBeGreaterThanOrEqual(0);
    const heldLock = existsSync(lock);
    const backup = await bench.cli(['-a', 'name:slow', '-r', join(bench.work, 'slow-1')]);
    expect(backup.exitCode, backup.stderr).toBe(5);
    expect(heldLock).toBe(true);
    expect(backup.stderr).toMatch(/VM slow on 127\.0\.0\.1:\d+ is already being backed up by pid \d+/);
    const remove = await sub(bench, ['snapshot', 'remove', '-a', 'name:slow']);
    expect(remove.exitCode).toBe(5);
    const created = await creating;
    expect(created.exitCode, created.stderr).toBe(0);
    expect(existsSync(lock)).toBe(false);
    expect(vm.snapshots.map((s) => String(s.uid))).toEqual([created.stdout.trim()]);

    // The lock is gone, the snapshot stays the script's: a backup refuses it, even told to delete leftovers.
    const later = await bench.cli(['-a', 'name:slow', '-r', join(bench.work, 'slow-2'), '--preexisting-snapshot', 'delete']);
    expect(later.exitCode).toBe(6);
    expect(later.stderr).toMatch(/a script made with `vcbmounter snapshot create`.*vcbmounter snapshot remove/);
    expect(vm.snapshots.map((s) => String(s.uid))).toEqual([created.stdout.trim()]);
    // Nor does cleanup know of it.
    const cleanup = await sub(bench, ['cleanup']);
    expect(cleanup.exitCode, cleanup.stderr).toBe(0);
    expect(vm.snapshots).toHaveLength(1);

    expect((await sub(bench, ['snapshot', 'remove', '-a', 'name:slow'])).exitCode).toBe(0);
    expect(vm.snapshots).toHaveLength(0);
  });

  test('usage errors exit 2 before the host is contacted', async () => {
    const before = bench.sim.commandLog.length;
    const noVm = await sub(bench, ['snapshot', 'find']);
    expect(noVm.exitCode).toBe(2);
    expect(noVm.stderr).toMatch(/snapshot find needs -a SELECTOR/);
    const bad = await sub(bench, ['snapshot', 'create', '-a', 'web01']);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/not a VM selector/);
    expect(bench.sim.commandLog.length).toBe(before);
  });

  test('an unknown VM exits 4', async () => {
    const r = await sub(bench, ['snapshot', 'find', '-a', 'name:web1']);
    expect(r.exitCode).toBe(4);
    expect(r.stderr).toMatch(/closest names: "web01"/);
  });
});

describe('ESX 3.x (vmware-cmd)', () => {
  let bench: Bench;
  beforeAll(async () => {
    bench = await startBench(
      smallInventory(
        [
          { name: 'old-vm', disks: DISK, guest: IDLE },
          { name: 'kept', disks: DISK, guest: IDLE, snapshots: [{ name: 'admin-snap' }] },
        ],
        { kind: 'esx3' },
      ),
    );
  });
  afterAll(async () => bench?.stop());

  test('the round trip through vmware-cmd leaves the VM without snapshots', async () => {
    await roundTrip(bench, 'name:old-vm', 'old-vm', true);
    const argv = bench.sim.commandLog.map((c) => c.argv);
    expect(argv.some((a) => a[0] === 'vmware-cmd' && a.includes('createsnapshot'))).toBe(true);
    expect(argv.some((a) => a[0] === 'vmware-cmd' && a.includes('removesnapshots'))).toBe(true);
  });

  test("create is refused beside a user's snapshot (ESX 3.x removes only all at once)", async () => {
    const vm = bench.sim.esx.vm('kept');
    const r = await sub(bench, ['snapshot', 'create', '-a', 'name:kept']);
    expect(r.exitCode).toBe(6);
    expect(r.stderr).toMatch(/already has a snapshot/);
    expect(vm.snapshots.map((s) => s.name)).toEqual(['admin-snap']);
  });

  test("remove refuses a user's snapshot without --force and removes it with --force", async () => {
    await userSnapshotRefusal(bench, 'kept');
  });
});
