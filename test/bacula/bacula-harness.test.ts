// The Bacula harness itself, with real daemons and plain shell RunScripts: backup and restore, a failing Before
// script, what a cancel runs, and Maximum Concurrent Jobs across two file daemons.

import { describe, test, expect, beforeAll, afterAll } from 'vitest';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startBacula, type BaculaSite } from '../../tools/test-support/bacula.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitForFile(file: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(file)) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

function script(file: string, body: string): void {
  writeFileSync(file, `#!/bin/sh\nset -e\n${body}\n`);
  chmodSync(file, 0o755);
}

/** `start <ns>` and `end <ns>` lines that timed.sh wrote for a job. */
function span(file: string): { start: number; end: number } {
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  const field = (name: string) => Number(lines.find((line) => line.startsWith(`${name} `))!.split(' ')[1]) / 1e6;
  return { start: field('start'), end: field('end') };
}

describe('bacula harness (real bacula-dir, bacula-sd, two bacula-fd)', () => {
  let site: BaculaSite;
  let work: string;
  const marker = (name: string) => join(work, 'markers', name);

  beforeAll(async () => {
    site = await startBacula({
      fileDaemons: 2,
      // The second client runs one job at a time: the director queues the next one on it.
      clientMaximumConcurrentJobs: [10, 1],
      jobs: (dir) => {
        const m = (name: string) => join(dir, 'markers', name);
        const onFailure = (name: string) => [
          { when: 'After' as const, command: `/usr/bin/touch ${m(`${name}-client-after`)}`, runsOnSuccess: false, runsOnFailure: true },
          {
            when: 'After' as const,
            command: `/usr/bin/touch ${m(`${name}-director-after`)}`,
            runsOnSuccess: false,
            runsOnFailure: true,
            runsOnClient: false,
          },
        ];
        return [
          { name: 'random-file', directory: join(dir, 'random'), runScripts: [{ when: 'Before', command: `${dir}/make-random.sh ${dir}/random` }] },
          {
            name: 'before-fails',
            directory: join(dir, 'random'),
            runScripts: [{ when: 'Before', command: `/bin/sh -c 'echo failing on purpose; exit 1'` }, ...onFailure('before-fails')],
          },
          {
            name: 'cancel-in-before',
            directory: join(dir, 'random'),
            runScripts: [{ when: 'Before', command: `${dir}/slow-before.sh ${m('cancel-in-before')}` }, ...onFailure('cancel-in-before')],
          },
          {
            name: 'cancel-in-transfer',
            directory: join(dir, 'big'),
            // 5 MB at 200 kB/s: the FD is still sending when the test cancels.
            maximumBandwidth: '200 kb/s',
            runScripts: [{ when: 'Before', command: `/bin/sh -c 'mkdir -p ${dir}/big; head -c 5000000 /dev/urandom > ${dir}/big/file'` }, ...onFailure('cancel-in-transfer')],
          },
          { name: 'vm-a', client: 0, directory: join(dir, 'small'), runScripts: [{ when: 'Before', command: `${dir}/meet.sh ${m('vm-a')} ${m('vm-b')}` }] },
          { name: 'vm-b', client: 1, directory: join(dir, 'small'), runScripts: [{ when: 'Before', command: `${dir}/meet.sh ${m('vm-b')} ${m('vm-a')}` }] },
          { name: 'vm-b2', client: 1, directory: join(dir, 'small'), runScripts: [{ when: 'Before', command: `${dir}/timed.sh ${m('vm-b2')}` }] },
          { name: 'vm-c', client: 1, directory: join(dir, 'small'), runScripts: [{ when: 'Before', command: `${dir}/timed.sh ${m('vm-c')}` }] },
        ];
      },
    });
    work = site.work;
    mkdirSync(join(work, 'markers'));
    mkdirSync(join(work, 'small'));
    writeFileSync(join(work, 'small', 'disk'), 'small');
    script(join(work, 'make-random.sh'), 'mkdir -p "$1"\nhead -c 300000 /dev/urandom > "$1/disk.bin"\necho "made $1/disk.bin"');
    script(join(work, 'slow-before.sh'), 'touch "$1-started"\nsleep 3\ntouch "$1-before-ended"');
    script(join(work, 'meet.sh'), 'touch "$1"\ni=0\nwhile [ ! -e "$2" ]; do\n  i=$((i + 1))\n  if [ $i -gt 200 ]; then echo "$2 did not start within 20 s"; exit 1; fi\n  sleep 0.1\ndone');
    script(join(work, 'timed.sh'), 'echo "start $(date +%s%N)" > "$1"\nsleep 1\necho "end $(date +%s%N)" >> "$1"');
  });

  afterAll(async () => {
    await site?.stop();
  });

  test('a Before script makes the data, the job backs it up, a restore gives back the same bytes', async () => {
    const backup = await site.runJob('random-file');
    expect(backup.status, backup.log).toBe('T');
    expect(backup.log).toContain(`ClientBeforeJob: made ${work}/random/disk.bin`);

    const where = join(work, 'restored');
    const restore = await site.restore({ jobId: backup.jobId, where });
    expect(restore.status, restore.log).toBe('T');
    expect(readFileSync(join(where, work, 'random', 'disk.bin')).equals(readFileSync(join(work, 'random', 'disk.bin')))).toBe(true);
  });

  test('a Before script that exits 1 fails the job (f), and the RunsOnFailure After scripts of client and director run', async () => {
    const result = await site.runJob('before-fails');
    expect(result.status, result.log).toBe('f');
    expect(result.log).toContain('ClientBeforeJob returned non-zero status=1');
    expect(existsSync(marker('before-fails-client-after'))).toBe(true);
    expect(existsSync(marker('before-fails-director-after'))).toBe(true);
  });

  test('cancel during the Before script: the director-side After runs at once; the FD lets the Before script finish, then runs its After', async () => {
    const jobId = await site.startJob('cancel-in-before');
    expect(await waitForFile(marker('cancel-in-before-started'), 20_000), site.diagnostics()).toBe(true);
    await site.cancel(jobId);
    const result = await site.waitJob(jobId);
    expect(result.status, result.log).toBe('A');
    // The director has reported A and run its own After script while the client's Before script still sleeps.
    expect(existsSync(marker('cancel-in-before-director-after'))).toBe(true);
    expect(existsSync(marker('cancel-in-before-before-ended'))).toBe(false);
    expect(existsSync(marker('cancel-in-before-client-after'))).toBe(false);
    // Bacula does not kill the running Before script; when it ends, the FD runs the RunsOnFailure After script.
    expect(await waitForFile(marker('cancel-in-before-client-after'), 10_000)).toBe(true);
    expect(existsSync(marker('cancel-in-before-before-ended'))).toBe(true);
  });

  test('cancel during the transfer: both RunsOnFailure After scripts run', async () => {
    const jobId = await site.startJob('cancel-in-transfer');
    await waitForFile(join(work, 'big', 'file'), 20_000);
    await sleep(1_500);
    await site.cancel(jobId);
    const result = await site.waitJob(jobId);
    expect(result.status, result.log).toBe('A');
    expect(existsSync(marker('cancel-in-transfer-director-after'))).toBe(true);
    expect(await waitForFile(marker('cancel-in-transfer-client-after'), 5_000)).toBe(true);
  });

  test('two file daemons run jobs at the same time; a client with Maximum Concurrent Jobs = 1 runs its second job after the first', async () => {
    // Each Before script waits for the other job's to have started: both end T only if they ran at the same time.
    const [a, b] = await Promise.all([site.startJob('vm-a'), site.startJob('vm-b')]);
    const [resultA, resultB] = await Promise.all([site.waitJob(a), site.waitJob(b)]);
    expect(resultA.status, resultA.log).toBe('T');
    expect(resultB.status, resultB.log).toBe('T');

    const [b2, c] = await Promise.all([site.startJob('vm-b2'), site.startJob('vm-c')]);
    const [resultB2, resultC] = await Promise.all([site.waitJob(b2), site.waitJob(c)]);
    expect(resultB2.status, resultB2.log).toBe('T');
    expect(resultC.status, resultC.log).toBe('T');
    const [first, second] = [span(marker('vm-b2')), span(marker('vm-c'))].sort((x, y) => x.start - y.start);
    expect(second!.start).toBeGreaterThanOrEqual(first!.end);
  });
});

test("a configuration a daemon rejects fails startBacula with the daemon's message", async () => {
  await expect(startBacula({ jobs: [{ name: 'bad', directory: '/nonexistent', maximumBandwidth: 'lots' }] })).rejects.toThrow(
    /bacula-dir rejected its configuration[\s\S]*expected a speed number, got: lots/,
  );
});
