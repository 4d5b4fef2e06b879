// The restore job's cells of the fault matrix: one export made once, then per cell a fresh host, a restore with the fault, and the restore's promises.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { expect } from 'vitest';
import { DRILL_STEPS, RESTORE_STEPS } from '../../src/jobs/restore.js';
import { parseCatalog } from '../../src/export/index.js';
import type { FaultRule } from '../../src/sim/faults.js';
import { DATASTORE } from '../sim/integration/helpers.js';
import { cli, footprint, startBench, vmSpec, type Bench } from '../failures/helpers.js';
import { attribute, expectNothingHeld, withoutTies, type Attribution, type StepList, type StepTarget } from './matrix.js';

/** The restore job's steps, as the matrix reads a job type's. */
export const RESTORE = { name: 'restore', steps: RESTORE_STEPS } satisfies StepList;
/** restore --drill's steps: the same restore under a temporary name, then the heartbeat and the removal. */
export const DRILL = { name: 'restore --drill', steps: DRILL_STEPS } satisfies StepList;

/** The VM backed up (it stays registered and running while its backup is restored next to it). */
export const ORIGINAL = 'vm1';
/** The name a plain cell restores under (a copy next to the original). */
export const NEW = 'vm1-new';
/** A powered-off VM an overwrite cell replaces with the backup (`--name vm1-old -b overwrite`). */
export const OLD = 'vm1-old';

/**
 * How a cell restores: `new` as a copy next to the original, powered on (every step but replace and finish
 * runs host commands); `overwrite` over the powered-off OLD, the only way replace and finish run any;
 * `drill` (restore --drill) under a temporary name, powered on until its Tools report in, then removed.
 */
export type Mode = 'new' | 'overwrite' | 'drill';

/** A drill gives up waiting for the heartbeat after this long (the matrix guest's Tools answer at once). */
const DRILL_TIMEOUT = ['--drill-timeout', '20'];

/** Bounds as short as the backup cells' (a hang is cut off in seconds); restore has no snapshot to wait for. */
export const RESTORE_TIMEOUTS = ['--command-timeout', '5', '--cleanup-timeout', '20'];

const IDLE = { writesPerSecond: 0 };
/** Small disks, two of them so the disks step runs more than one dd; idle guests so every byte can be compared. */
const VMS = [
  vmSpec(ORIGINAL, { disks: [{ size: '4M', fillBytes: '2M' }, { size: '4M', fillBytes: '1M' }], guest: IDLE }),
  { name: OLD, power: 'off', disks: [{ size: '4M', fillBytes: '1M' }], guest: IDLE },
];

/** Backs the original up once (into a directory of its own, outside any cell's bench): every cell restores it. */
export async function makeExport(): Promise<{ dir: string; remove(): void }> {
  const parent = mkdtempSync(join(tmpdir(), 'vcb-restore-matrix-'));
  const dir = join(parent, 'export');
  const bench = await startBench(VMS);
  try {
    // A boot sector's signature, so that the drill's guest boots and its Tools report a heartbeat.
    bench.sim.esx.vm(ORIGINAL).writeAsGuest(0, 510, Buffer.from([0x55, 0xaa]));
    const r = await cli([...bench.connect, '-a', `name:${ORIGINAL}`, '-r', dir]);
    expect(r.exitCode, r.stderr).toBe(0);
  } finally {
    await bench.stop();
  }
  return { dir, remove: () => rmSync(parent, { recursive: true, force: true }) };
}

export function restoreArgs(bench: Bench, source: string, mode: Mode): string[] {
  const target = { new: ['--name', NEW, '--power-on'], overwrite: ['--name', OLD, '-b', 'overwrite'], drill: ['--drill', ...DRILL_TIMEOUT] }[mode];
  return ['restore', ...bench.connect, '-s', source, ...target, ...RESTORE_TIMEOUTS];
}

/** Per mode: each step's first host command and every command it ran. */
export type RestoreProbe = Record<Mode, Attribution>;

/** The step list a mode runs: --drill's, or the plain restore's. */
export const stepListOf = (mode: Mode) => (mode === 'drill' ? DRILL : RESTORE);

/** A fault-free restore in each mode, its host commands attributed to the steps (as the backup cells' probe). */
export async function probeRestore(source: string): Promise<RestoreProbe> {
  const once = (mode: Mode) =>
    withoutTies(async (acceptTies) => {
      const bench = await startBench(VMS);
      try {
        const r = await cli(restoreArgs(bench, source, mode));
        expect(r.exitCode, r.stderr).toBe(0);
        return attribute(stepListOf(mode), r.stderr, bench.sim.commandLog, Date.now(), acceptTies);
      } finally {
        await bench.stop();
      }
    });
  return { new: await once('new'), overwrite: await once('overwrite'), drill: await once('drill') };
}

/** Every command each step ran is one its hostCommands declare. */
export function expectDeclared(p: RestoreProbe): void {
  for (const mode of ['new', 'overwrite', 'drill'] as const) {
    const found = p[mode];
    for (const step of stepListOf(mode).steps) {
      for (const { line } of found.commands.get(step.name) ?? []) {
        expect(step.hostCommands.some((re) => new RegExp(re).test(line)), `step ${step.name} declares ${line}`).toBe(true);
      }
    }
  }
}

