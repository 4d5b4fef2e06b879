// Which of a VM's backups to keep (keep-last/hourly/daily/weekly/monthly/yearly, counted as Proxmox's prune does), and deleting the rest safely.

import { lstat, readdir, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { VcbError } from '../errors.js';
import { completeExport, exportFileNames, VERIFIED_FILE } from '../export/index.js';
import { fsyncPath } from '../export/fsync-path.js';
import { newestFirst, type BackupEntry } from './backup-set.js';
import { refuseMountedBackup } from '../workflow/backup-mounts.js';

export interface KeepPolicy {
  last?: number;
  hourly?: number;
  daily?: number;
  weekly?: number;
  monthly?: number;
  yearly?: number;
}

export interface RetentionDecision {
  /** Newest first; each with the rules (and protection) that keep it. */
  keep: Array<{ entry: BackupEntry; reasons: string[] }>;
  /** Complete (and, when required, verified) backups no rule keeps. Newest first. */
  remove: Array<{ entry: BackupEntry; reason: string }>;
  /** Backups that neither count nor can be removed (incomplete, unverified), and why. Newest first. */
  ignored: Array<{ entry: BackupEntry; reason: string }>;
}

type Rule = keyof KeepPolicy;

/** The order Proxmox (and borg) apply the rules in: each later rule only sees what earlier ones left. */
const RULES: readonly Rule[] = ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly'];

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/**
 * ISO 8601 week of a local date: weeks start on Monday, and week 1 is the one holding the year's first
 * Thursday, so 2027-01-01 (a Friday) is in 2026-W53 and 2025-12-29 (a Monday) in 2026-W01. Computed on the
 * local calendar date (as UTC midnight, so that daylight saving days are still 24 hours long here).
 */
export function isoWeek(time: Date): { year: number; week: number } {
  const day = Date.UTC(time.getFullYear(), time.getMonth(), time.getDate());
  const weekday = (new Date(day).getUTCDay() + 6) % 7; // Monday 0 ... Sunday 6
  const thursday = new Date(day + (3 - weekday) * 86_400_000);
  const year = thursday.getUTCFullYear();
  const week = Math.floor((thursday.getTime() - Date.UTC(year, 0, 1)) / (7 * 86_400_000)) + 1;
  return { year, week };
}

/** The period a backup falls in for a rule, in local time, as the reason words print it. */
function periodOf(rule: Exclude<Rule, 'last'>, time: Date): string {
  const date = `${time.getFullYear()}-${pad(time.getMonth() + 1)}-${pad(time.getDate())}`;
  switch (rule) {
    case 'hourly':
      return `${date} ${pad(time.getHours())}:00`;
    case 'daily':
      return date;
    case 'weekly': {
      const { year, week } = isoWeek(time);
      return `${year}-W${pad(week)}`;
    }
    case 'monthly':
      return `${time.getFullYear()}-${pad(time.getMonth() + 1)}`;
    case 'yearly':
      return String(time.getFullYear());
  }
}

function checkPolicy(keep: KeepPolicy): void {
  for (const rule of RULES) {
    const n = keep[rule];
    if (n !== undefined && !(Number.isInteger(n) && n >= 0)) {
      throw new VcbError('USAGE', `keep.${rule}: ${String(n)} is not a count; give a whole number, 0 or more`);
    }
  }
}

/**
 * Decides which of a VM's backups to keep. Only complete backups (and, with requireVerified, verified ones)
 * count and can be removed; every other entry is ignored: never removed, never counted. So a failed or
 * partial run changes nothing: the decision depends only on the counted backups (not on the clock), and
 * those are the same as before the failed run.
 *
 * The rules, as Proxmox Backup Server's prune (and borg prune) count them: backups newest first; the rules
 * in the order last, hourly, daily, weekly, monthly, yearly; each keeps the newest backup of each of its N
 * most recent periods that hold a backup (hour, day, ISO week, month, year, in local time); a period that
 * already holds a backup an earlier rule kept does not use up a slot. Backups no rule keeps are removed.
 * With no keep value above 0, everything is kept.
 *
 * One difference from Proxmox, on purpose: Proxmox marks the older backups of a period a rule has filled as
 * removed at once, so a later rule never sees them. Weeks straddle months, so after keep-weekly took Sunday
 * 1 March, keep-monthly would then skip Friday 27 February (same week) and keep an older February backup.
 * Here a later rule sees every backup not kept yet, so keep-monthly keeps the newest of February, as borg.
 *
 * protect: directories kept whatever the rules say (the backup a run has just made).
 */
export function decideRetention(entries: readonly BackupEntry[], keep: KeepPolicy, opts: { requireVerified: boolean; protect?: readonly string[] }): RetentionDecision {
  checkPolicy(keep);
  const protect = new Set(opts.protect ?? []);
  const ignored: RetentionDecision['ignored'] = [];
  const counted: BackupEntry[] = [];
  const seen = new Set<string>();
  for (const entry of [...entries].sort(newestFirst)) {
    if (seen.has(entry.dir)) continue; // listed twice: the first listing speaks for it
    seen.add(entry.dir);
    if (!entry.complete) ignored.push({ entry, reason: `incomplete: ${entry.reason ?? 'not a complete export'}` });
    else if (opts.requireVerified && !entry.verified) ignored.push({ entry, reason: 'not verified' });
    else if (Number.isNaN(entry.time.getTime())) ignored.push({ entry, reason: 'no valid time' });
    else counted.push(entry);
  }

  const reasons = new Map<BackupEntry, string[]>();
  const keepAll = !RULES.some((rule) => (keep[rule] ?? 0) > 0);
  if (keepAll) {
    for (const entry of counted) reasons.set(entry, ['no keep option set: everything is kept']);
  } else {
    for (const rule of RULES) {
      const n = keep[rule] ?? 0;
      if (n === 0) continue;
      if (rule === 'last') {
        // keep-last: every backup is its own period.
        counted.slice(0, n).forEach((entry, index) => reasons.set(entry, [`keep-last ${index + 1}`]));
        continue;
      }
      const covered = new Set([...reasons.keys()].map((entry) => periodOf(rule, entry.time)));
      const filled = new Set<string>();
      for (const entry of counted) {
        if (filled.size >= n) break;
        if (reasons.has(entry)) continue;
        const period = periodOf(rule, entry.time);
        if (covered.has(period) || filled.has(period)) continue;
        filled.add(period);
        reasons.set(entry, [`keep-${rule} ${period}`]);
      }
    }
  }

  const decision: RetentionDecision = { keep: [], remove: [], ignored };
  for (const entry of counted) {
    const why = reasons.get(entry) ?? [];
    if (protect.has(entry.dir)) why.push('protected (the backup this run made)');
    if (why.length > 0) decision.keep.push({ entry, reasons: why });
    else decision.remove.push({ entry, reason: 'kept by no keep rule' });
  }
  return decision;
}

/** `--dry-run` lines, newest first: `keep   DIR  (keep-daily 2026-11-30)`, `delete DIR  (...)`, `ignore DIR  (incomplete: ...)`. */
export function formatRetentionPlan(decision: RetentionDecision): string[] {
  const lines: Array<{ entry: BackupEntry; line: string }> = [
    ...decision.keep.map(({ entry, reasons }) => ({ entry, line: `keep   ${entry.dir}  (${reasons.join(', ')})` })),
    ...decision.remove.map(({ entry, reason }) => ({ entry, line: `delete ${entry.dir}  (${reason})` })),
    ...decision.ignored.map(({ entry, reason }) => ({ entry, line: `ignore ${entry.dir}  (${reason})` })),
  ];
  return lines.sort((a, b) => newestFirst(a.entry, b.entry)).map((l) => l.line);
}

/** What applyRetention logs to: a pino Logger fits. */
export interface RetentionLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

/** Where a directory waits while retention deletes it: no longer a backup by its name (backup-set.ts skips it). */
export function deletingDirFor(dir: string, runId: string): string {
  return `${dir}.deleting-${runId}`;
}

async function absent(path: string): Promise<boolean> {
  return lstat(path).then(
    () => false,
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return true;
      throw error;
    },
  );
}

