// --hook: the user's script runs at each phase (a real sh script), in order, with VCB_* values; a failure stops the backup cleanly.

import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { binCommand } from '../../tools/test-support/bin-command.js';
import { isProcessAlive } from '../../src/engine/index.js';
import { smallInventory } from '../sim/integration/helpers.js';
import { readCatalog, SNAPSHOT_NAME, startBench, type Bench } from './cli-helpers.js';

interface HookCall {
  phase: string;
  vm: string;
  selector: string;
  dir: string;
  host: string;
  type: string;
  status: string;
  error: string;
  snapshotTime: string;
  /** Whether the backup snapshot was on the host when the hook ran (asked of the simulator by the test). */
  password: string;
}

/**
 * A hook that appends one JSON line per call to $HOOK_LOG, fails with status 3 at the phase named by
 * $HOOK_FAIL_AT, and at $HOOK_SLEEP_AT writes its pid to $HOOK_PID and sleeps.
 */
const HOOK_SCRIPT = `#!/bin/sh
esc() { printf '%s' "$1" | sed 's/\\\\/\\\\\\\\/g; s/"/\\\\"/g' | tr '\\n' ' '; }
printf '{"phase":"%s","vm":"%s","selector":"%s","dir":"%s","host":"%s","type":"%s","status":"%s","error":"%s","snapshotTime":"%s","password":"%s"}\\n' \\
  "$(esc "$1")" "$(esc "$VCB_VM")" "$(esc "$VCB_SELECTOR")" "$(esc "$VCB_DIR")" "$(esc "$VCB_HOST")" "$(esc "$VCB_TYPE")" \\
  "$(esc "$VCB_STATUS")" "$(esc "$VCB_ERROR")" "$(esc "$VCB_SNAPSHOT_TIME")" "$(esc "\${VCBMOUNTER_PASSWORD-unset}")" >> "$HOOK_LOG"
echo "hook says $1"
if [ "$1" = "$HOOK_SLEEP_AT" ]; then echo $$ > "$HOOK_PID"; exec sleep 120; fi
if [ "$1" = "$HOOK_FAIL_AT" ]; then echo "hook fails at $1" >&2; exit 3; fi
exit 0
`;

