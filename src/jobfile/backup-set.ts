// A VM's backups: the fullvm export directories of that VM among the siblings in one parent directory, each judged complete or not.

import { lstat, readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  CATALOG_FILE,
  exportFileNames,
  INCOMPLETE_MARKER,
  isVerified,
  markVerified,
  parseCatalog,
  STATE_FILE,
  verifyExportDir,
  type Catalog,
  type ExportVerification,
  type VerifyOptions,
} from '../export/index.js';
import { normalizeUuid } from '../workflow/identify.js';

export { isVerified, markVerified, VERIFIED_FILE } from '../export/index.js';

export interface BackupEntry {
  /** Absolute path of the directory. */
  dir: string;
  /**
   * The catalog's startedAt: the export starts right after the `_VCB-BACKUP_` snapshot is taken, so this is
   * the moment the data is from. finishedAt can be hours later (past midnight, into another week): the
   * backup of Monday 23:30 that ends on Tuesday is still "Monday's backup". Without a readable catalog,
   * the directory's modification time (shown to people, never counted: such entries are incomplete).
   */
  time: Date;
  /** A published export of this VM whose catalog, state file and every file the catalog lists are there. */
  complete: boolean;
  /** Complete, and its verification record matches its catalog (see export/verified-record.ts). */
  verified: boolean;
  /** Why it is not complete. */
  reason?: string;
  /** The catalog's run; retention deletes a directory only while it still holds this run's catalog. */
  runId?: string;
}

export interface VmIdentity {
  name: string;
  /** The VM's BIOS UUID (as the catalog records it, `vm.biosUuid`): with the moref, finds its backups under an older name. */
  uuid?: string;
  /** The VM's moref (the catalog's `vm.vmid`): a copy of a VM keeps its BIOS UUID but is registered anew. */
  moref?: string;
}

/** Sibling names the run's own machinery uses: never a backup, whatever they hold (atomic-dir.ts, retention.ts). */
const WORK_DIR = /\.(partial|old|deleting)-[A-Za-z0-9_.-]+$/;
const WORK_DIR_WORDS: Record<string, string> = {
  partial: 'partial directory (an export not finished, or still being written)',
  old: 'an earlier backup set aside while a run replaced it (the run, cleanup or -U finishes it)',
  deleting: 'being deleted by retention (a run stopped while deleting it; delete it by hand)',
};

function isOfVm(catalog: Catalog, vm: VmIdentity): boolean {
  if (catalog.vm.name === vm.name) return true;
  // Renamed in place: the same registration (moref) and the same BIOS UUID, written as the .vmx writes it
  // (`56 4d ...-...`) or as vim-cmd prints it. The UUID alone is not enough: a VM copied by hand ("I moved
  // it") or a restored copy not yet powered on carries the original's, and retention must never take the
  // original's backups for the copy's.
  const sameUuid = vm.uuid !== undefined && catalog.vm.biosUuid !== undefined && normalizeUuid(vm.uuid) !== '' && normalizeUuid(catalog.vm.biosUuid) === normalizeUuid(vm.uuid);
  return sameUuid && vm.moref !== undefined && catalog.vm.vmid === vm.moref;
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return false;
      throw error;
    },
  );
}

type CatalogRead = { catalog: Catalog } | { missing: true } | { unreadable: string };

