// Snapshot creation on the simulated host: quiescing the guest (freeze/thaw scripts, sync driver) and creating the deltas.

import { posix } from 'node:path';
import { createCowd } from '../../formats/cowd.js';
import { createSesparse } from '../../formats/sesparse.js';
import type { DeltaFormat } from '../../formats/sparse-delta.js';
import { buildSnapshotDescriptor, formatDescriptor, parseDescriptor, SECTOR_SIZE } from '../../formats/vmdk-descriptor.js';
import type { Guest } from '../guest/guest.js';
import type { ConsolidationTarget } from './snapshot-remove.js';
import { UndoJournal } from './undo-journal.js';
import { diskSlot, diskStem } from './vm-files.js';
import { HostFault, type PowerState, type SnapshotRecord } from './vm-state.js';
import { currentSnapshot } from './snapshot-tree.js';
import { formatVmsd, hostdWritesVmsd } from './vmsd-file.js';

export interface SnapshotOptions {
  name: string;
  description: string;
  memory: boolean;
  quiesce: boolean;
  /** Forces the delta format of every link (an inventory's user snapshot); otherwise deltaFormatFor decides. */
  format?: DeltaFormat;
}

/** The parts of a VM taking a snapshot reads and changes. */
export interface SnapshotTarget extends ConsolidationTarget {
  readonly name: string;
  readonly power: PowerState;
  readonly toolsRunning: boolean;
  /** VMFS version of the datastore the deltas are created on (the VM's directory). */
  readonly vmfsVersion: 5 | 6;
  readonly guest: Guest;
  /** Aborted when the host stops: a hanging quiesce gives up. */
  readonly stopping: AbortSignal;
  diskPath(i: number): string;
  snapshotable(i: number): boolean;
  /** The VM's disk files changed: open chains must be reopened. */
  dropChains(): void;
  persist(): void;
}

const pad6 = (n: number) => String(n).padStart(6, '0');
const TWO_TIB = 2 * 1024 ** 4;

/**
 * The format a host gives a new snapshot delta (vSphere storage guide, "Snapshot Formats"): SEsparse for
 * every disk on VMFS6; on VMFS5, VMFSsparse (COWD) below 2 TiB and SEsparse from 2 TiB up (COWD cannot
 * address more than 2^32 - 1 sectors).
 */
export function deltaFormatFor(vmfsVersion: 5 | 6, diskBytes: number): DeltaFormat {
  return vmfsVersion === 6 || diskBytes >= TWO_TIB ? 'seSparse' : 'vmfsSparse';
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms).unref());

/**
 * Takes a snapshot the way the host does: with quiesce, runs the guest's freeze scripts, flushes
 * and holds guest I/O, creates the deltas, thaws, runs the thaw scripts. Rejects with a HostFault.
 */
export async function createSnapshot(vm: SnapshotTarget, opts: SnapshotOptions): Promise<SnapshotRecord> {
  if (opts.quiesce && vm.power === 'on') return quiescedSnapshot(vm, opts);
  vm.guest.marker('snapshot.begin', { name: opts.name, quiesce: false });
  return takeSnapshot(vm, { ...opts, quiesce: false });
}

function scriptPaths(vm: SnapshotTarget): { pre: string; post: string; dir: string } {
  return vm.spec.family === 'windows'
    ? { pre: 'C:\\Windows\\pre-freeze-script.bat', post: 'C:\\Windows\\post-thaw-script.bat', dir: 'C:\\Program Files\\VMware\\VMware Tools\\backupScripts.d\\' }
    : { pre: '/usr/sbin/pre-freeze-script', post: '/usr/sbin/post-thaw-script', dir: '/etc/vmware-tools/backupScripts.d/' };
}

async function runScript(vm: SnapshotTarget, path: string, arg: string, exitCode: number, durationMs: number): Promise<number> {
  if (durationMs > 0) await sleep(durationMs);
  vm.guest.script(path, [arg], exitCode);
  return exitCode;
}

