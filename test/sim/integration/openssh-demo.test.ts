// The system's OpenSSH client against the simulated hosts: demo ESXi output through the product's parsers, ESX 3.x vmware-cmd.

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseBlockMap } from '../../../src/esx/parse/block-map.js';
import { parseGetAllVms } from '../../../src/esx/parse/getallvms.js';
import { parsePowerGetState } from '../../../src/esx/parse/power-state.js';
import { parseSnapshotGet } from '../../../src/esx/parse/snapshot-tree.js';
import { parseVmwareVersion as parseVersion } from '../../../src/esx/parse/version.js';
import { parseVmSummary } from '../../../src/esx/parse/vm-summary.js';
import { parseVmwareCmdList, parseVmwareCmdResult, parseVmwareCmdState, parseVmwareCmdSuccess } from '../../../src/esx/parse/vmware-cmd.js';
import { vimCmd } from '../../../src/esx/commands/vim-cmd.js';
import { vmwareCmd } from '../../../src/esx/commands/vmware-cmd.js';
import { stockCmd } from '../../../src/esx/commands/stock.js';
import { fileNameOf } from '../../../src/sim/esx/vm-files.js';
import { startSimulator, type Simulator } from '../../../src/sim/simulator.js';
import { shellJoin, shellQuote } from '../../../src/util/shell-quote.js';
import { makeClientKey, openSsh, run, smallInventory, type ClientKey, type OpenSsh } from './helpers.js';

const HOSTILE = `test vm (it's "quoted"); $(touch /tmp/pwned)`;

