// `run --dry-run`: the whole plan in words (hosts, VMs and why, order, limits, retention), from the hosts' listings or from the file alone (--offline).

import type { Logger } from '../log.js';
import { backupsParent } from './destination.js';
import { listBackups } from './backup-set.js';
import { decideRetention, formatRetentionPlan } from './retention.js';
import { HostPool } from './host-pool.js';
import type { LoadedJob } from './load.js';
import { destinationFor, planJob, sharedBackupsText, vmIdentity, type VmTask } from './plan.js';
import { jobNameOf } from './summary-types.js';
import type { BackupSettings, HostEntry, KeepSettings } from './schema.js';
import type { HostSession } from '../workflow/connect.js';
import type { VmListing } from '../workflow/vm-listing.js';

function credentialText(h: HostEntry): string {
  const login = h.passwordFile ? `password from file ${h.passwordFile}` : h.passwordEnv ? `password from $${h.passwordEnv}` : h.password ? 'inline password' : '';
  return [login, h.identity ? `key ${h.identity}` : ''].filter(Boolean).join(', ');
}

function keepText(k: KeepSettings | undefined): string {
  const parts = Object.entries(k ?? {}).map(([n, v]) => `${n} ${v}`);
  return parts.length ? `keep ${parts.join(', ')}` : 'keep all (no keep:)';
}

function settingsText(s: BackupSettings): string {
  const how = s.stream ? `stream into ${s.agentPreset ?? s.agent}` : [s.agent ? `agent ${JSON.stringify(s.agent)}` : '', s.agentPreset ? `agent ${s.agentPreset}` : ''].filter(Boolean).join(' ');
  return [
    s.type ?? 'fullvm',
    s.mode ?? 'nbd',
    s.cold ? `cold${s.hardPowerOff ? ' (hard power-off allowed)' : ''}` : '',
    s.excludeDisks?.length ? `without ${s.excludeDisks.join(', ')}` : '',
    how,
    (s.type ?? 'fullvm') === 'fullvm' && !s.stream ? `${s.verify === false ? 'no verify' : 'verify'}, ${keepText(s.keep)}` : '',
  ]
    .filter(Boolean)
    .join('; ');
}

/** What retention would keep and delete once this VM's new backup is complete and verified. */
async function retentionLines(task: VmTask, dir: string): Promise<string[]> {
  const s = task.settings;
  if ((s.type ?? 'fullvm') !== 'fullvm' || s.stream || !s.keep || !dir) return [];
  if (task.sharesBackupsWith) return [`       ${sharedBackupsText(task, backupsParent(dir))}`];
  const entries = await listBackups(backupsParent(dir), vmIdentity(task));
  const next = { dir, time: new Date(), complete: true, verified: true };
  const decision = decideRetention([...entries, next], s.keep, { requireVerified: s.verify !== false, protect: [dir] });
  return formatRetentionPlan(decision).map((l) => `       ${l}`);
}

export async function dryRunText(loaded: LoadedJob, opts: { offline: boolean; log: Logger; signal: AbortSignal; openSession?: (host: string) => Promise<HostSession> }): Promise<string[]> {
  const { job } = loaded;
  const c = job.concurrency;
  const lines = [
    `job ${loaded.path} (dry run: nothing is backed up${opts.offline ? ', no host is contacted' : '; only the hosts\' VM listings are read'})`,
    `limits: ${c.total} at a time${c.perHost ? `, ${c.perHost} per host` : ''}${c.perDatastore ? `, ${c.perDatastore} per datastore` : ''}`,
    'hosts:',
    ...Object.entries(job.hosts).map(([n, h]) => `  ${n}: ${h.user}@${h.address}:${h.port}, ${credentialText(h)}, host key ${h.hostKey ?? `from ${h.knownHosts}`}`),
  ];
  if (opts.offline) {
    lines.push('selections (not resolved: --offline):');
    job.vms.forEach((e, i) => {
      const { host: _h, select: _s, exclude: _x, ...o } = e;
      lines.push(`  vms[${i}] on ${e.host}: select ${e.select.join(' ')}${e.exclude.length ? `, exclude ${e.exclude.join(' ')}` : ''}: ${settingsText({ ...job.defaults, ...o })}`);
    });
  } else {
    const pool = new HostPool(loaded, opts.log, opts.signal, opts.openSession);
    const listings = new Map<string, VmListing[]>();
    try {
      for (const host of new Set(job.vms.map((v) => v.host))) {
        try {
          listings.set(host, await pool.listing(host));
        } catch (e) {
          lines.push(`  ${host}: cannot list its VMs: ${(e as Error).message}`);
        }
      }
    } finally {
      await pool.closeAll();
    }
    const plan = planJob(loaded, listings);
    lines.push(`VMs, in the order they start (${plan.tasks.length}):`);
    const now = new Date();
    for (const t of plan.tasks) {
      const dir = destinationFor(t, jobNameOf(loaded.path), now);
      lines.push(`  ${t.index + 1}. ${t.host}/${t.vm.name} (moref ${t.vm.moref}, ${t.vm.power}, datastore ${t.vm.datastore || '?'}): ${t.why}`);
      lines.push(`       ${settingsText(t.settings)}${dir ? ` -> ${dir}` : ''}`);
      lines.push(...(await retentionLines(t, dir)));
    }
    for (const n of [...plan.notes, ...plan.problems]) lines.push(`  note: ${n}`);
  }
  if (job.notify.length) lines.push(`notify: ${job.notify.length} target(s) after the run`);
  return lines;
}