describe('--hook', () => {
  let bench: Bench;
  let hook: string;
  let n = 0;

  beforeAll(async () => {
    bench = await startBench(smallInventory([{ name: 'web01', vmid: 41, disks: [{ size: '16M', thin: true, fillBytes: '8M' }] }]));
    hook = join(bench.work, 'hook.sh');
    writeFileSync(hook, HOOK_SCRIPT);
    chmodSync(hook, 0o755);
  });
  afterAll(async () => bench?.stop());

  function calls(log: string): HookCall[] {
    return existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as HookCall) : [];
  }

  async function backup(env: Record<string, string> = {}) {
    const log = join(bench.work, `hook-${++n}.log`);
    const dir = join(bench.work, `web01-${n}`);
    const r = await bench.cli(['-a', 'name:web01', '-r', dir, '--hook', hook, '-L', '3'], { env: { HOOK_LOG: log, VCBMOUNTER_PASSWORD: 'not-for-hooks', ...env } });
    return { ...r, dir, calls: calls(log) };
  }

  const snapshotNames = () => bench.sim.esx.vm('web01').snapshots.map((s) => s.name);

  test('a backup calls every phase in order with its values; the hook never sees the password; its output is logged', async () => {
    const r = await backup();
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.calls.map((c) => c.phase)).toEqual(['job-start', 'backup-start', 'pre-snapshot', 'post-snapshot', 'backup-end', 'job-end']);
    for (const c of r.calls) {
      expect(c).toMatchObject({ selector: 'name:web01', dir: r.dir, host: `127.0.0.1:${bench.sim.port}`, type: 'fullvm', password: 'unset' });
    }
    expect(r.calls[0]!.vm, 'job-start knows only the selector').toBe('');
    expect(r.calls.slice(1, 5).every((c) => c.vm === 'web01')).toBe(true);
    expect(r.calls[2]!.snapshotTime).toBe('');
    expect(r.calls[3]!.snapshotTime).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(r.calls.find((c) => c.phase === 'backup-end')!.status).toBe('ok');
    expect(r.calls.find((c) => c.phase === 'job-end')!.status).toBe('ok');
    expect(r.stderr).toMatch(/"hook":"pre-snapshot".*hook says pre-snapshot/);
    expect(readCatalog(r.dir).disks).toHaveLength(1);
  });

  test.each([
    ['backup-start', ['job-start', 'backup-start', 'backup-abort', 'job-end']],
    ['pre-snapshot', ['job-start', 'backup-start', 'pre-snapshot', 'backup-abort', 'job-end']],
    ['post-snapshot', ['job-start', 'backup-start', 'pre-snapshot', 'post-snapshot', 'backup-abort', 'job-end']],
  ])('a hook failing at %s stops the backup with exit 11: no snapshot, no directory, abort and job-end told why', async (phase, expected) => {
    const r = await backup({ HOOK_FAIL_AT: phase });
    expect(r.exitCode, r.stderr).toBe(11);
    expect(r.stderr).toContain(`the hook ${hook} exited with status 3 at ${phase}`);
    expect(r.calls.map((c) => c.phase)).toEqual(expected);
    const abort = r.calls.find((c) => c.phase === 'backup-abort')!;
    expect(abort.status).toBe('failed');
    expect(abort.error).toContain(`at ${phase}`);
    expect(r.calls.at(-1)!.status).toBe('failed');
    expect(snapshotNames()).not.toContain(SNAPSHOT_NAME);
    expect(readdirSync(bench.work).filter((e) => e.startsWith(`web01-${n}`))).toEqual([]);
  });

  test('a hook failing at job-start stops everything before the host is contacted; at backup-end the export stays complete', async () => {
    const before = bench.sim.esx.vm('web01').snapshots.length;
    const start = await backup({ HOOK_FAIL_AT: 'job-start' });
    expect(start.exitCode, start.stderr).toBe(11);
    expect(start.calls.map((c) => c.phase)).toEqual(['job-start']);
    expect(existsSync(start.dir)).toBe(false);
    expect(bench.sim.esx.vm('web01').snapshots.length).toBe(before);

    const end = await backup({ HOOK_FAIL_AT: 'backup-end' });
    expect(end.exitCode, end.stderr).toBe(11);
    expect(end.calls.map((c) => c.phase)).toEqual(['job-start', 'backup-start', 'pre-snapshot', 'post-snapshot', 'backup-end', 'backup-abort', 'job-end']);
    expect(readCatalog(end.dir).disks).toHaveLength(1);
    expect(snapshotNames()).not.toContain(SNAPSHOT_NAME);
  });

  test('a hook that is not an executable file is a usage error before anything is contacted', async () => {
    const r = await bench.cli(['-a', 'name:web01', '-r', join(bench.work, 'never'), '--hook', join(bench.work, 'no-such-hook')]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/--hook .*no-such-hook: cannot run it \(ENOENT\)/);
  });

  test('SIGTERM while the hook runs at post-snapshot: the hook is stopped, the snapshot removed, abort and job-end say interrupted, exit 143', async () => {
    const log = join(bench.work, 'hook-sigterm.log');
    const pidFile = join(bench.work, 'hook.pid');
    const dir = join(bench.work, 'web01-sigterm');
    const run = binCommand(['-h', '127.0.0.1', '--port', String(bench.sim.port), '-u', 'root', '--host-key', bench.sim.fingerprint, '--state-dir', bench.stateDir, '-p', '-', '-a', 'name:web01', '-r', dir, '--hook', hook]);
    const child = spawn(run.command, run.args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, VCBMOUNTER_PASSWORD: '', HOOK_LOG: log, HOOK_SLEEP_AT: 'post-snapshot', HOOK_PID: pidFile } });
    child.stdin.end(`${bench.sim.password}\n`);
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    // One signal only: a second one forces the exit without cleanup.
    const poll = setInterval(() => {
      if (existsSync(pidFile) && readFileSync(pidFile, 'utf8').endsWith('\n')) {
        clearInterval(poll);
        child.kill('SIGTERM');
      }
    }, 50);
    const exitCode = await new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    clearInterval(poll);
    expect(exitCode, stderr).toBe(143);
    expect(isProcessAlive(Number(readFileSync(pidFile, 'utf8')))).toBe(false);
    expect(snapshotNames()).not.toContain(SNAPSHOT_NAME);
    const c = calls(log);
    expect(c.map((x) => x.phase)).toEqual(['job-start', 'backup-start', 'pre-snapshot', 'post-snapshot', 'backup-abort', 'job-end']);
    expect(c.at(-2)!.status).toBe('interrupted');
    expect(c.at(-1)!.status).toBe('interrupted');
    expect(existsSync(dir)).toBe(false);
  });

  test('--dry-run lists the hook phases among the steps', async () => {
    const r = await bench.cli(['-a', 'name:web01', '-r', join(bench.work, 'plan'), '--hook', hook, '--dry-run']);
    expect(r.exitCode, r.stderr).toBe(0);
    const steps = [...r.stdout.matchAll(/^\d+\. ([a-z-]+):/gm)].map((m) => m[1]);
    const hooks = ['hook-job-start', 'hook-backup-start', 'hook-pre-snapshot', 'snapshot', 'hook-post-snapshot', 'hook-backup-end', 'hook-job-end'];
    expect(steps.filter((s) => hooks.includes(s!))).toEqual(hooks);
    expect(steps[0]).toBe('hook-job-start');
    expect(steps.at(-1)).toBe('hook-job-end');
  });
});
