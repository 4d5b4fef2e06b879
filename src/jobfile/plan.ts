// From a job file and the hosts' VM listings to the backups to run: which VM, why, with which settings, in which order.

import { backupOptionsSchema, type BackupOptions } from '../workflow/options.js';
import type { VmListing } from '../workflow/vm-listing.js';
import { normalizeUuid } from '../workflow/identify.js';
import type { VmIdentity } from './backup-set.js';
import { backupsParent, renderDestination, timeStamp } from './destination.js';
import type { LoadedJob } from './load.js';
import type { BackupSettings, HostEntry } from './schema.js';
import { excluded, namesOneVm, selects } from './select.js';
import { jobNameOf } from './summary-types.js';

export interface VmTask {
  /** Position in the run's order (the file's order: entries, then the host's VM order). */
  index: number;
  host: string;
  vm: VmListing;
  /** The entry that selected it (`vms[1]`) and the terms that did. */
  entry: number;
  why: string;
  settings: BackupSettings;
  /**
   * Other VMs of this run whose backups land in the same directory and look the same to retention there (the
   * same name, or the same BIOS UUID and moref): retention is off for this VM, or one VM's rules could delete
   * the other's backups. As `esx01/web01 (moref 12)`.
   */
  sharesBackupsWith?: string[];
}

export interface JobPlan {
  tasks: VmTask[];
  /** Entries whose exact names matched nothing, VMs two entries select (the first wins), excluded VMs: said in the plan and the summary. */
  notes: string[];
  /** Problems that make the run incomplete: an exact selection that found no VM. */
  problems: string[];
}

const SECOND = 1000;

/** Every VM each entry selects, in file order; a VM two entries select is backed up once, as the first says. */
export function planJob(loaded: LoadedJob, listings: ReadonlyMap<string, readonly VmListing[]>): JobPlan {
  const { job } = loaded;
  const tasks: VmTask[] = [];
  const notes: string[] = [];
  const problems: string[] = [];
  const taken = new Map<string, number>();
  job.vms.forEach((entry, i) => {
    const vms = listings.get(entry.host);
    if (!vms) return;
    const hits = vms.filter((vm) => selects(vm, entry.select));
    for (const vm of hits) {
      const key = `${entry.host}\0${vm.moref}`;
      const first = taken.get(key);
      if (first !== undefined) {
        notes.push(`vms[${i}]: ${entry.host}/${vm.name} is already selected by vms[${first}], whose settings apply`);
        continue;
      }
      const ex = excluded(vm, entry.exclude);
      if (ex) {
        notes.push(`vms[${i}]: ${entry.host}/${vm.name} excluded by ${JSON.stringify(ex)}`);
        continue;
      }
      taken.set(key, i);
      const { host: _h, select: _s, exclude: _e, ...overrides } = entry;
      tasks.push({ index: tasks.length, host: entry.host, vm, entry: i, why: `vms[${i}] select ${entry.select.map((t) => JSON.stringify(t)).join(' ')}`, settings: { ...job.defaults, ...overrides } });
    }
    if (hits.length === 0) {
      const exact = entry.select.filter(namesOneVm);
      const text = `vms[${i}]: no VM on ${entry.host} matches ${entry.select.map((t) => JSON.stringify(t)).join(' ')}`;
      if (exact.length > 0) problems.push(`${text} (renamed or removed?)`);
      else notes.push(text);
    }
  });
  markSharedBackups(tasks, jobNameOf(loaded.path), new Date());
  return { tasks, notes, problems };
}

/** Who a task's backups belong to, as retention reads their catalogs. */
export function vmIdentity(task: VmTask): VmIdentity {
  return { name: task.vm.name, moref: task.vm.moref, ...(task.vm.uuid ? { uuid: task.vm.uuid } : {}) };
}

