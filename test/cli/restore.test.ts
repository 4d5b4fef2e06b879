// vcbmounter restore as a process against the simulated host over SSH: back up with the CLI, restore, check the host.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseInventory } from '../../src/sim/inventory.js';
import { binCommand } from '../../tools/test-support/bin-command.js';
import { toVersion1 } from '../export/legacy-export.js';
import { startBench, type Bench, type CliResult } from './cli-helpers.js';

const IDLE = { writesPerSecond: 0 };
const MiB = 1024 * 1024;
let bench: Bench;
let backup: string;

beforeAll(async () => {
  bench = await startBench(
    parseInventory({
      host: {},
      seed: 11,
      datastores: [
        { name: 'ds1', capacity: '512M' },
        { name: 'ds2', capacity: '256M' },
        { name: 'tiny', capacity: '8M' },
      ],
      vms: [
        // 10% allocated: 4 MiB of data in a 40 MiB thin disk; and a small second disk.
        { name: 'web', vmid: 40, power: 'off', disks: [{ size: '40M', thin: true, fillBytes: '4M' }, { size: '8M', thin: true, fillBytes: '1M' }], guest: IDLE },
      ],
    }),
  );
  backup = join(bench.work, 'web-backup');
  const r = await bench.cli(['-a', 'name:web', '-r', backup]);
  expect(r.exitCode, r.stderr).toBe(0);
}, 60_000);
afterAll(async () => bench?.stop());

function restore(args: string[], source = backup): Promise<CliResult> {
  return bench.cli(['restore', '-h', '127.0.0.1', '--port', String(bench.sim.port), '--host-key', bench.sim.fingerprint, '-p', '-', '--state-dir', bench.stateDir, '-s', source, ...args], {
    bare: true,
    input: `${bench.sim.password}\n`,
  });
}

const vfs = () => bench.sim.esx.vfs;
const names = () => bench.sim.esx.vms().map((v) => v.name).sort();
const exists = (path: string) => vfs().stat(path) !== undefined;
/** Commands that change something on the host, run since `from` in the command log. */
const changes = (from: number) =>
  bench.sim.commandLog
    .slice(from)
    .map((c) => c.argv.join(' '))
    .filter((c) => /^(mkdir|dd|cat >|vmkfstools -c|rm|mv|vim-cmd (solo\/registervm|vmsvc\/unregister|vmsvc\/power))/.test(c));

/** Where two disks first differ (for a failing comparison's message), or 'equal'. */
function firstDifference(a: Buffer, b: Buffer): string {
  if (a.length !== b.length) return `lengths ${a.length} and ${b.length}`;
  const i = a.findIndex((x, k) => x !== b[k]);
  return i < 0 ? "equal" : `first difference at byte ${i} (block ${Math.floor(i / MiB)}): ${a.subarray(i, i + 8).toString("hex")} vs ${b.subarray(i, i + 8).toString("hex")}`;
}

function exportedDisk(i: number): Buffer {
  return readFileSync(join(backup, i === 0 ? 'web-flat.vmdk' : 'web_1-flat.vmdk'));
}

