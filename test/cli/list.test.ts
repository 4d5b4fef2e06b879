// `vcbmounter list` as a process against simulated ESXi and ESX 3.x hosts over SSH: the table, the JSON, every selector form (globs too), hostile names.

import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseInventory } from '../../src/sim/inventory.js';
import { startBench, type Bench, type CliResult } from './cli-helpers.js';

const IDLE = { writesPerSecond: 0 };
const DISK = [{ size: '4M', fillBytes: '64K' }];
const MARKER = `/tmp/pwned-list-${randomBytes(6).toString('hex')}`;
const HOSTILE = `x; touch ${MARKER} $(touch ${MARKER}) 'q' "dq"`;
const UUID_DASHED = '564d0a0b-0c0d-0e0f-1011-121314151617';
const UUID_SPACED = '56 4d 0a 0b 0c 0d 0e 0f-10 11 12 13 14 15 16 17';

const VMS = [
  { name: 'web01', vmid: 21, ip: '10.0.0.21', uuid: UUID_SPACED, disks: DISK, guest: IDLE },
  { name: 'web02', vmid: 22, ip: '10.0.0.22', power: 'off', disks: DISK, guest: IDLE },
  { name: 'web 03', vmid: 23, ip: '10.0.0.23', disks: DISK, guest: IDLE },
  { name: 'db01', vmid: 24, ip: '10.0.0.24', datastore: 'ds2', disks: DISK, guest: IDLE },
  { name: 'notools', vmid: 25, ip: '10.0.0.25', tools: { installed: true, running: false }, disks: DISK, guest: IDLE },
  { name: HOSTILE, vmid: 26, ip: '10.0.0.26', disks: DISK, guest: IDLE },
  { name: 'wide', vmid: 27, disks: DISK, guest: IDLE },
];

function inventory(kind: 'esxi' | 'esx3') {
  return parseInventory({
    host: { kind },
    datastores: [
      { name: 'ds1', capacity: '256M' },
      { name: 'ds2', capacity: '256M' },
    ],
    vms: kind === 'esxi' ? VMS : VMS.filter((v) => v.name !== HOSTILE).map((v) => ({ ...v, vmid: undefined })),
    seed: 5,
  });
}

/** `list` with the bench's connection flags (no --state-dir: list keeps no state). */
function list(bench: Bench, args: string[]): Promise<CliResult> {
  return bench.cli(['list', '-h', '127.0.0.1', '--port', String(bench.sim.port), '--host-key', bench.sim.fingerprint, '-p', '-', ...args], { bare: true, input: `${bench.sim.password}\n` });
}