/** Throws unless dir is still the export of runId the decision saw, holding nothing vcbmounter did not write. */
async function checkStillTheBackup(dir: string, runId: string): Promise<void> {
  const info = await lstat(dir);
  if (!info.isDirectory()) throw new VcbError('DESTINATION', `${dir} is no longer a directory`);
  const catalog = completeExport(dir, runId);
  if (!catalog) throw new VcbError('DESTINATION', `${dir} no longer holds the catalog and state file of run ${runId} (replaced since it was listed?)`);
  const known = new Set([...exportFileNames(catalog), VERIFIED_FILE]);
  const others = (await readdir(dir)).filter((name) => !known.has(name));
  if (others.length > 0) {
    throw new VcbError('DESTINATION', `${dir} also holds ${others.map((n) => JSON.stringify(n)).join(', ')}, which vcbmounter did not write; move them away (or delete the directory by hand) and retention deletes it next time`);
  }
}

/** Deletes one backup: check, rename aside, check the renamed one is still it, rm -r. */
async function deleteBackup(entry: BackupEntry, log: RetentionLog): Promise<void> {
  const { dir, runId } = entry;
  if (!entry.complete || runId === undefined) throw new VcbError('INTERNAL', `${dir} is not a complete backup; retention never deletes it`);
  await checkStillTheBackup(dir, runId);
  const aside = deletingDirFor(dir, runId);
  if (!(await absent(aside))) throw new VcbError('DESTINATION', `${aside} is in the way (left by an earlier delete?); remove it by hand`);
  // Renamed first, so that a crash while deleting never leaves a half-deleted directory under a backup's name.
  await rename(dir, aside);
  await fsyncPath(dirname(dir));
  try {
    await checkStillTheBackup(aside, runId);
  } catch (error) {
    // Something was swapped in between the check and the rename: put it back as it was.
    if (await absent(dir)) {
      await rename(aside, dir);
      throw error;
    }
    throw new VcbError('DESTINATION', `${(error as Error).message}; it is now at ${aside}, and ${dir} was made again meanwhile: look at both`, {}, { cause: error });
  }
  try {
    await rm(aside, { recursive: true });
  } catch (error) {
    throw new VcbError('DESTINATION', `renamed ${dir} to ${aside} but could not delete it: ${(error as Error).message}; delete it by hand`, {}, { cause: error });
  }
  await fsyncPath(dirname(dir));
  log.info({ dir, runId, time: entry.time.toISOString() }, 'retention: deleted backup');
}

