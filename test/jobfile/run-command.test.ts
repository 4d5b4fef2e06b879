// `vcbmounter run JOB.yaml` as a process against two simulated hosts over SSH: selection, limits, faults in some VMs,
// summary and exit codes, retention that never deletes the last good backup, notifications that arrive.

import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startSimulator, type Simulator } from '../../src/sim/simulator.js';
import { replayWrites } from '../../src/sim/guest/guest.js';
import { binCommand } from '../../tools/test-support/bin-command.js';
import { FAST_GUEST, markerIndex, smallInventory } from '../sim/integration/helpers.js';
import { parseCatalog } from '../../src/export/catalog.js';
import { acquireVmLock } from '../../src/engine/index.js';
import type { RunSummary } from '../../src/jobfile/summary-types.js';

const SNAPSHOT = '_VCB-BACKUP_';

interface Run {
  exitCode: number;
  stdout: string;
  stderr: string;
}

let work: string;
let esx01: Simulator;
let esx02: Simulator;
let hook: Server;
let hookPort = 0;
const posted: RunSummary[] = [];

async function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const c = binCommand(args);
  const r = await execa(c.command, c.args, { reject: false, env: { VCBMOUNTER_PASSWORD: '', ...env }, stripFinalNewline: false, input: '' });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

function privateFile(name: string, text: string): string {
  const path = join(work, name);
  writeFileSync(path, text, { mode: 0o600 });
  return path;
}

function hostsYaml(): string {
  return `hosts:
  esx01:
    address: 127.0.0.1
    port: ${esx01.port}
    user: root
    passwordFile: ${privateFile('esx01.pass', `${esx01.password}\n`)}
    hostKey: ${esx01.fingerprint}
  esx02:
    address: 127.0.0.1
    port: ${esx02.port}
    passwordEnv: ESX02_PASSWORD
    hostKey: ${esx02.fingerprint}
`;
}

/** The issue's example, pointed at the simulators, a local webhook and a local notify command. */
function exampleJob(name: string, extra = ''): string {
  const path = join(work, `${name}.yaml`);
  writeFileSync(
    path,
    `${hostsYaml()}defaults:
  type: fullvm
  mode: nbd
  destination: ${work}/backup/{host}/{vm}/{time}
  keep: { last: 2, daily: 7, weekly: 4, monthly: 6 }
  verify: true
  retries: { attempts: 0 }
concurrency: { total: 4, perHost: 2, perDatastore: 1 }
stateDir: ${work}/state
vms:
  - host: esx01
    select: ["name:web*", "powerstate:on"]
    exclude: ["name:web-test*"]
  - host: esx01
    select: ["name:db01"]
    cold: true                     # shut down, snapshot, power on, then copy
    excludeDisks: ["scsi0:1"]
  - host: esx02
    select: [any]
notify:
  - command: ["${join(work, 'notify.sh')}", "{status}"]
  - webhook: http://127.0.0.1:${hookPort}/backup
${extra}`,
  );
  return path;
}

function summaryOf(r: Run): RunSummary {
  return JSON.parse(r.stdout) as RunSummary;
}

function backupsOf(host: string, vm: string): string[] {
  const dir = join(work, 'backup', host, vm);
  return existsSync(dir) ? readdirSync(dir).filter((d) => !d.includes('.partial-')).sort() : [];
}