async function quiescedSnapshot(vm: SnapshotTarget, opts: { name: string; description: string; memory: boolean }): Promise<SnapshotRecord> {
  if (!vm.toolsRunning) {
    throw new HostFault('vim.fault.ToolsUnavailable', 'Cannot create a quiesced snapshot because VMware Tools is not running in this virtual machine.', -8);
  }
  const q = vm.spec.quiesce;
  const paths = scriptPaths(vm);
  const scripts = [...q.backupScripts].sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
  vm.guest.marker('snapshot.begin', { name: opts.name, quiesce: true });
  const release = async (arg: 'thaw' | 'freezeFail') => {
    const failed: string[] = [];
    for (const s of [...scripts].reverse()) {
      const code = await runScript(vm, paths.dir + s.name, arg, arg === 'thaw' ? s.thawExit : 0, s.durationMs);
      if (code !== 0) failed.push(s.name);
    }
    if (q.postThaw) {
      if ((await runScript(vm, paths.post, arg, q.postThaw.exitCode, q.postThaw.durationMs)) !== 0) failed.push(paths.post);
    }
    return failed;
  };
  const freezeFailed = async (why: string, fault?: unknown): Promise<never> => {
    vm.guest.thaw();
    await release('freezeFail');
    vm.guest.marker('quiesce.failed', { reason: why });
    // The guest was quiesced, but what failed was saving the snapshot (a full datastore): hostd reports that fault.
    if (fault instanceof HostFault) throw fault;
    throw new HostFault('vim.fault.ApplicationQuiesceFault', `An error occurred while quiescing the virtual machine. ${why}`, -8);
  };
  if (q.preFreeze) {
    const code = await runScript(vm, paths.pre, 'freeze', q.preFreeze.exitCode, q.preFreeze.durationMs);
    if (code !== 0) return freezeFailed(`The pre-freeze script ${paths.pre} exited with status ${code}.`);
  }
  for (const s of scripts) {
    const code = await runScript(vm, paths.dir + s.name, 'freeze', s.freezeExit, s.durationMs);
    if (code !== 0) return freezeFailed(`The freeze script ${paths.dir + s.name} exited with status ${code}.`);
  }
  if (q.syncDriver === 'fail') return freezeFailed('The sync driver could not freeze the file systems.');
  vm.guest.freeze();
  if (q.syncDriver === 'hang') {
    await Promise.race([sleep(q.hangMs), new Promise((r) => vm.stopping.addEventListener('abort', r, { once: true }))]);
    return freezeFailed('Timed out while waiting for the file systems to freeze.');
  }
  let snap: SnapshotRecord;
  try {
    if (q.freezeMs > 0) await sleep(q.freezeMs);
    snap = takeSnapshot(vm, { ...opts, quiesce: true });
  } catch (e) {
    return freezeFailed((e as Error).message, e);
  }
  vm.guest.thaw();
  const failed = await release('thaw');
  if (failed.length) vm.guest.marker('thaw.failed', { scripts: failed });
  return snap;
}

/**
 * The atomic part of a snapshot: new deltas on every snapshotable disk, .vmx repointed, .vmsd updated (unless
 * hostd's .vmsd is stale or missing for this VM). On
 * failure (a full datastore) the new files are deleted and the .vmx and .vmsd put back, so the VM is as before.
 */
