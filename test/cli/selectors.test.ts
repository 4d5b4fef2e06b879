// -a selectors through the CLI: name, moref, uuid (both forms), ipaddr; not found, ambiguous, malformed; a hostile VM name.

import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { smallInventory } from '../sim/integration/helpers.js';
import { readCatalog, startBench, type Bench } from './cli-helpers.js';

const IDLE = { writesPerSecond: 0 };
const DISK = [{ size: '16M', fillBytes: '1M' }];
const MARKER = `/tmp/pwned-${randomBytes(6).toString('hex')}`;
const HOSTILE = `x; touch ${MARKER} $(touch ${MARKER}) \`touch ${MARKER}\` 'q' & echo > ${MARKER}`;
let bench: Bench;

beforeAll(async () => {
  bench = await startBench(
    smallInventory([
      { name: 'alpha', vmid: 41, ip: '10.0.0.41', uuid: '56 4d 0a 0b 0c 0d 0e 0f-10 11 12 13 14 15 16 17', disks: DISK, guest: IDLE },
      { name: 'alphabet', vmid: 42, ip: '10.0.0.42', disks: DISK, guest: IDLE },
      { name: 'cold', vmid: 43, ip: '10.0.0.43', power: 'off', disks: DISK, guest: IDLE },
      { name: 'twin', vmid: 44, dir: 'twin-a', disks: DISK, guest: IDLE },
      { name: 'twin', vmid: 45, dir: 'twin-b', disks: DISK, guest: IDLE },
      { name: HOSTILE, vmid: 46, disks: DISK, guest: IDLE },
    ]),
  );
});
afterAll(async () => bench?.stop());

let n = 0;
async function backup(selector: string) {
  const out = join(bench.work, `out-${++n}`);
  const r = await bench.cli(['-a', selector, '-r', out]);
  return { ...r, out };
}

test.each([
  ['name:alpha'],
  ['moref:41'],
  ['uuid:56 4d 0a 0b 0c 0d 0e 0f-10 11 12 13 14 15 16 17'],
  ['uuid:564d0a0b-0c0d-0e0f-1011-121314151617'],
  ['ipaddr:10.0.0.41'],
])('-a %s backs up alpha', async (selector) => {
  const r = await backup(selector);
  expect(r.exitCode, r.stderr).toBe(0);
  expect(readCatalog(r.out).vm).toMatchObject({ name: 'alpha', vmid: '41' });
});

test('an unknown name exits 4 and lists the closest names', async () => {
  const r = await backup('name:alpah');
  expect(r.exitCode).toBe(4);
  expect(r.stderr).toContain('name:alpah');
  expect(r.stderr).toMatch(/closest names: .*"alpha"/);
  expect(existsSync(r.out)).toBe(false);
});

test('a glob in -a name: exits 4, says -a takes one exact name, and the listing it suggests shows what the glob selects', async () => {
  const r = await backup('name:alph*');
  expect(r.exitCode).toBe(4);
  expect(r.stderr).toContain('* ? [ are characters of it, not wildcards');
  const suggested = /"vcbmounter list -s '([^']+)'"/.exec(r.stderr)?.[1];
  expect(suggested, r.stderr).toBe('name:alph*');
  expect(existsSync(r.out)).toBe(false);
  const listed = await bench.cli(['list', '-h', '127.0.0.1', '--port', String(bench.sim.port), '--host-key', bench.sim.fingerprint, '-p', '-', '-s', suggested!, '--json'], { bare: true, input: `${bench.sim.password}\n` });
  expect(listed.exitCode, listed.stderr).toBe(0);
  expect((JSON.parse(listed.stdout) as { name: string }[]).map((v) => v.name).sort()).toEqual(['alpha', 'alphabet']);
});

test('ipaddr: of a powered-off VM exits 4 and says powered-off VMs report no IP', async () => {
  const r = await backup('ipaddr:10.0.0.43');
  expect(r.exitCode).toBe(4);
  expect(r.stderr).toMatch(/powered-off VMs report no IP address \("cold"\)/);
});

test('a malformed selector exits 2 before contacting the host', async () => {
  const before = bench.sim.commandLog.length;
  for (const selector of ['foo', 'host:alpha', 'name:']) {
    const r = await backup(selector);
    expect(r.exitCode, selector).toBe(2);
    expect(r.stderr).toMatch(/not a VM selector: use name:/);
  }
  expect(bench.sim.commandLog.length).toBe(before);
});

test('two VMs with the same name exit 4 listing both morefs', async () => {
  const r = await backup('name:twin');
  expect(r.exitCode).toBe(4);
  expect(r.stderr).toMatch(/matches 2 VMs/);
  expect(r.stderr).toContain('moref:44');
  expect(r.stderr).toContain('moref:45');
  expect(bench.sim.esx.vm(44).snapshots).toHaveLength(0);
  expect(bench.sim.esx.vm(45).snapshots).toHaveLength(0);
});

test('a VM whose name holds shell syntax backs up, and no command of the name ever runs', async () => {
  const r = await backup(`name:${HOSTILE}`);
  expect(r.exitCode, r.stderr).toBe(0);
  const catalog = readCatalog(r.out);
  expect(catalog.vm.name).toBe(HOSTILE);
  expect(readFileSync(join(r.out, catalog.disks[0]!.extentFiles[0]!)).equals(bench.sim.esx.vm(46).readDisk(0))).toBe(true);
  expect(existsSync(MARKER)).toBe(false);
  const programs = bench.sim.commandLog.map((c) => c.argv[0]);
  expect(programs).not.toContain('touch');
  expect(programs).not.toContain('echo');
  expect(bench.sim.esx.vm(46).snapshots).toHaveLength(0);
});
