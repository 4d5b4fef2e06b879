// A verify of a whole fullvm export: every file its catalog lists, each disk's data read back (allocated blocks only) against its block list and digest.
//
// What can be checked, and how well: the catalog records a digest per disk (over its block list, which
// holds an xxh64, or in older exports a sha256, per non-zero 1 MiB block), so disk data is checked block by block and a problem is placed
// to the 1 MiB block. The descriptors are checked against the catalog (layout, extent names and sizes). The
// .vmx, .nvram, .vmsd and logs have no checksum in the catalog: only that they are there and readable.

import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { VcbError } from '../errors.js';
import { blockHashOf } from './block-digest.js';
import { CATALOG_FILE, parseCatalog, type Catalog, type CatalogDisk } from './catalog.js';
import { ChunkHashers, hasherCount } from './chunk-hashers.js';
import { closeDisk, prepareDisk, readDisk, type DiskVerification, type PreparedDisk } from './verify-disk.js';
import type { VerifyProblem } from './verify-problems.js';

export type { DiskVerification } from './verify-disk.js';

/**
 * Bytes of sha256-listed disks (older exports) to read from which blocks are hashed on worker threads (chunk-hashers.ts) while the main thread
 * reads: starting them costs tens of milliseconds idle, and measured 0.3 to 0.7 s on a loaded machine, which a smaller export does
 * not win back; past this, hashing on the thread that also reads is slower than many disks read.
 */
const HASH_THREADS_FROM = 1024 * 1024 * 1024;

export interface VerifiedFile {
  file: string;
  /** Present and readable; nothing more can be said (the catalog records no checksum for it). */
  ok: boolean;
  bytes?: number;
}

export interface ExportVerification {
  /** The directory, absolute. */
  dir: string;
  ok: boolean;
  runId: string;
  vm: string;
  disks: DiskVerification[];
  /** The .vmx and the VM's small files the catalog lists. */
  files: VerifiedFile[];
  /** Every problem found, disks' and files', in the order found (per disk, at most MAX_PROBLEMS_PER_DISK). */
  problems: VerifyProblem[];
  /** Problems found beyond those kept. */
  problemsOmitted: number;
  /** Sum of the disks' capacities. */
  bytesTotal: number;
  /** Bytes in the disks' allocated blocks: what was to be read. */
  bytesAllocated: number;
  bytesRead: number;
  durationMs: number;
}

export interface VerifyOptions {
  /** Bytes read so far and bytes to read in all, as the read goes. */
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
  /** sha256 block lists: hash on worker threads (true), on the main thread (false), or by the bytes to read (the default; HASH_THREADS_FROM). xxh64 lists always hash on the main thread. */
  hashThreads?: boolean;
}

/** The directory's catalog, or a USAGE error saying why DIR is not an export verify can check. */
export async function readExportCatalog(dir: string): Promise<Catalog> {
  const info = await stat(dir).catch((error: NodeJS.ErrnoException) => {
    throw new VcbError('USAGE', `${dir}: ${error.code === 'ENOENT' ? 'no such directory' : `cannot be read (${error.code ?? error.message})`}; expected a fullvm export directory made by vcbmounter`);
  });
  if (!info.isDirectory()) throw new VcbError('USAGE', `${dir} is not a directory; expected a fullvm export directory made by vcbmounter`);
  let text: string;
  try {
    text = await readFile(join(dir, CATALOG_FILE), 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new VcbError('USAGE', `${dir} has no readable ${CATALOG_FILE} (${code ?? (error as Error).message}): not a fullvm export made by vcbmounter (or its catalog was lost)`);
  }
  try {
    return parseCatalog(text);
  } catch (error) {
    const issue = (error as { issues?: Array<{ path: unknown[]; message: string }> }).issues?.[0];
    const where = issue ? `field ${issue.path.join('.') || '(top)'}: ${issue.message}` : (error as Error).message;
    throw new VcbError('USAGE', `${join(dir, CATALOG_FILE)} is not a vcbmounter catalog (${where})`);
  }
}

async function checkSmallFile(dir: string, file: string): Promise<{ entry: VerifiedFile; problem?: VerifyProblem }> {
  try {
    const bytes = (await readFile(join(dir, file))).length;
    return { entry: { file, ok: true, bytes } };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const missing = code === 'ENOENT' || code === 'EISDIR';
    return {
      entry: { file, ok: false },
      problem: { kind: missing ? 'missing-file' : 'unreadable-file', file, message: missing ? 'a file the catalog lists is missing' : `cannot be read (${code ?? (error as Error).message})` },
    };
  }
}

/**
 * Verifies the export in dir. Throws (VcbError USAGE) only when dir is not an export at all (no directory,
 * no catalog, a catalog that does not parse); everything wrong inside an export is a problem in the result.
 */
export async function verifyExportDir(dirArg: string, options: VerifyOptions = {}): Promise<ExportVerification> {
  const started = Date.now();
  const dir = resolve(dirArg);
  const catalog = await readExportCatalog(dir);
  const problems: VerifyProblem[] = [];
  const files: VerifiedFile[] = [];
  for (const file of [...new Set([catalog.vm.vmxFile, ...catalog.files])]) {
    const checked = await checkSmallFile(dir, file);
    files.push(checked.entry);
    if (checked.problem) problems.push(checked.problem);
  }
  const prepared: PreparedDisk[] = [];
  const disks: DiskVerification[] = [];
  let bytesRead = 0;
  let hashers: ChunkHashers | undefined;
  try {
    for (const disk of catalog.disks) prepared.push(await prepareDisk(dir, catalog, disk));
    const total = prepared.reduce((n, p) => n + p.bytesToRead, 0);
    const sha256Bytes = prepared.filter((p) => blockHashOf(p.disk) === 'sha256').reduce((n, p) => n + p.bytesToRead, 0);
    if (sha256Bytes > 0 && (options.hashThreads ?? sha256Bytes >= HASH_THREADS_FROM)) hashers = new ChunkHashers(hasherCount());
    options.onProgress?.(0, total);
    for (const p of prepared) {
      const result = await readDisk(dir, p, {
        ...(hashers ? { hashers } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
        onBytes: (n) => {
          bytesRead += n;
          options.onProgress?.(bytesRead, total);
        },
      });
      disks.push(result);
      problems.push(...result.problems);
    }
  } finally {
    await hashers?.close();
    for (const p of prepared) await closeDisk(p);
  }
  return {
    dir,
    ok: problems.length === 0 && disks.every((d) => d.ok),
    runId: catalog.runId,
    vm: catalog.vm.name,
    disks,
    files,
    problems,
    problemsOmitted: disks.reduce((n, d) => n + d.problemsOmitted, 0),
    bytesTotal: catalog.disks.reduce((n, d) => n + d.capacity, 0),
    bytesAllocated: prepared.reduce((n, p) => n + p.bytesToRead, 0),
    bytesRead,
    durationMs: Date.now() - started,
  };
}

/** Verifies one disk of the export in dir (its catalog entry given); problems of the other files are not looked for. */
export async function verifyExportDisk(dir: string, disk: CatalogDisk): Promise<DiskVerification> {
  const catalog = await readExportCatalog(dir);
  const prepared = await prepareDisk(dir, catalog, disk);
  try {
    return await readDisk(dir, prepared);
  } finally {
    await closeDisk(prepared);
  }
}

/** Verifies every disk listed in the directory's catalog. */
export async function verifyExport(dir: string): Promise<DiskVerification[]> {
  return (await verifyExportDir(dir)).disks;
}