function takeSnapshot(vm: SnapshotTarget, opts: SnapshotOptions): SnapshotRecord {
  const cfg = vm.config();
  const created: string[] = [];
  const children: string[] = [];
  const disks: string[] = [];
  const n = vm.state.nextDelta;
  const uid = vm.state.lastUid + 1;
  const vmsd = `${vm.dir}/${vm.fileBase}.vmsd`;
  const journal = new UndoJournal(vm.vfs);
  let rec: SnapshotRecord;
  try {
    vm.spec.disks.forEach((disk, i) => {
      if (!vm.snapshotable(i)) {
        children.push('');
        disks.push('');
        return;
      }
      const parentPath = vm.diskPath(i);
      disks.push(parentPath);
      children.push(createDeltaLink(vm, i, disk.size, parentPath, n, created, opts.format ?? deltaFormatFor(vm.vmfsVersion, disk.size)));
    });
    const vmsn = `${vm.dir}/${vm.fileBase}-Snapshot${uid}.vmsn`;
    created.push(vmsn);
    vm.vfs.writeFile(vmsn, `snapshot state of ${vm.name}: ${opts.name}\n`);
    vm.spec.disks.forEach((d, i) => {
      if (children[i]) cfg.set(`${diskSlot(d, i)}.fileName`, posix.basename(children[i]!));
    });
    journal.rewrite(vm.state.vmxPath, cfg.format());
    rec = {
      uid,
      name: opts.name,
      description: opts.description,
      createdAt: Date.now(),
      quiesced: opts.quiesce,
      memory: opts.memory,
      powerState: vm.power,
      children,
      disks,
      parent: currentSnapshot(vm.state),
      vmsn,
    };
    if (hostdWritesVmsd(vm.spec)) {
      if (!vm.vfs.stat(vmsd)) {
        created.push(vmsd);
        vm.vfs.createFile(vmsd, { size: 0 });
      }
      journal.rewrite(vmsd, formatVmsd([...vm.state.snapshots, rec], uid, vm.fileBase, vm.spec, uid));
    }
  } catch (e) {
    undoFileChanges(vm, journal, created);
    const msg = (e as { code?: string }).code === 'ENOSPC' ? 'Insufficient disk space on datastore.' : (e as Error).message;
    throw new HostFault('vim.fault.FileFault', `An error occurred while saving the snapshot: ${msg}`, -1);
  }
  journal.keep();
  vm.state.lastUid = uid;
  vm.state.nextDelta = n + 1;
  vm.state.snapshots.push(rec);
  vm.state.current = uid;
  vm.dropChains();
  vm.persist();
  vm.guest.marker('snapshot.created', { name: opts.name, uid, quiesced: opts.quiesce });
  return rec;
}

/**
 * A new snapshot link for disk i on top of parentPath: a `-00000N-delta.vmdk` sparse extent and its descriptor.
 * Every file it makes is added to `created` first, so a caller that fails later can delete them. Returns the descriptor.
 */
export function createDeltaLink(
  vm: Pick<SnapshotTarget, 'vfs' | 'dir' | 'fileBase'>,
  i: number,
  size: number,
  parentPath: string,
  n: number,
  created: string[],
  format: DeltaFormat,
): string {
  const parent = parseDescriptor(vm.vfs.readFile(parentPath).toString('utf8'));
  const stem = diskStem(vm.fileBase, i);
  const childName = `${stem}-${pad6(n)}.vmdk`;
  const deltaName = `${stem}-${pad6(n)}-${format === 'seSparse' ? 'sesparse' : 'delta'}.vmdk`;
  const sectors = size / SECTOR_SIZE;
  created.push(`${vm.dir}/${deltaName}`);
  vm.vfs.createFile(`${vm.dir}/${deltaName}`, { size: 0, thin: true });
  const deltaFile = vm.vfs.open(`${vm.dir}/${deltaName}`);
  if (format === 'seSparse') createSesparse(deltaFile, { capacitySectors: sectors });
  else createCowd(deltaFile, { capacitySectors: sectors, parentFileName: posix.basename(parentPath) });
  const child = buildSnapshotDescriptor({
    capacitySectors: sectors,
    deltaFileName: deltaName,
    parentFileNameHint: posix.basename(parentPath),
    parentCid: parent.cid,
    format,
  });
  created.push(`${vm.dir}/${childName}`);
  vm.vfs.writeFile(`${vm.dir}/${childName}`, formatDescriptor(child));
  return `${vm.dir}/${childName}`;
}

/** Puts back what a failed snapshot operation rewrote (from its journal) and removes the files it created. */
export function undoFileChanges(vm: Pick<SnapshotTarget, 'vfs' | 'dropChains'>, journal: UndoJournal, created: string[]): void {
  journal.undo();
  for (const p of [...created].reverse()) {
    try {
      vm.vfs.remove(p);
    } catch {
      /* best effort */
    }
  }
  vm.dropChains();
}
