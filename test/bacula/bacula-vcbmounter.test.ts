// Bacula as the backup software, vcbmounter as its client-side Before/After RunScripts (`pre` / `post DIR`):
// real bacula-dir, bacula-sd and two bacula-fd (tools/test-support/bacula.ts), real vcbmounter processes started
// by the file daemons, the simulated ESX host over real SSH. The recipe is the one in docs/integration.md.

import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { replayWrites } from '../../src/sim/guest/guest.js';
import { binCommand } from '../../tools/test-support/bin-command.js';
import { startBacula, type BaculaJobSpec, type BaculaRunScript, type BaculaSite } from '../../tools/test-support/bacula.js';
import { FAST_GUEST, markerIndex, smallInventory } from '../sim/integration/helpers.js';
import { privateFile, readCatalog, SNAPSHOT_NAME, startBench, type Bench } from '../cli/cli-helpers.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(100);
  }
}

/**
 * A RunScript command line that runs the built CLI with these arguments. Bacula splits the line at single spaces
 * itself (no shell), so every argument must be free of spaces, and must not start with a quote or hold a `%`.
 */
function vcbCommand(args: string[]): string {
  const run = binCommand(args);
  const argv = [run.command, ...run.args];
  for (const arg of argv) {
    if (/\s|%/.test(arg) || /^['"]/.test(arg)) throw new Error(`argument ${JSON.stringify(arg)} would need quoting in a RunScript`);
  }
  return argv.join(' ');
}

// The VMs. busy: its guest keeps writing during the backup. broken: its snapshot create fails. big: 48 MB that
// Bacula sends slowly enough to be canceled. pa, pb, pc: the concurrent jobs (idle guests, so their disks at any
// time are their disks at the snapshot instant).
const VMS = [
  { name: 'busy', vmid: 41, disks: [{ size: '24M', thin: true, fillBytes: '16M' }], guest: FAST_GUEST },
  { name: 'broken', vmid: 42, disks: [{ size: '8M', thin: true, fillBytes: '4M' }], guest: { writesPerSecond: 0 } },
  { name: 'big', vmid: 43, disks: [{ size: '48M', thin: false, fillBytes: '48M' }], guest: { writesPerSecond: 0 } },
  { name: 'pa', vmid: 51, disks: [{ size: '8M', thin: true, fillBytes: '6M' }], guest: { writesPerSecond: 0 } },
  { name: 'pb', vmid: 52, disks: [{ size: '8M', thin: true, fillBytes: '6M' }], guest: { writesPerSecond: 0 } },
  { name: 'pc', vmid: 53, disks: [{ size: '8M', thin: true, fillBytes: '6M' }], guest: { writesPerSecond: 0 } },
];

describe('Bacula runs vcbmounter pre/post around its jobs (real daemons, two proxies, simulated host over SSH)', () => {
  let bench: Bench;
  let site: BaculaSite;
  /** One state dir per proxy (file daemon), as two proxy machines would have. */
  let stateDirs: string[];
  let hookLog: string;
  const stage = (vm: string) => join(bench.work, 'stage', vm);
  const restoreRoot = (name: string) => join(bench.work, 'restores', name);

  /** The host flags of pre and post on proxy `fd`: password in a mode-600 file, the host key pinned. */
  let hostFlags: (fd: number) => string[];

  /** A Bacula job for VM on proxy `fd`: pre as the client's Before script, post as its After script, always. */
  function vmJob(name: string, vm: string, fd: number, extra: { preFlags?: string[]; postRunsOnFailure?: boolean; maximumBandwidth?: string } = {}): BaculaJobSpec {
    const dir = stage(vm);
    const runScripts: BaculaRunScript[] = [
      { when: 'Before', command: vcbCommand(['pre', ...hostFlags(fd), '-a', `name:${vm}`, '-r', dir, ...(extra.preFlags ?? [])]), failJobOnError: true },
      { when: 'After', command: vcbCommand(['post', dir, ...hostFlags(fd)]), runsOnSuccess: true, runsOnFailure: extra.postRunsOnFailure ?? true },
    ];
    return { name, client: fd, directory: dir, runScripts, ...(extra.maximumBandwidth ? { maximumBandwidth: extra.maximumBandwidth } : {}) };
  }

  const snapshotNames = (vm: string) => bench.sim.esx.vm(vm).snapshots.map((s) => s.name);

  /** What a VM's runs left on the proxy: DIR, DIR.partial-*, DIR.old-*. */
  const proxyLeftovers = (vm: string) => {
    const parent = dirname(stage(vm));
    return existsSync(parent) ? readdirSync(parent).filter((n) => n === vm || n.startsWith(`${vm}.`)) : [];
  };

  async function cleanupList(): Promise<string[]> {
    const out: string[] = [];
    for (const stateDir of stateDirs) {
      const r = await bench.cli(['cleanup', '--list', '--state-dir', stateDir], { bare: true });
      out.push(r.stdout);
    }
    return out;
  }

  /** The restored flat file of a VM's first disk, found through the restored catalog. */
  function restoredDisk(where: string, vm: string): Buffer {
    const dir = join(where, stage(vm));
    return readFileSync(join(dir, readCatalog(dir).disks[0]!.extentFiles[0]!));
  }

  /** `PHASE epoch_ms VM` lines the hook wrote, as one [start, end] span per VM. */
  function hookSpans(): Map<string, { start: number; end: number }> {
    const spans = new Map<string, { start: number; end: number }>();
    for (const line of readFileSync(hookLog, 'utf8').trim().split('\n')) {
      const [phase, ms, vm] = line.split(' ');
      const span = spans.get(vm!) ?? { start: NaN, end: NaN };
      if (phase === 'job-start') span.start = Number(ms);
      if (phase === 'job-end') span.end = Number(ms);
      spans.set(vm!, span);
    }
    for (const [vm, span] of spans) {
      if (Number.isNaN(span.start) || Number.isNaN(span.end)) throw new Error(`no job-start or job-end of ${vm} in the hook's log:\n${readFileSync(hookLog, 'utf8')}`);
    }
    return spans;
  }

  /** The most spans open at one instant. */
  function maxOverlap(spans: Iterable<{ start: number; end: number }>): number {
    const edges = [...spans].flatMap((s) => [
      { t: s.start, d: 1 },
      { t: s.end, d: -1 },
    ]);
    edges.sort((a, b) => a.t - b.t || a.d - b.d);
    let open = 0;
    let most = 0;
    for (const e of edges) most = Math.max(most, (open += e.d));
    return most;
  }

  beforeAll(async () => {
    bench = await startBench(smallInventory(VMS));
    stateDirs = [bench.stateDir, join(bench.work, 'state-proxy2')];
    const passwordFile = privateFile(bench.work, 'esx01.pass', `${bench.sim.password}\n`);
    hostFlags = (fd) => ['-h', '127.0.0.1', '--port', String(bench.sim.port), '-u', 'root', '--host-key', bench.sim.fingerprint, '--password-file', passwordFile, '--state-dir', stateDirs[fd]!];
    mkdirSync(join(bench.work, 'stage'));
    hookLog = join(bench.work, 'hook.log');
    const hook = join(bench.work, 'overlap-hook');
    // VCB_VM is empty at job-start and job-end (they are about the whole run): the VM comes from -a. At backup-start
    // each run waits (30 s at most) until two runs have started, so that two runs Bacula lets run at once overlap
    // however slowly the director starts the second; runs Bacula holds back cannot meet and fail the overlap checks.
    writeFileSync(
      hook,
      [
        '#!/bin/sh',
        `echo "$1 $(date +%s%3N) \${VCB_SELECTOR#name:}" >> ${hookLog}`,
        'if [ "$1" = backup-start ]; then',
        '  i=0',
        `  while [ "$(grep -c '^job-start ' ${hookLog})" -lt 2 ] && [ $i -lt 300 ]; do i=$((i + 1)); sleep 0.1; done`,
        'fi',
        '',
      ].join('\n'),
    );
    chmodSync(hook, 0o755);
    const hookFlags = ['--hook', hook];

    site = await startBacula({
      fileDaemons: 2,
      // One Storage resource for both proxies: at most two jobs at once against the host, whatever the clients allow.
      storageMaximumConcurrentJobs: 2,
      jobs: [
        vmJob('busy', 'busy', 0),
        vmJob('broken', 'broken', 0),
        // 48 MB at 4 MB/s: the file daemon is still sending when the test cancels.
        vmJob('big', 'big', 0, { maximumBandwidth: '4 mb/s' }),
        vmJob('pa', 'pa', 0, { preFlags: hookFlags }),
        vmJob('pb', 'pb', 1, { preFlags: hookFlags }),
        vmJob('pc', 'pc', 0, { preFlags: hookFlags }),
      ],
    });
  });

  let benchStopped = false;
  afterAll(async () => {
    await site?.stop();
    if (!benchStopped) await bench?.stop();
  });

  test('a job with pre before and post after backs up the VM; the restore is the disk at the snapshot instant of a VM still writing', async () => {
    const vm = bench.sim.esx.vm('busy');
    const initial = [vm.readDisk(0)];
    const from = vm.guest.events.length;

    const backup = await site.runJob('busy');
    expect(backup.status, backup.log).toBe('T');
    // pre's stdout (the ready directory) is the Before script's one line of output in the job's messages.
    expect(backup.log).toContain(`ClientBeforeJob: ${stage('busy')}\n`);
    expect(backup.log).toContain(`ClientAfterJob: removed ${stage('busy')}`);
    expect(proxyLeftovers('busy')).toEqual([]);
    expect(snapshotNames('busy')).not.toContain(SNAPSHOT_NAME);
    expect(await cleanupList()).toEqual(['no interrupted runs to clean up\n', 'no interrupted runs to clean up\n']);

    vm.guest.stop();
    const events = vm.guest.events.slice(from);
    const snapAt = markerIndex(events, 'snapshot.created');
    expect(snapAt).toBeGreaterThanOrEqual(0);
    expect(events.slice(snapAt).filter((e) => e.ev === 'apply').length, 'the guest wrote after the snapshot').toBeGreaterThan(0);
    const atSnapshot = replayWrites(initial, events, FAST_GUEST.seed, snapAt)[0]!;
    expect(atSnapshot.equals(vm.readDisk(0)), 'the disk changed after the snapshot').toBe(false);

    const where = restoreRoot('busy');
    const restore = await site.restore({ jobId: backup.jobId, where });
    expect(restore.status, restore.log).toBe('T');
    expect(restoredDisk(where, 'busy').equals(atSnapshot), 'the restored disk is the disk at the snapshot instant').toBe(true);
  });

  test('a pre that fails (the host refuses the snapshot) fails the job with its error in the log; post runs; nothing is left', async () => {
    bench.sim.faults.add({ match: '^vim-cmd vmsvc/snapshot\\.create 42 ', action: 'fail', exitCode: 1, stderr: 'msg = "An error occurred while saving the snapshot: disk full (simulated)"' });
    try {
      const result = await site.runJob('broken');
      expect(result.status, result.log).not.toBe('T');
      expect(result.status, result.log).toBe('f');
      expect(result.log).toMatch(/ClientBeforeJob: vcbmounter: VM "broken", step snapshot: .*disk full \(simulated\)/);
      expect(result.log).toMatch(/ClientBeforeJob returned non-zero status=\d+/);
      // post ran after the failure (its output is in the log) and found nothing to remove.
      expect(result.log).toContain(`ClientAfterJob: nothing to remove at ${stage('broken')}`);
    } finally {
      bench.sim.faults.clear();
    }
    expect(snapshotNames('broken')).not.toContain(SNAPSHOT_NAME);
    expect(proxyLeftovers('broken')).toEqual([]);
    expect(await cleanupList()).toEqual(['no interrupted runs to clean up\n', 'no interrupted runs to clean up\n']);
  });

  test('a job canceled in bconsole while Bacula reads the export ends A; post then removes the export; nothing is left on the host', async () => {
    const jobId = await site.startJob('big');
    // Canceled mid-transfer: pre is done (DIR is in place) and the file daemon is sending the flat file.
    await waitFor('the file daemon sending the export', async () => /Bytes=[1-9]/.test(await site.bconsole(`status client=${site.clients[0]}`)), 30_000);
    await site.cancel(jobId);
    const result = await site.waitJob(jobId);
    expect(result.status, result.log).toBe('A');
    expect(result.log).toContain(`ClientBeforeJob: ${stage('big')}\n`);
    // The client's RunsOnFailure After script may end a moment after the director reports A.
    await waitFor('post removing DIR after the cancel', () => proxyLeftovers('big').length === 0, 20_000).catch(() => undefined);
    expect(proxyLeftovers('big'), site.diagnostics()).toEqual([]);
    expect(snapshotNames('big')).not.toContain(SNAPSHOT_NAME);
    expect(await cleanupList()).toEqual(['no interrupted runs to clean up\n', 'no interrupted runs to clean up\n']);
  });

  test('two proxies back up two VMs of one host at the same time; a Storage with Maximum Concurrent Jobs = 2 holds a third job back', async () => {
    // Every snapshot of pa, pb, pc takes 3 s, so that runs started together overlap.
    bench.sim.faults.add({ match: '^vim-cmd vmsvc/snapshot\\.create 5[123] ', action: 'slow', delayMs: 3_000 });
    try {
      const [a, b] = await Promise.all([site.startJob('pa'), site.startJob('pb')]);
      const [resultA, resultB] = await Promise.all([site.waitJob(a), site.waitJob(b)]);
      expect(resultA.status, resultA.log).toBe('T');
      expect(resultB.status, resultB.log).toBe('T');
      const spans = hookSpans();
      expect([...spans.keys()].sort()).toEqual(['pa', 'pb']);
      expect(maxOverlap(spans.values()), [readFileSync(hookLog, 'utf8'), resultA.log, resultB.log].join('\n---\n')).toBe(2);
      for (const [vm, job, client] of [['pa', a, 0], ['pb', b, 1]] as const) {
        const where = restoreRoot(vm);
        const restore = await site.restore({ jobId: job, where, client: site.clients[client] });
        expect(restore.status, restore.log).toBe('T');
        const disk = restoredDisk(where, vm);
        const source = bench.sim.esx.vm(vm).readDisk(0);
        expect(disk.length).toBe(source.length);
        expect(sha256(disk), `restored disk of ${vm}`).toBe(sha256(source));
        expect(proxyLeftovers(vm)).toEqual([]);
      }

      // Three jobs at once on two proxies: the director runs two and queues the third until one has ended.
      writeFileSync(hookLog, '');
      let sawWaiting = false;
      let watching = true;
      const watch = (async () => {
        while (watching) {
          if (/is waiting on max Storage jobs/.test(await site.bconsole('status dir'))) sawWaiting = true;
          await sleep(300);
        }
      })();
      const ids = await Promise.all(['pa', 'pb', 'pc'].map((job) => site.startJob(job)));
      const results = await Promise.all(ids.map((id) => site.waitJob(id)));
      watching = false;
      await watch;
      for (const result of results) expect(result.status, result.log).toBe('T');
      const spans3 = hookSpans();
      expect([...spans3.keys()].sort()).toEqual(['pa', 'pb', 'pc']);
      const log = readFileSync(hookLog, 'utf8');
      expect(maxOverlap(spans3.values()), log).toBe(2);
      // Two runs overlapped; the held-back one started only after one of them had ended...
      const order = ['pa', 'pb', 'pc'].sort((x, y) => spans3.get(x)!.start - spans3.get(y)!.start);
      const [first, second, third] = order.map((vm) => spans3.get(vm)!);
      expect(second!.start, log).toBeLessThan(first!.end);
      expect(third!.start, log).toBeGreaterThan(Math.min(first!.end, second!.end));
      expect(sawWaiting, 'status dir showed a job waiting on max Storage jobs').toBe(true);
      // ...and after one of their Bacula jobs had ended, post included (the catalog's EndTime, in whole seconds).
      const endTime = async (vm: string) => {
        const out = await site.bconsole(`llist jobid=${ids[['pa', 'pb', 'pc'].indexOf(vm)]}`);
        const match = /^\s*EndTime:\s*(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)$/m.exec(out);
        if (!match) throw new Error(`no EndTime in llist's output:\n${out}`);
        return Date.parse(`${match[1]}T${match[2]}`);
      };
      expect(third!.start, log).toBeGreaterThanOrEqual(Math.min(await endTime(order[0]!), await endTime(order[1]!)));
    } finally {
      bench.sim.faults.clear();
    }
    for (const vm of ['pa', 'pb', 'pc']) {
      expect(snapshotNames(vm)).not.toContain(SNAPSHOT_NAME);
      expect(proxyLeftovers(vm)).toEqual([]);
    }
    expect(await cleanupList()).toEqual(['no interrupted runs to clean up\n', 'no interrupted runs to clean up\n']);
  });

  test('stopping the site leaves no Bacula or vcbmounter process, mount or temp dir', async () => {
    const work = [site.work, bench.work];
    await site.stop();
    benchStopped = true;
    await bench.stop();
    const mentions = (pid: string) => {
      try {
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        return work.some((dir) => cmdline.includes(dir));
      } catch {
        return false;
      }
    };
    const left = readdirSync('/proc').filter((pid) => /^\d+$/.test(pid) && pid !== String(process.pid) && mentions(pid));
    expect(left).toEqual([]);
    expect(readFileSync('/proc/mounts', 'utf8').split('\n').filter((line) => work.some((dir) => line.includes(dir)))).toEqual([]);
    for (const dir of work) expect(existsSync(dir), dir).toBe(false);
  });
});