function leftSnapshots(): string[] {
  return [esx01, esx02].flatMap((s) => s.esx.vms().flatMap((v) => v.snapshots.filter((x) => x.name === SNAPSHOT).map(() => v.name)));
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'vcb-job-'));
  esx01 = await startSimulator({
    inventory: smallInventory([
      { name: 'web01', vmid: 11, disks: [{ size: '8M', thin: true, fillBytes: '4M' }], guest: FAST_GUEST },
      { name: 'web02', vmid: 12, disks: [{ size: '8M', thin: true, fillBytes: '2M' }] },
      { name: 'web-test1', vmid: 13, disks: [{ size: '4M', thin: true, fillBytes: '1M' }] },
      { name: 'web03', vmid: 14, power: 'off', disks: [{ size: '4M', thin: true, fillBytes: '1M' }] },
      { name: 'db01', vmid: 15, disks: [{ size: '8M', thin: true, fillBytes: '2M' }, { size: '4M', thin: true, fillBytes: '1M' }] },
    ]),
  });
  esx02 = await startSimulator({
    inventory: smallInventory([
      { name: 'app01', vmid: 21, disks: [{ size: '8M', thin: true, fillBytes: '2M' }] },
      { name: 'app02', vmid: 22, disks: [{ size: '8M', thin: true, fillBytes: '2M' }] },
    ]),
    password: 'second host secret',
  });
  writeFileSync(join(work, 'notify.sh'), `#!/bin/sh\nprintf '%s\\n' "$@" > "${work}/notify-args"\ncat > "${work}/notify-stdin"\n`, { mode: 0o755 });
  hook = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      posted.push(JSON.parse(body) as RunSummary);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  hookPort = (hook.address() as { port: number }).port;
}, 60_000);

afterAll(async () => {
  await new Promise((r) => hook?.close(r));
  await esx01?.stop();
  await esx02?.stop();
  rmSync(work, { recursive: true, force: true });
});

const env = () => ({ ESX02_PASSWORD: esx02.password });