describe('restore next to the original', () => {
  test('registers a copy whose disks equal the backup byte for byte, sending only the allocated blocks, and it powers on', async () => {
    const r = await restore(['--name', 'web copy', '--power-on', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as { vm: { id: string; vmx: string }; bytesSent: number; bytesTotal: number; uuidAction: string; poweredOn: boolean };
    expect(result.vm.vmx).toBe('[ds1] web copy/web copy.vmx');
    expect(result.uuidAction).toBe('create');
    expect(result.poweredOn).toBe(true);
    const copy = bench.sim.esx.vm('web copy');
    expect(String(copy.vmid)).toBe(result.vm.id);
    expect(copy.power).toBe('on');
    expect(names()).toEqual(['web', 'web copy']);
    const dir = '/vmfs/volumes/ds1/web copy';
    expect(firstDifference(vfs().readFile(`${dir}/web copy-flat.vmdk`), exportedDisk(0))).toBe('equal');
    expect(firstDifference(vfs().readFile(`${dir}/web copy_1-flat.vmdk`), exportedDisk(1))).toBe('equal');
    // Thin, and only the non-zero blocks went over the wire: 4 + 1 MiB of a 48 MiB VM (about 10%).
    expect(result.bytesSent).toBe(5 * MiB);
    expect(result.bytesTotal).toBe(5 * MiB);
    expect(vfs().stat(`${dir}/web copy-flat.vmdk`)).toMatchObject({ thin: true, allocated: 4 * MiB });
    const original = bench.sim.esx.vm('web');
    expect(copy.config().get('uuid.bios')).not.toBe(original.config().get('uuid.bios'));
    expect(copy.config().get('displayName')).toBe('web copy');
    expect(copy.config().get('scsi0:1.fileName')).toBe('web copy_1.vmdk');
    expect(copy.config().get('nvram')).toBe('web copy.nvram');
    expect(vfs().readFile(`${dir}/web copy.nvram`).equals(readFileSync(join(backup, 'web.nvram')))).toBe(true);
  }, 60_000);

  test('-b fail (the default) refuses a name already registered and changes nothing on the host', async () => {
    const from = bench.sim.commandLog.length;
    const before = names();
    const r = await restore([]);
    expect(r.exitCode).toBe(7);
    expect(r.stderr).toContain('a VM named "web" is already registered');
    expect(changes(from)).toEqual([]);
    expect(names()).toEqual(before);
  }, 30_000);

  test('-b rename restores as NAME-restored-1', async () => {
    const r = await restore(['-b', 'rename', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).vm.vmx).toBe('[ds1] web-restored-1/web-restored-1.vmx');
    expect(names()).toContain('web-restored-1');
  }, 60_000);
});

describe('a backup written before xxh64 block lists (catalog version 1, sha256 lists)', () => {
  test('restores with its disks byte for byte; a block list changed since is refused before anything is written', async () => {
    const old = join(bench.work, 'web-backup-v1');
    await execa('cp', ['-a', '--sparse=always', backup, old]);
    toVersion1(old);
    const r = await restore(['--name', 'web v1', '--json'], old);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).bytesSent).toBe(5 * MiB);
    const dir = '/vmfs/volumes/ds1/web v1';
    expect(firstDifference(vfs().readFile(`${dir}/web v1-flat.vmdk`), exportedDisk(0))).toBe('equal');
    expect(firstDifference(vfs().readFile(`${dir}/web v1_1-flat.vmdk`), exportedDisk(1))).toBe('equal');

    const list = join(old, 'web.blocks.sha256');
    writeFileSync(list, readFileSync(list, 'utf8').replace(/^(\d+) ([0-9a-f])/, (_m, offset: string, first: string) => `${offset} ${first === '0' ? '1' : '0'}`));
    const from = bench.sim.commandLog.length;
    const bad = await restore(['--name', 'web v1 again'], old);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain("web.blocks.sha256 does not match the catalog's digest for scsi0:0");
    expect(changes(from)).toEqual([]);
  }, 60_000);
});

describe('refusals before anything is written', () => {
  test('not enough free space: says how much is missing, writes nothing', async () => {
    const from = bench.sim.commandLog.length;
    const r = await restore(['--name', 'small', '--datastore', 'tiny']);
    expect(r.exitCode).toBe(6);
    expect(r.stderr).toMatch(/datastore tiny has [\d.]+ MiB free; the restore needs [\d.]+ MiB \([\d.]+ MiB missing\)/);
    expect(changes(from)).toEqual([]);
  }, 30_000);

  test('-b overwrite refuses a powered-on VM', async () => {
    const from = bench.sim.commandLog.length;
    const r = await restore(['--name', 'web copy', '-b', 'overwrite']);
    expect(r.exitCode).toBe(7);
    expect(r.stderr).toContain('is powered on; only a powered-off VM is replaced');
    expect(changes(from)).toEqual([]);
  }, 30_000);
});