describe('demo ESXi host over OpenSSH', () => {
  let key: ClientKey;
  let sim: Simulator;
  let ssh: OpenSsh;

  beforeAll(async () => {
    key = await makeClientKey();
    sim = await startSimulator({ inventory: 'demo', authorizedKeys: [key.publicKey] });
    ssh = await openSsh(sim, key);
  });
  afterAll(async () => {
    await sim?.stop();
    key?.cleanup();
  });

  test('the host key OpenSSH verifies has the fingerprint the simulator reports', async () => {
    const r = await run('ssh-keygen', ['-lf', ssh.knownHosts]);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toContain(sim.fingerprint);
  });

  test('vim-cmd vmsvc/getallvms: header and one intact row per VM', async () => {
    const text = await ssh.ok(shellJoin(vimCmd.getAllVms()));
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^Vmid\s+Name\s+File\s+Guest OS\s+Version\s+Annotation$/);
    expect(lines).toHaveLength(1 + sim.esx.vms().length);
    const hostileDir = fileNameOf(HOSTILE);
    const hostileRow = lines.find((l) => l.startsWith('17 '));
    expect(hostileRow).toContain(`${HOSTILE}   [datastore1] ${hostileDir}/${hostileDir}.vmx`);

    const parsed = parseGetAllVms(text);
    expect(parsed.vms.map((v) => [v.vmid, v.name])).toEqual(sim.esx.vms().map((v) => [String(v.vmid), v.name]));
    const hostile = parsed.vms.find((v) => v.vmid === '17')!;
    expect(hostile).toMatchObject({ name: HOSTILE, bracketPath: `[datastore1] ${hostileDir}/${hostileDir}.vmx`, guestOs: 'otherLinux64Guest', version: 'vmx-13' });
    expect(parsed.vms.find((v) => v.vmid === '12')).toMatchObject({ bracketPath: '[datastore1] web01/web01.vmx', annotation: 'Linux web server (GPT, ext4)' });
  });

  test('vim-cmd vmsvc/power.getstate', async () => {
    const on = await ssh.ok(shellJoin(vimCmd.powerGetState('12')));
    expect(on).toBe('Retrieved runtime info\nPowered on\n');
    expect(parsePowerGetState(on)).toBe('on');
    const off = await ssh.ok(shellJoin(vimCmd.powerGetState('14')));
    expect(off).toBe('Retrieved runtime info\nPowered off\n');
    expect(parsePowerGetState(off)).toBe('off');
  });

  test('vim-cmd vmsvc/snapshot.get prints the dash-indented tree', async () => {
    const text = await ssh.ok(shellJoin(vimCmd.snapshotGet('15')));
    const lines = text.trimEnd().split('\n');
    expect(lines.slice(0, 5)).toEqual([
      'Get Snapshot:',
      '|-ROOT',
      '--Snapshot Name        : before-upgrade',
      '--Snapshot Id          : 1',
      '--Snapshot Desciption  : taken by the admin',
    ]);
    expect(lines[5]).toMatch(/^--Snapshot Created On  : \d{1,2}\/\d{1,2}\/\d{4} \d{2}:\d{2}:\d{2}$/);
    expect(lines[6]).toMatch(/^--Snapshot State       : powered (on|off)$/);
    expect(lines).toHaveLength(7);
    const tree = parseSnapshotGet(text);
    expect(tree).toHaveLength(1);
    expect(tree[0]).toMatchObject({ name: 'before-upgrade', id: '1', description: 'taken by the admin', depth: 0, path: ['before-upgrade'] });

    expect(await ssh.ok(shellJoin(vimCmd.snapshotGet('12')))).toBe('Get Snapshot:\n');
    expect(parseSnapshotGet('Get Snapshot:\n')).toEqual([]);
  });

  test('vim-cmd vmsvc/get.summary of a running VM with Tools', async () => {
    const text = await ssh.ok(shellJoin(vimCmd.getSummary('12')));
    expect(text).toContain('powerState = "poweredOn"');
    expect(text).toContain('ipAddress = "10.1.1.107"');
    expect(text).toContain('vmPathName = "[datastore1] web01/web01.vmx"');
    const summary = parseVmSummary(text);
    expect(summary).toMatchObject({ name: 'web01', powerState: 'on', vmPathName: '[datastore1] web01/web01.vmx', ipAddress: '10.1.1.107', toolsRunning: true });
    expect(summary.biosUuid).toMatch(/^564d[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });

  test('get.summary of the hostile VM keeps its name through the vim escaping', async () => {
    const summary = parseVmSummary(await ssh.ok(shellJoin(vimCmd.getSummary('17'))));
    expect(summary.name).toBe(HOSTILE);
    expect(summary.vmPathName).toBe(`[datastore1] ${fileNameOf(HOSTILE)}/${fileNameOf(HOSTILE)}.vmx`);
  });

  test('get.summary of a VM without Tools has no IP address', async () => {
    const summary = parseVmSummary(await ssh.ok(shellJoin(vimCmd.getSummary('16'))));
    expect(summary.toolsRunning).toBe(false);
    expect(summary.ipAddress).toBeUndefined();
  });

  test('vmware -v', async () => {
    const text = await ssh.ok(shellJoin(stockCmd.version()));
    expect(text).toBe('VMware ESXi 6.7.0 build-8169922\n');
    expect(parseVersion(text)).toMatchObject({ product: 'VMware ESXi', version: '6.7.0', major: 6, build: '8169922', esxi: true });
  });

  test('vmkfstools -t0 prints the header and one line per extent', async () => {
    const path = '/vmfs/volumes/datastore1/web01/web01.vmdk';
    const text = await ssh.ok(`vmkfstools -t0 '${path}'`);
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toBe(`Mapping for file ${path} (268435456 bytes in size):`);
    for (const line of lines.slice(1)) {
      expect(line).toMatch(/^\[\s*\d+:\s*\d+\] --> \[(VMFS -- LVID:[0-9a-f-]+\/[0-9a-f-]+\/1:\(\s*\d+ -->\s*\d+\)|NOMP -- :\(\s*0 -->\s*0\))\]$/);
    }
    const map = parseBlockMap(text, stockCmd.blockMap(path));
    expect(map.size).toBe(268435456);
    expect(map.extents).toHaveLength(lines.length - 1);
    expect(map.extents.some((e) => e.kind === 'mapped')).toBe(true);
    expect(map.extents.some((e) => e.kind === 'hole')).toBe(true);
    const ds = sim.esx.vfs.datastores()[0]!;
    for (const e of map.extents.filter((x) => x.kind === 'mapped')) expect(e).toMatchObject({ lvid: ds.lvid, volumeUuid: ds.uuid, lvmExtent: 1 });
  });

  test('an unknown command is "not found" with status 127', async () => {
    const r = await ssh.run('xyz');
    expect(r.code).toBe(127);
    expect(r.stderr).toBe('sh: xyz: not found\n');
  });

  test('quoted paths with $(...), quotes and ; run nothing but the command they belong to', async () => {
    const before = sim.commandLog.length;
    const bogus = '/vmfs/volumes/datastore1/x; $(touch /tmp/pwned) `touch /tmp/pwned`';
    const r = await ssh.run(shellJoin(stockCmd.cat(bogus)));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('No such file or directory');

    const dir = fileNameOf(HOSTILE);
    const disk = `/vmfs/volumes/datastore1/${dir}/${dir}.vmdk`;
    const map = parseBlockMap(await ssh.ok(shellJoin(stockCmd.blockMap(disk))), stockCmd.blockMap(disk));
    expect(map.path).toBe(disk);
    expect(map.size).toBe(32 * 1024 * 1024);
    const vmx = await ssh.ok(`cat ${shellQuote(`/vmfs/volumes/datastore1/${dir}/${dir}.vmx`)}`);
    expect(vmx).toContain('displayName = "test vm (it\'s |22quoted|22); $(touch /tmp/pwned)"');

    const ran = sim.commandLog.slice(before).map((c) => c.argv);
    expect(ran).toEqual([stockCmd.cat(bogus), stockCmd.blockMap(disk), ['cat', `/vmfs/volumes/datastore1/${dir}/${dir}.vmx`]]);
    expect(sim.commandLog.some((c) => c.argv.some((a) => a === 'touch'))).toBe(false);
    expect(sim.esx.vfs.stat('/tmp/pwned')).toBeUndefined();
  });

  test('the hostile VM\'s guest can write to its disk', () => {
    const guest = sim.esx.vm(17).guest;
    guest.issue();
    guest.flush();
    expect(guest.stalled).toBeUndefined();
    expect(guest.pendingWrites).toBe(0);
  });
});

describe('ESX 3.x host over OpenSSH', () => {
  let key: ClientKey;
  let sim: Simulator;
  let ssh: OpenSsh;

  beforeAll(async () => {
    key = await makeClientKey();
    sim = await startSimulator({
      inventory: smallInventory(
        [
          { name: 'sol_vm1', disks: [{ size: '16M', fillBytes: '1M' }], guest: { writesPerSecond: 0 } },
          { name: 'cold vm', power: 'off', disks: [{ size: '16M' }] },
        ],
        { kind: 'esx3' },
      ),
      authorizedKeys: [key.publicKey],
    });
    ssh = await openSsh(sim, key);
  });
  afterAll(async () => {
    await sim?.stop();
    key?.cleanup();
  });

  test('vmware-cmd -l lists the registered .vmx paths', async () => {
    const text = await ssh.ok(shellJoin(vmwareCmd.list()));
    const uuid = sim.esx.vfs.datastores()[0]!.uuid;
    expect(parseVmwareCmdList(text)).toEqual([`/vmfs/volumes/${uuid}/sol_vm1/sol_vm1.vmx`, `/vmfs/volumes/${uuid}/cold vm/cold vm.vmx`]);
  });

  test('getstate, createsnapshot, hassnapshot, removesnapshots', async () => {
    const [vmx, coldVmx] = parseVmwareCmdList(await ssh.ok(shellJoin(vmwareCmd.list())));
    const state = await ssh.ok(shellJoin(vmwareCmd.getState(vmx!)));
    expect(state).toBe('getstate() = on\n');
    expect(parseVmwareCmdState(state, vmwareCmd.getState(vmx!))).toBe('on');
    expect(parseVmwareCmdState(await ssh.ok(shellJoin(vmwareCmd.getState(coldVmx!))), vmwareCmd.getState(coldVmx!))).toBe('off');

    const has = async () => parseVmwareCmdResult(await ssh.ok(shellJoin(vmwareCmd.hasSnapshot(vmx!))), vmwareCmd.hasSnapshot(vmx!));
    expect(await has()).toBe('0');

    const create = vmwareCmd.createSnapshot(vmx!, 'vcb-snap', 'backup in progress', false, false);
    const created = await ssh.ok(shellJoin(create));
    expect(created).toBe('createsnapshot(vcb-snap backup in progress) = 1\n');
    expect(parseVmwareCmdSuccess(created, create)).toBe(true);
    expect(await has()).toBe('1');
    const dir = vmx!.slice(0, vmx!.lastIndexOf('/'));
    expect(sim.esx.vfs.stat(`${dir}/sol_vm1-000001-delta.vmdk`)).toBeDefined();
    expect(sim.esx.vfs.readFile(vmx!).toString()).toContain('scsi0:0.fileName = "sol_vm1-000001.vmdk"');

    const remove = vmwareCmd.removeSnapshots(vmx!);
    const removed = await ssh.ok(shellJoin(remove));
    expect(parseVmwareCmdSuccess(removed, remove)).toBe(true);
    expect(await has()).toBe('0');
    expect(sim.esx.vfs.stat(`${dir}/sol_vm1-000001-delta.vmdk`)).toBeUndefined();
    expect(sim.esx.vfs.readFile(vmx!).toString()).toContain('scsi0:0.fileName = "sol_vm1.vmdk"');
  });

  test('an unregistered .vmx is a VMControl error', async () => {
    const r = await ssh.run(shellJoin(vmwareCmd.getState('/vmfs/volumes/ds1/nope/nope.vmx')));
    expect(r.code).toBe(11);
    expect(r.stderr).toMatch(/^VMControl error -11: No such virtual machine/);
  });

  test('vim-cmd does not exist; vmware -v names ESX Server 3.5', async () => {
    const r = await ssh.run(shellJoin(vimCmd.getAllVms()));
    expect(r.code).toBe(127);
    expect(r.stderr).toBe('sh: vim-cmd: not found\n');
    expect(parseVersion(await ssh.ok('vmware -v'))).toMatchObject({ product: 'VMware ESX Server', major: 3, esxi: false });
  });
});