async function listJson(bench: Bench, args: string[]): Promise<Array<Record<string, unknown>>> {
  const r = await list(bench, [...args, '--json']);
  expect(r.exitCode, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Array<Record<string, unknown>>;
}

const names = async (bench: Bench, ...selectors: string[]) => (await listJson(bench, selectors.flatMap((s) => ['-s', s]))).map((v) => v.name);

/** The wide VM's .vmx gets a second disk on another datastore, as a VM whose disks are spread out has. */
function spreadDisks(bench: Bench): void {
  const vm = bench.sim.esx.vm('wide');
  const vmx = `${vm.dir}/${vm.fileBase}.vmx`;
  const text = bench.sim.esx.vfs.readFile(vmx).toString('utf8');
  bench.sim.esx.vfs.writeFile(vmx, `${text}scsi0:1.present = "TRUE"\nscsi0:1.fileName = "/vmfs/volumes/ds2/shared/wide_1.vmdk"\nscsi0:2.present = "TRUE"\nscsi0:2.fileName = "wide_2.vmdk"\n`);
}

describe('ESXi (vim-cmd)', () => {
  let bench: Bench;
  beforeAll(async () => {
    bench = await startBench(inventory('esxi'));
    spreadDisks(bench);
  });
  afterAll(async () => bench?.stop());

  test('the JSON lists every VM with the facts the host has', async () => {
    const all = await listJson(bench, []);
    expect(all.map((v) => v.name)).toEqual(VMS.map((v) => v.name));
    const byName = new Map(all.map((v) => [v.name as string, v]));
    expect(byName.get('web01')).toEqual({ name: 'web01', moref: '21', uuid: UUID_DASHED, power: 'on', ip: '10.0.0.21', datastore: 'ds1', datastores: ['ds1'] });
    // Powered off: no IP (Tools do not run); the uuid is the host's.
    expect(byName.get('web02')).toMatchObject({ moref: '22', power: 'off', datastore: 'ds1' });
    expect(byName.get('web02')!.ip).toBeUndefined();
    expect(byName.get('notools')!.ip).toBeUndefined();
    expect(byName.get('notools')!.power).toBe('on');
    expect(byName.get('db01')).toMatchObject({ datastore: 'ds2', datastores: ['ds2'] });
    expect(byName.get('wide')).toMatchObject({ datastore: 'ds1', datastores: ['ds1', 'ds2'] });
    for (const v of all) {
      const sim = bench.sim.esx.vm(v.name as string);
      expect(v.moref).toBe(String(sim.vmid));
      expect(typeof v.uuid).toBe('string');
      expect(v.power).toBe(sim.power);
    }
  });

  test('the table has a header and aligned columns, one row per VM', async () => {
    const r = await list(bench, []);
    expect(r.exitCode, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+MOREF\s+UUID\s+POWER\s+IP\s+DATASTORES$/);
    expect(lines).toHaveLength(VMS.length + 1);
    const at = (h: string) => lines[0]!.indexOf(h);
    for (const vm of VMS) {
      const row = lines.find((l) => l.startsWith(`${vm.name} `))!;
      expect(row, vm.name).toBeDefined();
      expect(row.slice(at('MOREF')).split(/\s+/)[0]).toBe(String(vm.vmid));
      expect(row.slice(at('POWER')).split(/\s+/)[0]).toBe(vm.power ?? 'on');
      expect(row.slice(at('IP')).split(/\s+/)[0]).toBe(vm.power === 'off' || vm.tools ? '-' : vm.ip ?? '-');
    }
    const web01 = lines.find((l) => l.startsWith('web01 '))!;
    expect(web01.slice(at('UUID')).split(/\s+/)[0]).toBe(UUID_DASHED);
    expect(lines.find((l) => l.startsWith('wide '))!.slice(at('DATASTORES'))).toBe('ds1,ds2');
  });

  test.each([
    [['any'], VMS.map((v) => v.name)],
    [['name:web01'], ['web01']],
    [['name:web 03'], ['web 03']],
    [['name:web*'], ['web01', 'web02', 'web 03']],
    [['name:web0?'], ['web01', 'web02']],
    [['name:[dw]*1'], ['web01', 'db01']],
    [['name:[!w]*'], ['db01', 'notools', HOSTILE]],
    [['name:WEB*'], []],
    [['name:web'], []],
    [['ipaddr:10.0.0.21'], ['web01']],
    [['ipaddr:10.0.0.22'], []],
    [[`uuid:${UUID_SPACED}`], ['web01']],
    [[`uuid:${UUID_DASHED}`], ['web01']],
    [['moref:24'], ['db01']],
    [['powerstate:off'], ['web02']],
    [['powerstate:on', 'name:web*'], ['web01', 'web 03']],
    [[`name:${HOSTILE}`], [HOSTILE]],
    [['name:x; touch*'], [HOSTILE]],
  ])('-s %j selects %j', async (selectors, expected) => {
    expect(await names(bench, ...selectors)).toEqual(expected);
  });

  test('powerstate:on lists exactly the running VMs', async () => {
    expect(await names(bench, 'powerstate:on')).toEqual(VMS.filter((v) => v.power !== 'off').map((v) => v.name));
  });

  test('bad selectors exit 2 naming the selector and the forms, before the host is contacted', async () => {
    const before = bench.sim.commandLog.length;
    for (const [selector, why] of [
      ['web01', /-s "web01": not a selector; use any, name:/],
      ['host:x', /"host:" is not a selector kind/],
      ['name:[ab', /never closed/],
      ['powerstate:suspended', /not a power state/],
      ['ipaddr:web01', /not an IP address/],
      ['uuid:1234', /not a BIOS uuid/],
    ] as const) {
      const r = await list(bench, ['-s', selector]);
      expect(r.exitCode, selector).toBe(2);
      expect(r.stderr).toMatch(why);
      expect(r.stdout).toBe('');
    }
    expect(bench.sim.commandLog.length).toBe(before);
  });

  test('a hostile name is listed as it is and nothing of it runs', async () => {
    const r = await list(bench, ['-s', `name:${HOSTILE}`]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.split('\n')[1]!.startsWith(`${HOSTILE}  `)).toBe(true);
    expect(existsSync(MARKER)).toBe(false);
    expect(bench.sim.commandLog.map((c) => c.argv[0])).not.toContain('touch');
  });

  test('nothing matched: exit 0, an empty array or only the header', async () => {
    expect(await listJson(bench, ['-s', 'name:nope*'])).toEqual([]);
    const r = await list(bench, ['-s', 'name:nope*']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout.trimEnd().split('\n')).toHaveLength(1);
  });
});

describe('ESX 3.x (vmware-cmd)', () => {
  let bench: Bench;
  beforeAll(async () => {
    bench = await startBench(inventory('esx3'));
    spreadDisks(bench);
  });
  afterAll(async () => bench?.stop());

  test('the listing comes from vmware-cmd: moref is the .vmx path, datastores from the .vmx', async () => {
    const all = await listJson(bench, []);
    expect(bench.sim.commandLog.some((c) => c.argv[0] === 'vmware-cmd')).toBe(true);
    expect(all.map((v) => v.name)).toEqual(VMS.filter((v) => v.name !== HOSTILE).map((v) => v.name));
    const web01 = all.find((v) => v.name === 'web01')!;
    expect(web01.moref).toMatch(/^\/vmfs\/volumes\/.+\/web01\.vmx$/);
    // The simulated ESX 3.x host does not answer `getguestinfo ip` (real ones do when Tools run): no IP here.
    expect(web01).toMatchObject({ power: 'on' });
    expect(String(web01.uuid).replace(/[^0-9a-f]/gi, '').toLowerCase()).toBe(UUID_DASHED.replace(/-/g, ''));
    const wide = all.find((v) => v.name === 'wide')!;
    expect((wide.datastores as string[])).toHaveLength(2);
    expect((wide.datastores as string[])[0]).toBe(wide.datastore);
    expect((wide.datastores as string[])[1]).toBe('ds2');
  });

  test('selectors work the same on ESX 3.x', async () => {
    expect(await names(bench, 'name:web*', 'powerstate:on')).toEqual(['web01', 'web 03']);
    expect(await names(bench, `uuid:${UUID_SPACED}`)).toEqual(['web01']);
    expect(await names(bench, 'powerstate:off')).toEqual(['web02']);
    const web01 = (await listJson(bench, ['-s', 'name:web01']))[0]!;
    expect(await names(bench, `moref:${String(web01.moref)}`)).toEqual(['web01']);
  });
});
