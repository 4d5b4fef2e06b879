// Helpers for the failure-path tests: a small simulated host, the built CLI as a child process, and the "nothing left behind" checks.

import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { mountsUnder } from '../../src/mount/mount-table.js';
import { execa, type ResultPromise } from 'execa';
import { expect } from 'vitest';
import { startSimulator, type Simulator } from '../../src/sim/simulator.js';
import type { FaultRule } from '../../src/sim/faults.js';
import { binCommand } from '../../tools/test-support/bin-command.js';
import { FAST_GUEST, smallInventory, waitUntil } from '../sim/integration/helpers.js';

export const SNAP = '_VCB-BACKUP_';

/** A VM with two 16 MiB disks holding 8 MiB of data each (so at least two dd commands), powered on with a busy guest. */
export function vmSpec(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, disks: [{ size: '16M', fillBytes: '8M' }, { size: '16M', fillBytes: '8M' }], guest: FAST_GUEST, ...extra };
}

export interface Bench {
  sim: Simulator;
  /** Temp dir holding the password file, the state dir and the backup destinations. */
  tmp: string;
  stateDir: string;
  passwordFile: string;
  /** Connection flags for the CLI (backup and cleanup alike). */
  connect: string[];
  stop(): Promise<void>;
}

/** `host` is the inventory's host entry (e.g. `{ kind: 'esx3' }`); ESXi by default. */
export async function startBench(vms: Array<Record<string, unknown>>, faults: FaultRule[] = [], host: Record<string, unknown> = {}): Promise<Bench> {
  const tmp = mkdtempSync(join(tmpdir(), 'vcb-failures-'));
  const sim = await startSimulator({ inventory: smallInventory(vms, host), faults, stateDir: join(tmp, 'sim') });
  const passwordFile = join(tmp, 'password');
  writeFileSync(passwordFile, sim.password, { mode: 0o600 });
  const stateDir = join(tmp, 'state');
  const connect = ['-h', '127.0.0.1', '--port', String(sim.port), '-u', 'root', '--password-file', passwordFile, '--host-key', sim.fingerprint, '--state-dir', stateDir];
  return {
    sim,
    tmp,
    stateDir,
    passwordFile,
    connect,
    async stop() {
      await sim.stop();
      // A failed -t file cell may have left volumes mounted under tmp: never delete through them.
      await detachMountsUnder(tmp);
      rmSync(tmp, { recursive: true, force: true });
    },
  };
}

/** Lazily detaches every mount under dir, deepest first (only a failed test leaves any). */
export async function detachMountsUnder(dir: string): Promise<void> {
  for (const m of mountsUnder(dir)) await execa('umount', ['-l', m.mountPoint], { reject: false });
}

/** Starts `vcbmounter <args>` as a child process (never rejects; bounded by a kill timeout). */
export function cli(args: string[]): ResultPromise<{ reject: false; all: false; timeout: number; forceKillAfterDelay: number; stdin: 'ignore' }> {
  const run = binCommand(args);
  return execa(run.command, run.args, { reject: false, all: false, timeout: 80_000, forceKillAfterDelay: 2_000, stdin: 'ignore' });
}

/** The flags of a backup of `vm` into `<tmp>/out-<vm>`. */
export function backupArgs(b: Bench, vm: string, extra: string[] = []): string[] {
  return [...b.connect, '-a', `name:${vm}`, '-r', outDir(b, vm), ...extra];
}

export function outDir(b: Bench, vm: string): string {
  return join(b.tmp, `out-${vm}`);
}

/** Adds a slow fault on dd so an export of 16 MiB takes seconds, long enough to interrupt. */
export function slowExport(sim: Simulator, bytesPerSecond = 1024 * 1024): void {
  sim.faults.add({ match: '^dd ', action: 'slow', bytesPerSecond });
}

/** Waits until the host has started a dd (the export is reading disks). Fault decisions are recorded before a command runs. */
export async function waitForExport(sim: Simulator): Promise<void> {
  await waitUntil(() => sim.faults.fired.some((f) => f.argv[0] === 'dd') || sim.commandLog.some((c) => c.argv[0] === 'dd'), 'the export to start a dd', 40_000);
}

/** What a VM looks like on the host, to compare before and after a run. */
export interface VmFootprint {
  userSnapshots: Array<{ uid: number; name: string }>;
  diskFileNames: string[];
  files: string[];
}

export function footprint(sim: Simulator, vm: string): VmFootprint {
  const v = sim.esx.vm(vm);
  return {
    userSnapshots: v.snapshots.filter((s) => s.name !== SNAP).map((s) => ({ uid: s.uid, name: s.name })),
    diskFileNames: v.spec.disks.map((_, i) => basename(v.diskPath(i))),
    files: sim.esx.vfs
      .list(v.dir)
      .filter((f) => /\.(vmdk|vmsn|vmx|vmsd)$/.test(f))
      .sort(),
  };
}

/**
 * Asserts the run left nothing behind: no backup snapshot, the user's snapshots (same uids), the .vmx
 * pointing where it did, no delta files of ours, no destination and no partial sibling.
 */
export function expectNothingLeft(b: Bench, vm: string, before: VmFootprint, opts: { dir?: string | false } = {}): void {
  const v = b.sim.esx.vm(vm);
  expect(v.snapshots.filter((s) => s.name === SNAP)).toEqual([]);
  expect(footprint(b.sim, vm)).toEqual(before);
  expectGuestReleased(b.sim, vm);
  const dir = opts.dir === undefined ? outDir(b, vm) : opts.dir;
  if (dir) {
    expect(existsSync(dir)).toBe(false);
    expect(partialSiblings(dir)).toEqual([]);
  }
}

/** The guest is not left frozen: every freeze was thawed, and every script run with "freeze" was run again with "thaw" or "freezeFail". */
export function expectGuestReleased(sim: Simulator, vm: string): void {
  const events = sim.esx.vm(vm).guest.events;
  expect(events.filter((e) => e.ev === 'thaw').length).toBe(events.filter((e) => e.ev === 'freeze').length);
  const runs = scriptsRun(sim, vm);
  for (const line of runs.filter((l) => l.endsWith(' freeze'))) {
    const script = line.slice(0, -' freeze'.length);
    if (script === 'pre-freeze-script') continue;
    expect(runs.filter((l) => l === `${script} thaw` || l === `${script} freezeFail`).length).toBe(runs.filter((l) => l === line).length);
  }
}

/** `<dir>.partial-*` (or any hidden partial) siblings of a destination. */
export function partialSiblings(dir: string): string[] {
  const parent = dirname(dir);
  if (!existsSync(parent)) return [];
  const base = basename(dir);
  return readdirSync(parent).filter((n) => n !== base && n.includes(base) && n.includes('partial'));
}

/** Script lines the guest ran, "path arg", in order. */
export function scriptsRun(sim: Simulator, vm: string): string[] {
  return sim.esx
    .vm(vm)
    .guest.events.filter((e) => e.ev === 'script')
    .map((e) => (e.ev === 'script' ? `${basename(e.path)} ${e.args.join(' ')}` : ''));
}

export { waitUntil };

/** stderr without the JSON log lines: what the CLI itself printed (the error message). */
export function message(stderr: string): string {
  return stderr
    .split('\n')
    .filter((l) => !l.startsWith('{'))
    .join('\n');
}
