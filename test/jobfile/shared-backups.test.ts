// Retention where VMs look alike: two VMs of one name on one host, and a copy that kept its original's BIOS UUID; neither may delete the other's backups.

import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startSimulator, type Simulator } from '../../src/sim/simulator.js';
import { parseCatalog } from '../../src/export/catalog.js';
import { readFileSync } from 'node:fs';
import type { RunSummary } from '../../src/jobfile/summary-types.js';
import { binCommand } from '../../tools/test-support/bin-command.js';
import { smallInventory } from '../sim/integration/helpers.js';

const IDLE = { writesPerSecond: 0 };
const DISK = [{ size: '4M', thin: true, fillBytes: '1M' }];
const UUID = '56 4d 1a 2b 3c 4d 5e 6f-70 81 92 a3 b4 c5 d6 e7';

let work: string;
let esx: Simulator;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'vcb-shared-'));
  esx = await startSimulator({
    inventory: smallInventory([
      { name: 'twin', vmid: 31, dir: 'twin-a', disks: DISK, guest: IDLE },
      { name: 'twin', vmid: 32, dir: 'twin-b', disks: DISK, guest: IDLE },
      { name: 'solo', vmid: 33, uuid: UUID, disks: DISK, guest: IDLE },
      // Copied by hand from solo's files and registered ("I moved it"): the same BIOS UUID, its own moref.
      { name: 'solo-copy', vmid: 34, dir: 'solo-copy', uuid: UUID, disks: DISK, guest: IDLE },
    ]),
  });
}, 60_000);

afterAll(async () => {
  await esx?.stop();
  rmSync(work, { recursive: true, force: true });
});

function job(name: string, destination: string, select: string): string {
  const pass = join(work, 'esx.pass');
  writeFileSync(pass, `${esx.password}\n`, { mode: 0o600 });
  const path = join(work, `${name}.yaml`);
  writeFileSync(
    path,
    `hosts:
  esx01: { address: 127.0.0.1, port: ${esx.port}, user: root, passwordFile: ${pass}, hostKey: ${esx.fingerprint} }
defaults: { destination: "${destination}", keep: { last: 1 }, verify: false, retries: { attempts: 2, wait: 1 } }
concurrency: { total: 2, perHost: 2, perDatastore: 2 }
stateDir: ${work}/state
vms:
  - host: esx01
    select: ["${select}"]
`,
  );
  return path;
}

async function run(args: string[]) {
  const c = binCommand(args);
  const r = await execa(c.command, c.args, { reject: false, env: { VCBMOUNTER_PASSWORD: '' }, input: '' });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** Each backup directory under parent with the moref its catalog names. */
function backupsIn(parent: string): Array<{ dir: string; vm: string; moref: string | undefined }> {
  if (!existsSync(parent)) return [];
  return readdirSync(parent)
    .sort()
    .map((dir) => {
      const catalog = parseCatalog(readFileSync(join(parent, dir, 'catalog'), 'utf8'));
      return { dir, vm: catalog.vm.name, moref: catalog.vm.vmid };
    });
}

// The per-VM lock is taken by name, so the second twin waits for the first (a retry) and gets a directory of its own.
test('two VMs of one name backed up into one directory: retention is skipped for both with a warning, nothing is deleted; --dry-run says so', async () => {
  const path = job('twins', `${work}/backup/{host}/{vm}/{time}`, 'name:twin');
  for (let i = 0; i < 2; i++) {
    const r = await run(['run', path, '--json', '--no-notify']);
    expect(r.exitCode, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout) as RunSummary;
    expect(summary.vms.map((v) => v.result)).toEqual(['ok', 'ok']);
    for (const v of summary.vms) {
      expect(v.warnings.join('\n')).toMatch(/retention skipped, nothing deleted: esx01\/twin \(moref 3[12]\) also back\(s\) up into /);
      expect(v.pruned ?? []).toEqual([]);
    }
    // Distinct times for the next run's directories.
    await new Promise((r) => setTimeout(r, 1100));
  }
  const backups = backupsIn(join(work, 'backup', 'esx01', 'twin'));
  expect(backups.map((b) => b.moref).sort()).toEqual(['31', '31', '32', '32']);
  const plan = await run(['run', path, '--dry-run']);
  expect(plan.exitCode, plan.stderr).toBe(0);
  expect(plan.stdout).toMatch(/retention skipped, nothing deleted: esx01\/twin \(moref 32\)/);
  expect(plan.stdout).not.toMatch(/\bdelete\b +\//);
}, 180_000);

test('a copy with its original\'s BIOS UUID, both backed up into one directory: each keeps its own newest backup, neither deletes the other\'s', async () => {
  const path = job('flat', `${work}/flat/{vm}-{time}`, 'name:solo*');
  for (let i = 0; i < 2; i++) {
    const r = await run(['run', path, '--json', '--no-notify']);
    expect(r.exitCode, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout) as RunSummary;
    expect(summary.vms.map((v) => [v.vm, v.result])).toEqual([
      ['solo', 'ok'],
      ['solo-copy', 'ok'],
    ]);
    await new Promise((r) => setTimeout(r, 1100));
  }
  const backups = backupsIn(join(work, 'flat'));
  // keep: { last: 1 } per VM: the newest of each, the other one's untouched.
  expect(backups.map((b) => [b.vm, b.moref])).toEqual([
    ['solo', '33'],
    ['solo-copy', '34'],
  ]);
}, 180_000);