/** Why retention left a VM's backups alone: another VM of the run that it cannot be told from writes beside them. */
export function sharedBackupsText(task: VmTask, parent: string): string {
  return `retention skipped, nothing deleted: ${task.sharesBackupsWith!.join(', ')} also back(s) up into ${parent}, and retention cannot tell their backups from this VM's (the same name, or the same BIOS UUID and moref); give each VM a directory of its own, e.g. destination: /backup/{host}/{moref}/{time}`;
}

/** Two VMs retention could not tell apart among one directory's catalogs (as backup-set.ts's isOfVm compares them). */
function lookAlike(a: VmTask, b: VmTask): boolean {
  if (a.vm.name === b.vm.name) return true;
  return a.vm.uuid !== undefined && b.vm.uuid !== undefined && normalizeUuid(a.vm.uuid) === normalizeUuid(b.vm.uuid) && a.vm.moref === b.vm.moref;
}

/** Sets sharesBackupsWith on the exports whose backups would share a directory with a look-alike VM's, this run. */
function markSharedBackups(tasks: VmTask[], jobName: string, at: Date): void {
  const byParent = new Map<string, VmTask[]>();
  for (const task of tasks) {
    if ((task.settings.type ?? 'fullvm') !== 'fullvm') continue;
    const dir = destinationFor(task, jobName, at);
    if (!dir) continue;
    const parent = backupsParent(dir);
    byParent.set(parent, [...(byParent.get(parent) ?? []), task]);
  }
  for (const group of byParent.values()) {
    for (const task of group) {
      const others = group.filter((o) => o !== task && lookAlike(task, o)).map((o) => `${o.host}/${o.vm.name} (moref ${o.vm.moref})`);
      if (others.length) task.sharesBackupsWith = others;
    }
  }
}

/** The directory one VM's backup goes to, its placeholders filled in at `at`. */
export function destinationFor(task: VmTask, jobName: string, at: Date): string {
  if (task.settings.stream || task.settings.destination === undefined) return '';
  return renderDestination(task.settings.destination, {
    host: task.host,
    vm: task.vm.name,
    moref: task.vm.moref,
    time: timeStamp(at),
    date: timeStamp(at).slice(0, 8),
    job: jobName,
  });
}

function ms(seconds: number | undefined): number | undefined {
  return seconds === undefined ? undefined : Math.round(seconds * SECOND);
}

/** The single-backup options for one VM: the same workflow `vcbmounter -a moref:ID -r DIR` runs. */
export function backupOptionsFor(task: VmTask, h: HostEntry, password: string | undefined, dir: string, stateDir: string | undefined): BackupOptions {
  const s = task.settings;
  const t = s.timeouts ?? {};
  return backupOptionsSchema.parse({
    host: h.address,
    port: h.port,
    user: h.user,
    password,
    identityFile: h.identity,
    hostKey: h.hostKey,
    knownHosts: h.knownHosts,
    acceptNewHostKey: false,
    // The moref (vmid or .vmx path) found by the listing: a rename between the listing and the backup cannot redirect it.
    selector: `moref:${task.vm.moref}`,
    dir,
    type: s.type,
    mode: s.mode,
    monolithic: s.monolithic,
    commandSet: h.commandSet,
    preexistingMountpoint: 'fail',
    preexistingSnapshot: s.preexistingSnapshot,
    requireQuiesce: s.requireQuiesce,
    quiesce: s.quiesce,
    stateDir,
    snapshotTimeoutMs: ms(t.snapshot),
    cleanupTimeoutMs: ms(t.cleanup),
    commandTimeoutMs: ms(t.command),
    agent: s.agent,
    agentShell: s.agentShell,
    agentPreset: s.agentPreset,
    agentTimeoutMs: ms(t.agent),
    stream: s.stream,
    hook: s.hook,
    hookTimeoutMs: ms(t.hook),
    cold: s.cold,
    hardPowerOff: s.hardPowerOff,
    shutdownTimeoutMs: ms(t.shutdown),
    excludeDisks: s.excludeDisks,
  });
}