async function readCatalogOf(dir: string): Promise<CatalogRead> {
  let text: string;
  try {
    text = await readFile(join(dir, CATALOG_FILE), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { missing: true };
    return { unreadable: (error as Error).message };
  }
  try {
    return { catalog: parseCatalog(text) };
  } catch (error) {
    return { unreadable: (error as Error).message.replace(/\s+/g, ' ').slice(0, 300) };
  }
}

/** The state file's run and what it says the run still holds, or why it cannot be used. */
async function readState(dir: string): Promise<{ runId?: unknown; format?: unknown; held?: unknown } | string> {
  try {
    const state = JSON.parse(await readFile(join(dir, STATE_FILE), 'utf8')) as unknown;
    if (typeof state !== 'object' || state === null) return `${STATE_FILE} is not a JSON object`;
    return state as { runId?: unknown; format?: unknown; held?: unknown };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return `no ${STATE_FILE}`;
    return `${STATE_FILE} unreadable: ${(error as Error).message}`;
  }
}

/**
 * Why an export directory whose catalog parses is not a complete backup, or undefined when it is one.
 * Each check stands for a way a directory can look like a backup without being one: a run that failed to
 * remove its unfinished export (INCOMPLETE), a half-done `-U` (it removes the catalog and state file last,
 * so the disks go first), a run that still holds its snapshot on the host (exit 8; `-U` releases it).
 */
async function incompleteBecause(dir: string, catalog: Catalog): Promise<string | undefined> {
  if (await exists(join(dir, INCOMPLETE_MARKER))) return `${INCOMPLETE_MARKER} marker`;
  const state = await readState(dir);
  if (typeof state === 'string') return state;
  if (state.format !== 'vcbmounter-state' || state.runId !== catalog.runId) {
    return `${STATE_FILE} is not run ${catalog.runId}'s (it names ${JSON.stringify(state.runId)})`;
  }
  if (Array.isArray(state.held)) {
    const other = (state.held as Array<{ kind?: unknown; description?: unknown }>).filter((h) => h.kind !== 'export-dir');
    if (other.length > 0) {
      return `its run still holds ${other.map((h) => String(h.description ?? h.kind)).join(', ')} (release it with vcbmounter -U ${dir})`;
    }
  }
  const missing: string[] = [];
  for (const name of exportFileNames(catalog)) if (!(await exists(join(dir, name)))) missing.push(name);
  if (missing.length > 0) return `missing files: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? `, ... (${missing.length} in all)` : ''}`;
  // Data files shorter than the disk: cut off (a copy that stopped, a full file system on an rsync).
  for (const disk of catalog.disks) {
    let size = 0;
    for (const extent of disk.extentFiles) size += (await lstat(join(dir, extent))).size;
    if (size !== disk.capacity) return `${disk.descriptorFile}: its data files hold ${size} bytes, the catalog says ${disk.capacity}`;
  }
  return undefined;
}

async function entryFor(dir: string, vm: VmIdentity, name: string): Promise<BackupEntry | undefined> {
  const info = await lstat(dir).catch(() => undefined);
  // Symbolic links, files, sockets: not something vcbmounter made, never a candidate.
  if (!info?.isDirectory()) return undefined;
  const work = WORK_DIR.exec(name);
  const read = await readCatalogOf(dir);
  if (work) {
    // Listed (so that a summary can say it is there) only if it is this VM's, or cannot say whose it is.
    if ('catalog' in read && !isOfVm(read.catalog, vm)) return undefined;
    const time = 'catalog' in read ? new Date(read.catalog.startedAt) : info.mtime;
    return { dir, time, complete: false, verified: false, reason: WORK_DIR_WORDS[work[1]!]!, ...('catalog' in read ? { runId: read.catalog.runId } : {}) };
  }
  if ('missing' in read) {
    // A directory with neither catalog nor state file is not vcbmounter's at all (lost+found, a user's).
    if (!(await exists(join(dir, STATE_FILE)))) return undefined;
    return { dir, time: info.mtime, complete: false, verified: false, reason: 'no catalog' };
  }
  if ('unreadable' in read) return { dir, time: info.mtime, complete: false, verified: false, reason: `catalog unreadable: ${read.unreadable}` };
  const catalog = read.catalog;
  if (!isOfVm(catalog, vm)) return undefined;
  const time = new Date(catalog.startedAt);
  const reason = await incompleteBecause(dir, catalog);
  if (reason !== undefined) return { dir, time, complete: false, verified: false, reason, runId: catalog.runId };
  return { dir, time, complete: true, verified: await isVerified(dir, catalog), runId: catalog.runId };
}

/**
 * The backups of vm in parentDir (the directory a job's destination template puts them in, one sibling
 * per run), newest first. Only directories whose catalog names the VM (by name, or by BIOS UUID and moref
 * for a VM renamed since) are listed, plus those that cannot say whose they are but are vcbmounter's (a catalog
 * that does not parse, a state file without catalog, a partial directory without catalog), as incomplete.
 * Anything else in parentDir is left out: it is never a candidate for anything. A missing parentDir is [].
 */
export async function listBackups(parentDir: string, vm: VmIdentity): Promise<BackupEntry[]> {
  const parent = resolve(parentDir);
  let names: string[];
  try {
    names = await readdir(parent);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const entries = await Promise.all(names.map((name) => entryFor(join(parent, name), vm, name)));
  return entries.filter((e): e is BackupEntry => e !== undefined).sort(newestFirst);
}

/** Newest first; the same time ordered by directory name (reverse), so that the order never depends on readdir. */
export function newestFirst(a: BackupEntry, b: BackupEntry): number {
  const byTime = b.time.getTime() - a.time.getTime();
  if (byTime !== 0 && !Number.isNaN(byTime)) return byTime;
  return a.dir < b.dir ? 1 : a.dir > b.dir ? -1 : 0;
}

/**
 * Reads the export in dir back against its catalog (export/verify.ts: every file, the disks' allocated
 * blocks); when everything matches, writes the verification record and returns its path as `recorded`.
 */
export async function verifyBackup(dir: string, options: VerifyOptions = {}): Promise<ExportVerification & { recorded?: string }> {
  const result = await verifyExportDir(dir, options);
  if (!result.ok) return result;
  const recorded = await markVerified(dir, { disks: result.disks.map((d) => ({ descriptorFile: d.descriptorFile, digest: d.actualDigest })) });
  return { ...result, recorded };
}