describe('failures undo everything', () => {
  for (const [what, rule, code, message] of [
    ['a dropped connection during a disk write', { match: '^dd ', action: 'drop', nth: 2 }, 3, undefined],
    ['a datastore that fills up during the upload', { match: '^dd ', action: 'fill', datastore: 'ds1', nth: 2 }, 6, undefined],
    // The error shows the upload as the shell line it is.
    ['a failing file upload (cat > FILE)', { match: '^cat$', action: 'fail', stderr: 'cat: write error: Input/output error' }, 1, /: cat > \/vmfs\/volumes\/ds1\/doomed\/\S+ failed: exit status 1: cat: write error/],
    ['a power-on that fails once the VM is registered', { match: '^vim-cmd vmsvc/power\\.on', action: 'fail', stderr: 'hostd busy' }, 6, undefined],
  ] as const) {
    test(`${what}: nothing registered, nothing left on the datastore`, async () => {
      bench.sim.faults.add(rule as never);
      try {
        const r = await restore(['--name', 'doomed', '--power-on']);
        expect(r.exitCode, r.stderr).toBe(code);
        if (message) expect(r.stderr).toMatch(message);
        expect(bench.sim.faults.fired.length).toBeGreaterThan(0);
      } finally {
        bench.sim.faults.clear();
        vfs().setFull('ds1', false);
      }
      expect(names()).not.toContain('doomed');
      expect(exists('/vmfs/volumes/ds1/doomed')).toBe(false);
    }, 60_000);
  }

  test('SIGTERM during the upload: exit 143, nothing registered, nothing left', async () => {
    bench.sim.faults.add({ match: '^dd ', action: 'slow', delayMs: 3000 } as never);
    try {
      const run = binCommand(['restore', '-h', '127.0.0.1', '--port', String(bench.sim.port), '--host-key', bench.sim.fingerprint, '-p', '-', '--state-dir', bench.stateDir, '-s', backup, '--name', 'stopped']);
      const child = execa(run.command, run.args, { reject: false, input: `${bench.sim.password}\n` });
      const deadline = Date.now() + 20_000;
      while (!exists('/vmfs/volumes/ds1/stopped/stopped-flat.vmdk') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(exists('/vmfs/volumes/ds1/stopped/stopped-flat.vmdk')).toBe(true);
      child.kill('SIGTERM');
      const r = await child;
      expect(r.exitCode, String(r.stderr)).toBe(143);
    } finally {
      bench.sim.faults.clear();
    }
    expect(names()).not.toContain('stopped');
    expect(exists('/vmfs/volumes/ds1/stopped')).toBe(false);
  }, 60_000);
});

describe('replacing and redirecting', () => {
  test('-b overwrite replaces a powered-off VM in place: same identity, its old files gone, the backup\'s disks', async () => {
    const web = bench.sim.esx.vm('web');
    const oldId = web.vmid;
    const bios = web.config().get('uuid.bios');
    web.writeAsGuest(0, 0, Buffer.alloc(4096, 0xee));
    const r = await restore(['-b', 'overwrite', '--power-on', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as { uuidAction: string; replaced: string; vm: { id: string; vmx: string } };
    expect(result).toMatchObject({ uuidAction: 'keep', replaced: 'web', vm: { vmx: '[ds1] web/web.vmx' } });
    const restored = bench.sim.esx.vm('web');
    expect(restored.vmid).not.toBe(oldId);
    expect(bench.sim.esx.vms().filter((v) => v.name === 'web')).toHaveLength(1);
    expect(restored.power).toBe('on');
    expect(restored.config().get('uuid.bios')).toBe(bios);
    expect(firstDifference(vfs().readFile('/vmfs/volumes/ds1/web/web-flat.vmdk'), exportedDisk(0))).toBe('equal');
    expect(vfs().list('/vmfs/volumes/ds1').filter((n) => n.startsWith('web.replaced-'))).toEqual([]);
    bench.sim.esx.vm('web').powerOff('hard');
  }, 60_000);

  test('an edited copy of the catalog (--catalog) redirects the restore to another datastore, folder and name', async () => {
    const edited = join(bench.work, 'redirect.catalog');
    const catalog = JSON.parse(readFileSync(join(backup, 'catalog'), 'utf8'));
    catalog.vm.name = 'web-dr';
    catalog.vm.vmxDatastorePath = '[ds2] dr/site-b/web.vmx';
    writeFileSync(edited, JSON.stringify(catalog));
    const r = await restore(['--catalog', edited, '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).vm.vmx).toBe('[ds2] dr/site-b/web-dr.vmx');
    expect(firstDifference(vfs().readFile('/vmfs/volumes/ds2/dr/site-b/web-dr-flat.vmdk'), exportedDisk(0))).toBe('equal');
    expect(names()).toContain('web-dr');
    // A catalog that does not validate is refused before anything is contacted.
    catalog.disks[0].capacity = -1;
    writeFileSync(edited, JSON.stringify(catalog));
    const bad = await restore(['--catalog', edited]);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain('disks.0.capacity');
  }, 60_000);
});