/**
 * Deletes the decision's `remove` directories, one after the other. Each is checked right before (still a
 * complete export of the run that was listed, nothing else in it), renamed to `<dir>.deleting-<runid>`,
 * then removed. A failure on one is reported and the others still go. A backup mount-backup has mounted (as
 * recorded in stateDir) is not deleted: reported as a failure, so it is kept this time.
 */
export async function applyRetention(
  decision: RetentionDecision,
  log: RetentionLog,
  /** Where mount-backup records its mounts (the job's state directory). */
  opts: { stateDir: string },
): Promise<{ removed: string[]; failed: Array<{ dir: string; error: string }> }> {
  const removed: string[] = [];
  const failed: Array<{ dir: string; error: string }> = [];
  const kept = new Set(decision.keep.map((k) => k.entry.dir));
  for (const { entry } of decision.remove) {
    try {
      if (kept.has(entry.dir)) throw new VcbError('INTERNAL', `${entry.dir} is both kept and removed by the decision; left alone`);
      // A backup someone is restoring files from stays; it is deleted by a later run once it is taken down.
      refuseMountedBackup(opts.stateDir, entry.dir, 'retention');
      await deleteBackup(entry, log);
      removed.push(entry.dir);
    } catch (error) {
      const message = (error as Error).message;
      log.warn({ dir: entry.dir, err: message }, 'retention: could not delete backup');
      failed.push({ dir: entry.dir, error: message });
    }
  }
  return { removed, failed };
}
