// vcbmounter restore to a simulated ESX 3.x host (vmware-cmd): register, start, and the undo finding the VM by its volume-uuid path.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { smallInventory } from '../sim/integration/helpers.js';
import { startBench, type Bench, type CliResult } from './cli-helpers.js';

let bench: Bench;
let backup: string;

beforeAll(async () => {
  bench = await startBench(smallInventory([{ name: 'old vm', vmid: 50, power: 'off', disks: [{ size: '16M', thin: true, fillBytes: '2M' }], guest: { writesPerSecond: 0 } }], { kind: 'esx3' }));
  backup = join(bench.work, 'old-vm');
  const r = await bench.cli(['-a', 'name:old vm', '-r', backup]);
  expect(r.exitCode, r.stderr).toBe(0);
}, 60_000);
afterAll(async () => bench?.stop());

function restore(args: string[]): Promise<CliResult> {
  return bench.cli(['restore', '-h', '127.0.0.1', '--port', String(bench.sim.port), '--host-key', bench.sim.fingerprint, '-p', '-', '--state-dir', bench.stateDir, '-s', backup, ...args], {
    bare: true,
    input: `${bench.sim.password}\n`,
  });
}

test('ESX 3.x: a copy is registered with vmware-cmd -s register and started; its disk equals the backup', async () => {
  const r = await restore(['--name', "copy (it's)", '--power-on']);
  expect(r.exitCode, r.stderr).toBe(0);
  const copy = bench.sim.esx.vm("copy (it's)");
  expect(copy.power).toBe('on');
  expect(bench.sim.esx.vfs.readFile(`${copy.dir}/copy (it's)-flat.vmdk`).equals(readFileSync(join(backup, 'old_vm-flat.vmdk')))).toBe(true);
  expect(bench.sim.commandLog.some((c) => c.argv[0] === 'vmware-cmd' && c.argv[1] === '-s' && c.argv[2] === 'register')).toBe(true);
}, 60_000);

test('ESX 3.x: a start that fails after the register leaves nothing registered and nothing on the datastore', async () => {
  bench.sim.faults.add({ match: '^vmware-cmd .* start', action: 'fail', stderr: 'VMControl error -1: Operation failed' } as never);
  try {
    const r = await restore(['--name', 'doomed', '--power-on']);
    expect(r.exitCode).toBe(6);
  } finally {
    bench.sim.faults.clear();
  }
  expect(bench.sim.esx.vms().map((v) => v.name)).not.toContain('doomed');
  expect(bench.sim.esx.vfs.stat('/vmfs/volumes/ds1/doomed')).toBeUndefined();
}, 60_000);

test('ESX 3.x: restored to a datastore named by its name (vmware-cmd -l lists it by volume uuid), a failing start still leaves nothing registered', async () => {
  bench.sim.faults.add({ match: '^vmware-cmd .* start', action: 'fail', stderr: 'VMControl error -1: Operation failed' } as never);
  try {
    const r = await restore(['--name', 'doomed by name', '--datastore', 'ds1', '--power-on']);
    expect(r.exitCode, r.stderr).toBe(6);
  } finally {
    bench.sim.faults.clear();
  }
  // The register went to the name form; the host lists the uuid form: the undo finds it through the volume's uuid.
  expect(bench.sim.commandLog.some((c) => c.argv.join(' ') === 'vmware-cmd -s register /vmfs/volumes/ds1/doomed by name/doomed by name.vmx')).toBe(true);
  expect(bench.sim.esx.vms().map((v) => v.name)).not.toContain('doomed by name');
  expect(bench.sim.esx.vfs.stat('/vmfs/volumes/ds1/doomed by name')).toBeUndefined();
}, 60_000);

test('ESX 3.x: restore --drill waits for getheartbeat above 0 (exit 0 from a boot disk, 16 from one that never boots), leaving nothing', async () => {
  const noDrill = () => {
    expect(bench.sim.esx.vms().map((v) => v.name).filter((n) => n.includes('-drill-'))).toEqual([]);
    expect(bench.sim.esx.vfs.list('/vmfs/volumes/ds1').filter((n) => n.includes('-drill-'))).toEqual([]);
  };
  // The backup's first sector is random data: no boot signature, no boot, no heartbeat.
  const dead = await restore(['--drill', '--drill-timeout', '2']);
  expect(dead.exitCode, dead.stderr).toBe(16);
  expect(dead.stderr).toContain('getheartbeat() = 0');
  noDrill();
  // With a boot sector's signature on its first disk the guest boots and its Tools send heartbeats.
  bench.sim.esx.vm('old vm').writeAsGuest(0, 510, Buffer.from([0x55, 0xaa]));
  const bootable = join(bench.work, 'old-vm-bootable');
  const b = await bench.cli(['-a', 'name:old vm', '-r', bootable]);
  expect(b.exitCode, b.stderr).toBe(0);
  const from = bench.sim.commandLog.length;
  const r = await bench.cli(['restore', '-h', '127.0.0.1', '--port', String(bench.sim.port), '--host-key', bench.sim.fingerprint, '-p', '-', '--state-dir', bench.stateDir, '-s', bootable, '--drill', '--json'], {
    bare: true,
    input: `${bench.sim.password}\n`,
  });
  expect(r.exitCode, r.stderr).toBe(0);
  expect((JSON.parse(r.stdout) as { drill: { evidence: string } }).drill.evidence).toMatch(/^getheartbeat\(\) = [1-9]\d*$/);
  const ran = bench.sim.commandLog.slice(from).map((c) => c.argv);
  expect(ran.some((a) => a[0] === 'vmware-cmd' && a[2] === 'stop' && a[3] === 'hard')).toBe(true);
  expect(ran.some((a) => a[0] === 'vmware-cmd' && a[1] === '-s' && a[2] === 'unregister')).toBe(true);
  noDrill();
}, 90_000);