describe('vcbmounter run', () => {
  test('--dry-run --offline checks the file and contacts nothing; --dry-run lists the VMs each entry selects and why', async () => {
    const job = exampleJob('dry');
    const offline = await cli(['run', job, '--dry-run', '--offline'], env());
    expect(offline.exitCode, offline.stderr).toBe(0);
    expect(offline.stdout).toMatch(/vms\[0\] on esx01: select name:web\* powerstate:on, exclude name:web-test\*/);
    const dry = await cli(['run', job, '--dry-run'], env());
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/esx01\/web01 .*vms\[0\] select "name:web\*" "powerstate:on"/);
    expect(dry.stdout).toMatch(/esx01\/web02 /);
    expect(dry.stdout).not.toMatch(/esx01\/web03 /); // powered off
    expect(dry.stdout).toMatch(/esx01\/web-test1 excluded by "name:web-test\*"/);
    expect(dry.stdout).toMatch(/esx01\/db01 .*\n.*cold; without scsi0:1/);
    expect(dry.stdout).toMatch(/esx02\/app01 /);
    expect(dry.stdout).toMatch(/limits: 4 at a time, 2 per host, 1 per datastore/);
    expect(existsSync(join(work, 'backup'))).toBe(false);
    expect(leftSnapshots()).toEqual([]);
  });

  test('a run with a fault in one VM: the others complete, the summary and exit code say which failed and where, notifications arrive', async () => {
    const job = exampleJob('nightly');
    esx02.faults.add({ match: 'vmsvc/snapshot\\.create 22 ', action: 'fail', stderr: 'A general system error occurred: simulated' });
    const vm = esx01.esx.vm('web01');
    const initial = [vm.readDisk(0)];
    const from = vm.guest.events.length;
    const r = await cli(['run', job, '--json'], env());
    esx02.faults.clear();
    expect(r.exitCode, r.stderr).toBe(12);
    const s = summaryOf(r);
    expect(s.status).toBe('partial');
    const byVm = Object.fromEntries(s.vms.map((v) => [`${v.host}/${v.vm}`, v]));
    expect(Object.keys(byVm).sort()).toEqual(['esx01/db01', 'esx01/web01', 'esx01/web02', 'esx02/app01', 'esx02/app02']);
    for (const k of ['esx01/db01', 'esx01/web01', 'esx01/web02', 'esx02/app01']) {
      expect(byVm[k]!.result, `${k}: ${byVm[k]!.error}`).toBe('ok');
      expect(byVm[k]!.verified).toBe(true);
    }
    expect(byVm['esx02/app02']).toMatchObject({ result: 'failed', failedStep: 'snapshot', exitCode: 6 });
    expect(byVm['esx02/app02']!.error).toMatch(/simulated/);
    expect(s.counts).toEqual({ ok: 4, failed: 1, skipped: 0 });
    expect(leftSnapshots()).toEqual([]);

    // db01's second disk is excluded; the export says so.
    const db = backupsOf('esx01', 'db01');
    expect(db).toHaveLength(1);
    const catalog = parseCatalog(readFileSync(join(work, 'backup/esx01/db01', db[0]!, 'catalog'), 'utf8'));
    expect(catalog.disks.map((d) => d.slot)).toEqual(['scsi0:0']);
    expect(catalog.skippedDisks.map((d) => [d.slot, d.reason])).toEqual([['scsi0:1', 'excluded']]);
    // db01 is cold: shut down for the snapshot, and running again.
    expect(catalog.snapshot.cold).toBe('shut-down');
    expect(esx01.esx.vm('db01').power).toBe('on');

    // web01 kept writing: its backup is the disk at the snapshot instant.
    vm.guest.stop();
    const events = vm.guest.events.slice(from);
    const atSnapshot = replayWrites(initial, events, FAST_GUEST.seed, markerIndex(events, 'snapshot.created'))[0]!;
    const web01 = join(work, 'backup/esx01/web01', backupsOf('esx01', 'web01')[0]!);
    const flat = parseCatalog(readFileSync(join(web01, 'catalog'), 'utf8')).disks[0]!.extentFiles[0]!;
    expect(readFileSync(join(web01, flat)).equals(atSnapshot)).toBe(true);

    // Notifications: the webhook got the summary, the command its status and the JSON.
    expect(posted.at(-1)).toMatchObject({ status: 'partial', counts: { ok: 4, failed: 1, skipped: 0 } });
    expect(readFileSync(join(work, 'notify-args'), 'utf8')).toBe('partial\n');
    expect(JSON.parse(readFileSync(join(work, 'notify-stdin'), 'utf8'))).toMatchObject({ status: 'partial' });
    // The host password is in no output and no notification.
    for (const text of [r.stdout, r.stderr, JSON.stringify(posted), readFileSync(join(work, 'notify-stdin'), 'utf8')]) {
      expect(text).not.toContain(esx01.password);
      expect(text).not.toContain(esx02.password);
    }
  }, 180_000);

  test('retention keeps the newest complete, verified backups and never deletes the last good one of a VM whose new backup fails', async () => {
    const job = exampleJob('retention');
    // Two more runs of app01: keep last 2 (and one per day) leaves the two newest.
    for (let i = 0; i < 2; i++) {
      const r = await cli(['run', job, '--json', '--no-notify'], env());
      expect([0, 12]).toContain(r.exitCode);
    }
    const app01 = backupsOf('esx02', 'app01');
    expect(app01.length).toBe(2);
    // --dry-run shows what the next successful run would keep and delete, and deletes nothing.
    const plan = await cli(['run', job, '--dry-run'], env());
    expect(plan.exitCode, plan.stderr).toBe(0);
    expect(plan.stdout).toMatch(new RegExp(`delete +\\S*app01/${app01[0]}`));
    expect(plan.stdout).toMatch(new RegExp(`keep +\\S*app01/${app01[1]}`));
    expect(backupsOf('esx02', 'app01')).toEqual(app01);
    const good = backupsOf('esx01', 'web02');
    expect(good.length).toBeGreaterThan(0);
    // web02's backup now fails, under a policy that would keep only one: what it has stays.
    writeFileSync(job, readFileSync(job, 'utf8').replace('keep: { last: 2, daily: 7, weekly: 4, monthly: 6 }', 'keep: { last: 1 }'));
    expect(good.length).toBeGreaterThan(1);
    esx01.faults.add({ match: 'vmsvc/snapshot\\.create 12 ', action: 'fail', stderr: 'A general system error occurred: simulated' });
    const failed = await cli(['run', job, '--json', '--no-notify'], env());
    esx01.faults.clear();
    expect(failed.exitCode).toBe(12);
    expect(summaryOf(failed).vms.find((v) => v.vm === 'web02')).toMatchObject({ result: 'failed' });
    expect(backupsOf('esx01', 'web02')).toEqual(good);
    expect(leftSnapshots()).toEqual([]);
  }, 300_000);

  test('every VM failing gives 13; a wrong job file gives 2 naming the place, before any contact', async () => {
    const job = join(work, 'down.yaml');
    writeFileSync(job, `${hostsYaml().replace(`port: ${esx02.port}`, 'port: 1')}defaults: { destination: "${work}/down/{vm}/{time}" }\nvms:\n  - host: esx02\n`);
    const down = await cli(['run', job, '--json', '--no-notify'], env());
    expect(down.exitCode, down.stderr).toBe(13);
    expect(summaryOf(down).vms[0]).toMatchObject({ result: 'failed', failedStep: 'connect' });

    const bad = join(work, 'bad.yaml');
    writeFileSync(bad, `${hostsYaml()}defaults: { destination: "${work}/x/{vm}/{time}", kep: { last: 1 } }\nvms:\n  - host: esx01\n`);
    const r = await cli(['run', bad], env());
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/bad\.yaml: defaults\.kep: not a known setting/);

    writeFileSync(bad, `${hostsYaml()}defaults: { destination: "${work}/x/{vm}/{time}" }\nvms:\n  - host: esx03\n`);
    expect((await cli(['run', bad], env())).stderr).toMatch(/vms\[0\]\.host: "esx03" is not under hosts \(hosts: esx01, esx02\)/);

    writeFileSync(bad, `${hostsYaml()}defaults: { destination: "${work}/x/{vm}" }\nvms:\n  - host: esx01\n`);
    expect((await cli(['run', bad], env())).stderr).toMatch(/defaults\.destination: .*needs \{time\} in its last component/);

    const inline = join(work, 'inline.yaml');
    writeFileSync(inline, `hosts:\n  h: { address: 127.0.0.1, port: ${esx01.port}, password: "${esx01.password}", hostKey: ${esx01.fingerprint} }\ndefaults: { destination: "${work}/x/{vm}/{time}" }\nvms:\n  - host: h\n`);
    chmodSync(inline, 0o644);
    const open = await cli(['run', inline, '--dry-run'], env());
    expect(open.exitCode).toBe(2);
    expect(open.stderr).toMatch(/hosts\.h\.password: an inline password needs the job file readable by its owner alone .*chmod 600/);
    expect(open.stderr).not.toContain(esx01.password);
    chmodSync(inline, 0o600);
    expect((await cli(['run', inline, '--dry-run'], env())).exitCode).toBe(0);

    const noEnv = await cli(['run', exampleJob('noenv'), '--dry-run']);
    expect(noEnv.exitCode).toBe(2);
    expect(noEnv.stderr).toMatch(/hosts\.esx02\.passwordEnv: the environment variable ESX02_PASSWORD is not set/);
  }, 120_000);

  test('timeouts.vm releases a VM that takes too long; an exact name that finds no VM makes the run incomplete', async () => {
    const job = join(work, 'slow.yaml');
    writeFileSync(
      job,
      `${hostsYaml()}defaults: { destination: "${work}/slow/{vm}/{time}", retries: { attempts: 0 } }\nstateDir: ${work}/state\nvms:\n` +
        `  - host: esx02\n    select: ["name:app01"]\n    timeouts: { vm: 2 }\n  - host: esx02\n    select: ["name:gone01"]\n`,
    );
    esx02.faults.add({ match: '^dd ', action: 'slow', bytesPerSecond: 256 * 1024 });
    const r = await cli(['run', job, '--json', '--no-notify'], env());
    esx02.faults.clear();
    expect(r.exitCode, r.stderr).toBe(13);
    const s = summaryOf(r);
    expect(s.vms).toHaveLength(1);
    expect(s.vms[0]).toMatchObject({ vm: 'app01', result: 'failed' });
    expect(s.vms[0]!.error).toMatch(/timed out after 2 s \(timeouts\.vm\)/);
    expect(s.errors.join('\n')).toMatch(/vms\[1\]: no VM on esx02 matches "name:gone01" \(renamed or removed\?\)/);
    expect(leftSnapshots()).toEqual([]);
    expect(existsSync(join(work, 'slow', 'app01')) ? readdirSync(join(work, 'slow', 'app01')) : []).toEqual([]);
  }, 120_000);

  test('a VM locked by another backup is tried again after retries.wait, and backed up once the lock is free', async () => {
    const job = join(work, 'locked.yaml');
    writeFileSync(
      job,
      `${hostsYaml()}defaults: { destination: "${work}/locked/{vm}/{time}", retries: { attempts: 2, wait: 1 } }\nstateDir: ${work}/state\nvms:\n  - host: esx02\n    select: ["name:app02"]\n`,
    );
    // This test process holds the VM's lock, as a backup started by hand would, and lets go once the run has
    // found it held (not on a timer: on a loaded machine the run may reach the lock late).
    const held = acquireVmLock({ stateDir: join(work, 'state'), host: `127.0.0.1:${esx02.port}`, vm: 'app02', runId: 'held-by-test', onWarning: () => {} });
    const c = binCommand(['run', job, '--json', '--no-notify']);
    const child = spawn(c.command, c.args, { env: { ...process.env, VCBMOUNTER_PASSWORD: '', ...env() }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (/already being backed up/.test(stderr)) held.release();
    });
    const exitCode = await new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    held.release();
    expect(exitCode, stderr).toBe(0);
    expect(stderr).toMatch(/already being backed up .*trying again in 1 s \(retries\)/);
    expect((JSON.parse(stdout) as RunSummary).vms[0]).toMatchObject({ vm: 'app02', result: 'ok', verified: true });
  }, 120_000);

  test('an overlapping run of the same job is refused with 14; SIGTERM releases everything and skips what had not started', async () => {
    const job = exampleJob('overlap');
    const text = readFileSync(job, 'utf8').replace('total: 4, perHost: 2', 'total: 1, perHost: 1');
    writeFileSync(job, text);
    esx01.faults.add({ match: '^dd ', action: 'slow', bytesPerSecond: 1024 * 1024 });
    const c = binCommand(['run', job, '--json', '--no-notify']);
    const child = spawn(c.command, c.args, { env: { ...process.env, VCBMOUNTER_PASSWORD: '', ...env() }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number>((r) => child.on('exit', (code, sig) => r(code ?? (sig ? 128 : -1))));
    // Wait until a snapshot exists, then try a second run and interrupt the first.
    for (let i = 0; i < 300 && leftSnapshots().length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(leftSnapshots().length, err).toBe(1);
    const second = await cli(['run', job, '--no-notify'], env());
    expect(second.exitCode).toBe(14);
    expect(second.stderr).toMatch(/job .*overlap\.yaml is already running by pid \d+/);
    child.kill('SIGTERM');
    const code = await exited;
    esx01.faults.clear();
    expect(code, err).toBe(143);
    expect(leftSnapshots()).toEqual([]);
    const s = JSON.parse(out) as RunSummary;
    expect(s.counts.skipped).toBeGreaterThan(0);
    expect(s.vms.some((v) => v.result === 'failed' && v.exitCode === 130)).toBe(true);
    // The lock is gone: the next run is not refused.
    expect((await cli(['run', job, '--dry-run'], env())).exitCode).toBe(0);
  }, 180_000);

  test('after kill -9 mid-run the next run takes over the stale job lock, releases what the killed run held, and backs up', async () => {
    const job = join(work, 'killed.yaml');
    writeFileSync(
      job,
      `${hostsYaml()}defaults: { destination: "${work}/killed/{vm}/{time}", retries: { attempts: 0 } }\nstateDir: ${work}/state\nvms:\n  - host: esx01\n    select: ["name:web02"]\n`,
    );
    esx01.faults.add({ match: '^dd ', action: 'slow', bytesPerSecond: 512 * 1024 });
    const c = binCommand(['run', job, '--no-notify']);
    const child = spawn(c.command, c.args, { env: { ...process.env, VCBMOUNTER_PASSWORD: '', ...env() }, stdio: 'ignore' });
    const exited = new Promise((r) => child.on('exit', r));
    for (let i = 0; i < 300 && leftSnapshots().length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(leftSnapshots()).toEqual(['web02']);
    child.kill('SIGKILL');
    await exited;
    esx01.faults.clear();
    expect(leftSnapshots()).toEqual(['web02']);
    const r = await cli(['run', job, '--json', '--no-notify'], env());
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/taking over stale lock/);
    expect(summaryOf(r).vms[0]).toMatchObject({ vm: 'web02', result: 'ok', verified: true });
    expect(leftSnapshots()).toEqual([]);
  }, 120_000);
});