/** The mode in which a step runs host commands (plain first), and its first one there; none for a step that runs none. */
export function targetOf(p: RestoreProbe, step: string): { mode: Mode; target?: StepTarget } {
  const plain = p.new.targets.get(step);
  if (plain) return { mode: 'new', target: plain };
  const over = p.overwrite.targets.get(step);
  return over ? { mode: 'overwrite', target: over } : { mode: 'new' };
}

const DS = `/vmfs/volumes/${DATASTORE}`;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A VM as the cell compares it: registration, power, files, .vmx text and disk bytes. */
function snapshotOf(bench: Bench, name: string) {
  const vm = bench.sim.esx.vm(name);
  return {
    power: vm.power,
    footprint: footprint(bench.sim, name),
    vmx: bench.sim.esx.vfs.readFile(vm.state.vmxPath).toString('utf8'),
    disks: vm.spec.disks.map((_, i) => sha(vm.readDisk(i))),
  };
}

export interface RestoreCell {
  bench: Bench;
  source: string;
  mode: Mode;
  /** The original's and the VM to be replaced as they were, the datastore's folders, the registered VMs' names. */
  original: ReturnType<typeof snapshotOf>;
  old: ReturnType<typeof snapshotOf>;
  folders: string[];
}

export async function startRestoreCell(source: string, mode: Mode, faults: FaultRule[] = []): Promise<RestoreCell> {
  const bench = await startBench(VMS);
  const cell = { bench, source, mode, original: snapshotOf(bench, ORIGINAL), old: snapshotOf(bench, OLD), folders: folders(bench) };
  for (const f of faults) bench.sim.faults.add(f);
  return cell;
}

function folders(bench: Bench): string[] {
  return bench.sim.esx.vfs.list(DS).sort();
}

function registered(bench: Bench): string[] {
  return bench.sim.esx
    .vms()
    .map((v) => v.name)
    .sort();
}

/**
 * The restore's promises, after the run and whatever recovery its exit code calls for: the original VM
 * untouched (registered, running, its files, .vmx and disk bytes); nothing open in the state directory; and
 * either the restore complete (`restored`) or nothing of it left: no VM registered under the new name, no
 * folder of its on the datastore, a VM -b overwrite was replacing put back as it was. A drill keeps nothing
 * whatever its outcome: no drill VM registered, no folder of it, OLD untouched.
 */
export function expectRestorePromises(cell: RestoreCell, opts: { restored: boolean }): void {
  const { bench, mode } = cell;
  expect(snapshotOf(bench, ORIGINAL), 'the original VM is untouched').toEqual(cell.original);
  if (mode === 'drill') {
    // Whatever happened, a drill keeps nothing: its VM is never left registered, its folder never left behind.
    expect(registered(bench), 'no drill VM registered').toEqual([ORIGINAL, OLD].sort());
    expect(folders(bench), 'no folder of the drill VM on the datastore').toEqual(cell.folders);
    expect(snapshotOf(bench, OLD), `${OLD} untouched`).toEqual(cell.old);
  } else if (mode === 'new') {
    if (opts.restored) {
      expect(registered(bench)).toEqual([ORIGINAL, NEW, OLD].sort());
      expect(bench.sim.esx.vm(NEW).power).toBe('on');
      expect(folders(bench)).toEqual([...cell.folders, NEW].sort());
      expectBackupsDisks(cell, NEW);
    } else {
      expect(registered(bench), `nothing registered as ${NEW}`).toEqual([ORIGINAL, OLD].sort());
      expect(folders(bench), `no folder of ${NEW} on the datastore`).toEqual(cell.folders);
    }
  } else {
    expect(registered(bench), `${OLD} registered once`).toEqual([ORIGINAL, OLD].sort());
    expect(folders(bench), 'no folder set aside or left over').toEqual(cell.folders);
    if (opts.restored) expectBackupsDisks(cell, OLD);
    else expect(snapshotOf(bench, OLD), `${OLD} put back as it was`).toEqual(cell.old);
  }
  expectNothingHeld(cell);
}

/** The restored VM's disks are the export's, byte for byte. */
function expectBackupsDisks(cell: RestoreCell, name: string): void {
  const vm = cell.bench.sim.esx.vm(name);
  const catalog = parseCatalog(readFileSync(join(cell.source, 'catalog'), 'utf8'));
  for (const [i, d] of catalog.disks.entries()) {
    const exported = Buffer.concat(d.extentFiles.map((f) => readFileSync(join(cell.source, f))));
    expect(sha(vm.readDisk(i)), `disk ${i} of ${name} is the backup's`).toBe(sha(exported));
  }
}

/** Whether a cell's restore is in place (a run killed late may have finished): the copy registered, or OLD holding other disks. */
export function restoredNow(cell: RestoreCell): boolean {
  if (cell.mode === 'drill') return false;
  if (cell.mode === 'new') return registered(cell.bench).includes(NEW);
  return registered(cell.bench).includes(OLD) && snapshotOf(cell.bench, OLD).disks.join() !== cell.old.disks.join();
}
