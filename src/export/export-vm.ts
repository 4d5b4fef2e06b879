// Writes the fullvm export of one VM into its partial directory: disks (sparse flat VMDKs), small files, catalog, state.

import { setMaxListeners } from 'node:events';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { VcbError } from '../errors.js';
import type { Transport } from '../transport/types.js';
import type { DeltaFormat } from '../formats/sparse-delta.js';
import { applyDeltaOverlay, deltaFormatName, deltaProblem, fetchFileByCat, fetchFileWithReader } from '../vlun/overlay.js';
import { allocatedBytes, throwIfAborted, type BlockMap, type ByteRange, type DiskReader, type DiskSource, type ReadOptions } from '../vlun/types.js';
import { startPartialDirectory, type Preexisting } from './atomic-dir.js';
import { CATALOG_FILE, formatCatalog, type Catalog, type CatalogDisk, type SkippedDisk } from './catalog.js';
import { FlatDiskWriter, type DiskLayout } from './flat-disk-writer.js';
import { fsyncPath } from './fsync-path.js';
import { allOrFirstError } from '../util/settle.js';
import { writeStateFile } from './state-file.js';
import { exportDescriptorNames, isCopyableVmFile, rewriteVmxDiskFileNames, vmsdWithoutSnapshots } from './vm-files.js';

/** A user's snapshot delta under ours (frozen), as the export reads it. */
export interface DeltaInput {
  /** Host path of the delta file itself (the `-delta.vmdk` or `-sesparse.vmdk`, not its descriptor). */
  dataPath: string;
  /** The delta's format as its descriptor names it; the fetched file must be of it. Unset: either format. */
  format?: DeltaFormat;
  /** Its block map, where the host gave one (`vmkfstools -t0` of the link's descriptor): san reads the delta through it. */
  blockMap?: BlockMap;
  /** Why there is no map when the host was asked for one and gave none it could use (said in the san fallback's warning). */
  unmapped?: string;
}

export interface ExportDiskInput {
  /** Controller slot as in the .vmx, e.g. `scsi0:0`. */
  slot: string;
  /** `[datastore] dir/name.vmdk` of the base disk. */
  sourceDatastorePath: string;
  capacity: number;
  thin: boolean;
  adapterType?: string;
  /** The frozen base `-flat.vmdk` (or a virtual RDM's mapping file) and its block map. */
  base: DiskSource;
  /** Reads the base instead of options.reader (a san export reads an RDM, whose data is not on the datastore LUN, through the host). */
  baseReader?: DiskReader;
  /** Users' snapshot deltas older than ours (frozen), oldest first. */
  deltas?: DeltaInput[];
  /** The source disk is a raw device mapping in virtual compatibility mode; recorded in the catalog. */
  rdm?: 'virtual';
}

export interface ExportVmOptions {
  destination: string;
  runId: string;
  preexisting?: Preexisting;
  /** `-M 1` monolithicFlat, `-M 0` twoGbMaxExtentFlat. */
  diskLayout: DiskLayout;
  /** Extent size for twoGbMaxExtentFlat; default 2 GiB. */
  splitExtentBytes?: number;
  reader: DiskReader;
  /** Runs `cat` for the small files (and, in nbd modes, the snapshot deltas). */
  transport: Transport;
  host: { name: string; version: string };
  vm: { name: string; vmid?: string; biosUuid?: string; vmxDatastorePath: string; vmxPath: string };
  snapshot: { name: string; id?: string; quiesced: boolean; cold?: 'shut-down' | 'powered-off-hard' | 'was-off' };
  toolVersion: string;
  disks: ExportDiskInput[];
  skippedDisks?: SkippedDisk[];
  /** Host paths of the VM's other files; only .nvram, .vmsd and vmware*.log are copied. */
  vmFiles?: string[];
  warnings?: string[];
  /** Told of each warning the export itself finds (a delta read through the host in san mode); records it where the catalog's warnings come from. */
  onWarning?: (message: string) => void;
  /** When given, called once the catalog is written; its value is written as `.vcbmounter-state.json`. */
  state?: () => unknown;
  onProgress?: (done: number, total: number) => void;
  /**
   * Called once every byte of every disk has been read from the host (while the extents are fsynced, before the
   * VM's small files are copied and the catalog written): the moment the snapshot is no longer needed.
   */
  onDisksRead?: () => Promise<void>;
  signal?: AbortSignal;
  now?: () => Date;
}

export interface ExportResult {
  /** The complete partial directory, for the caller to publish (see atomic-dir.ts). */
  partial: string;
  catalog: Catalog;
}

/** Bytes the disks occupy on the source (progress total and the free space needed up front). */
export function exportTotalBytes(disks: readonly ExportDiskInput[]): number {
  let total = 0;
  for (const disk of disks) {
    total += allocatedBytes(disk.base.blockMap);
    for (const delta of disk.deltas ?? []) if (delta.blockMap) total += allocatedBytes(delta.blockMap);
  }
  return total;
}

/**
 * Exports one VM into `<destination>.partial-<runid>` and returns it complete (catalog and state written,
 * fsynced); the caller registers the partial directory's release before calling and publishes it after.
 * Errors: DESTINATION (exists, no space, cannot write), EXPORT (reading or writing disks and files),
 * INTERRUPTED (aborted); the cause is kept.
 */
export async function exportVm(options: ExportVmOptions): Promise<ExportResult> {
  const now = options.now ?? (() => new Date());
  const startedAt = now().toISOString();
  const total = exportTotalBytes(options.disks);
  const partial = await startPartialDirectory({
    destination: options.destination,
    runId: options.runId,
    preexisting: options.preexisting ?? 'fail',
    neededBytes: total,
  });
  try {
    const progress = progressCounter(total, options.onProgress);
    const names = exportDescriptorNames(options.disks);
    const read: ReadDisk[] = [];
    try {
      for (const [index, disk] of options.disks.entries()) read.push(await readDisk(options, disk, names[index]!, partial, progress));
    } catch (error) {
      for (const r of read) await r.writer.abandon();
      throw error;
    }
    // The host's work once the disks are read (the snapshot's removal) and the proxy's (fsyncing the extents) do not
    // wait for each other; both must succeed.
    const [, disks] = await allOrFirstError([options.onDisksRead?.(), finishDisks(read)] as const);
    const vmxFile = posix.basename(options.vm.vmxPath);
    const copying = { ...options, ...fanOutSignal(options.signal, 1 + (options.vmFiles?.length ?? 0)) };
    const [, files] = await allOrFirstError([
      copyVmx(copying, partial, vmxFile, Object.fromEntries(options.disks.map((d, i) => [d.slot, names[i]!]))),
      copySmallFiles(copying, partial),
    ] as const);
    // One round of fsyncs for the VM's files, side by side (the file system can commit them together).
    await allOrFirstError([vmxFile, ...files].map((name) => fsyncPath(join(partial, name))));
    await fsyncPath(partial);
    const catalog = catalogOf(options, { diskLayout: options.diskLayout, startedAt, finishedAt: now().toISOString(), files, disks });
    await writeFile(join(partial, CATALOG_FILE), formatCatalog(catalog), { flag: 'wx' });
    await fsyncPath(join(partial, CATALOG_FILE));
    if (options.state !== undefined) await writeStateFile(partial, options.state());
    throwIfAborted(options.signal);
    return { partial, catalog };
  } catch (error) {
    throw asExportError(error, options);
  }
}

/** The catalog of an export (written to -r or streamed): what was backed up, from where, and its disks. */
export function catalogOf(
  options: Pick<ExportVmOptions, 'toolVersion' | 'runId' | 'reader' | 'host' | 'vm' | 'snapshot' | 'skippedDisks' | 'warnings'>,
  made: { diskLayout: DiskLayout; startedAt: string; finishedAt: string; files: string[]; disks: CatalogDisk[] },
): Catalog {
  return {
    format: 'vcbmounter-catalog',
    version: 2,
    toolVersion: options.toolVersion,
    runId: options.runId,
    backupType: 'fullvm',
    transportMode: options.reader.mode,
    diskLayout: made.diskLayout,
    startedAt: made.startedAt,
    finishedAt: made.finishedAt,
    host: options.host,
    vm: catalogVm(options.vm, posix.basename(options.vm.vmxPath)),
    snapshot: options.snapshot,
    files: made.files,
    disks: made.disks,
    skippedDisks: options.skippedDisks ?? [],
    warnings: options.warnings ?? [],
  };
}

function catalogVm(vm: ExportVmOptions['vm'], vmxFile: string): Catalog['vm'] {
  const entry: Catalog['vm'] = { name: vm.name, vmxDatastorePath: vm.vmxDatastorePath, vmxFile };
  if (vm.vmid !== undefined) entry.vmid = vm.vmid;
  if (vm.biosUuid !== undefined) entry.biosUuid = vm.biosUuid;
  return entry;
}

function progressCounter(total: number, onProgress?: (done: number, total: number) => void) {
  let done = 0;
  return {
    /** Returns a per-call progress callback that turns its running count into increments. */
    track(): (bytes: number) => void {
      let seen = 0;
      return (bytes) => {
        done += bytes - seen;
        seen = bytes;
        onProgress?.(done, total);
      };
    },
  };
}

/** A disk whose bytes are all read (and written, not yet fsynced). */
interface ReadDisk {
  disk: ExportDiskInput;
  writer: FlatDiskWriter;
  overlaid: ByteRange[];
}

async function readDisk(
  options: ExportVmOptions,
  disk: ExportDiskInput,
  descriptorFileName: string,
  partial: string,
  progress: ReturnType<typeof progressCounter>,
): Promise<ReadDisk> {
  const writer = await FlatDiskWriter.create({
    dir: partial,
    descriptorFileName,
    capacity: disk.capacity,
    layout: options.diskLayout,
    ...(options.splitExtentBytes !== undefined ? { splitExtentBytes: options.splitExtentBytes } : {}),
    ...(disk.adapterType !== undefined ? { adapterType: disk.adapterType } : {}),
  });
  try {
    const readOptions = (onProgress: (bytes: number) => void) =>
      options.signal ? { signal: options.signal, onProgress } : { onProgress };
    await (disk.baseReader ?? options.reader).read(disk.base, (offset, chunk) => writer.writeStreamed(offset, chunk), readOptions(progress.track()));
    await writer.endStream();
    const overlaid: ByteRange[] = [];
    const deltas = disk.deltas ?? [];
    if (deltas.length > 0) {
      const scratch = join(partial, '.deltas');
      await mkdir(scratch, { recursive: true });
      for (const [i, delta] of deltas.entries()) {
        const local = join(scratch, `${i}.delta`);
        await fetchDelta(options, disk, delta, local, readOptions, progress);
        overlaid.push(
          ...(await applyDeltaOverlay(local, disk.capacity, (offset, chunk) => writer.writeAt(offset, chunk),
            options.signal ? { signal: options.signal } : {})),
        );
        await rm(local, { force: true });
      }
      await rm(scratch, { recursive: true, force: true });
    }
    return { disk, writer, overlaid };
  } catch (error) {
    await writer.abandon();
    throw error;
  }
}

/**
 * Copies a user's snapshot delta to `local`, whole and checked. san reads it from the LUN through its block
 * map; where the host gave none, or the map does not rebuild a whole delta of this disk, the delta is read
 * through the host (`cat`, as nbd does) and a warning names the disk and why. A delta read through the host
 * that is still not whole fails the export.
 */
async function fetchDelta(
  options: ExportVmOptions,
  disk: ExportDiskInput,
  delta: DeltaInput,
  local: string,
  readOptions: (onProgress: (bytes: number) => void) => ReadOptions,
  progress: ReturnType<typeof progressCounter>,
): Promise<void> {
  let counted = false;
  if (options.reader.mode === 'san') {
    let why = delta.unmapped ?? 'the host gave no block map';
    if (delta.blockMap) {
      await fetchFileWithReader(options.reader, { dataPath: delta.dataPath, blockMap: delta.blockMap }, local, readOptions(progress.track()));
      const problem = deltaProblem(local, disk.capacity, delta.format);
      if (problem === undefined) return;
      why = `its block map does not rebuild the delta: ${problem}`;
      counted = true;
    }
    options.onWarning?.(
      `${disk.slot} (${disk.sourceDatastorePath}): no usable block map of snapshot delta ${delta.dataPath} (${why}), so -m san read that delta through the host (nbd)`,
    );
  }
  // Progress counts what the total counted: a delta's mapped bytes, once.
  const onProgress = delta.blockMap && !counted ? progress.track() : () => {};
  await fetchFileByCat(options.transport, delta.dataPath, local, {
    ...readOptions(onProgress),
    ...(delta.blockMap && !counted ? { expectedSize: delta.blockMap.size } : {}),
  });
  const problem = deltaProblem(local, disk.capacity, delta.format);
  if (problem !== undefined) {
    const kind = delta.format ? `${deltaFormatName(delta.format)} delta` : 'snapshot delta';
    throw new Error(`snapshot delta ${delta.dataPath} of ${disk.slot}, read through the host, is not a whole ${kind}: ${problem}`);
  }
}

/** Finishes every read disk in order (see finishDisk). */
async function finishDisks(read: readonly ReadDisk[]): Promise<CatalogDisk[]> {
  const disks: CatalogDisk[] = [];
  for (const [index, r] of read.entries()) disks.push(await finishDisk(r, read.slice(index + 1)));
  return disks;
}

/** Rehashes overlaid blocks, fsyncs and closes the disk's files; on failure closes the ones still open after it too. */
async function finishDisk({ disk, writer, overlaid }: ReadDisk, later: readonly ReadDisk[]): Promise<CatalogDisk> {
  try {
    const written = await writer.finish(overlaid);
    return {
      slot: disk.slot,
      sourceDatastorePath: disk.sourceDatastorePath,
      ...(disk.rdm ? { rdm: disk.rdm } : {}),
      descriptorFile: written.descriptorFile,
      extentFiles: written.extentFiles,
      blocksFile: written.blocksFile,
      blockHash: written.blockHash,
      capacity: disk.capacity,
      thin: disk.thin,
      adapterType: writer.descriptor.ddb.get('ddb.adapterType') ?? 'lsilogic',
      allocatedBytes: allocatedBytes(disk.base.blockMap),
      snapshotDeltas: (disk.deltas ?? []).map((d) => d.dataPath),
      digest: written.digest,
    };
  } catch (error) {
    await writer.abandon();
    for (const r of later) await r.writer.abandon();
    throw error;
  }
}

async function copyVmx(
  options: ExportVmOptions,
  partial: string,
  vmxFile: string,
  fileNameBySlot: Record<string, string>,
): Promise<void> {
  const fetched = join(partial, `${vmxFile}.orig`);
  await fetchFileByCat(options.transport, options.vm.vmxPath, fetched, options.signal ? { signal: options.signal } : {});
  const text = await readFile(fetched, 'utf8');
  await rm(fetched);
  await writeFile(join(partial, vmxFile), rewriteVmxDiskFileNames(text, fileNameBySlot), { flag: 'wx' });
}

/** Copies the .nvram, .vmsd (without its snapshots) and logs, side by side (the transport queues what its channel limit holds back); not fsynced. */
async function copySmallFiles(options: ExportVmOptions, partial: string): Promise<string[]> {
  const wanted = new Map<string, string>();
  for (const hostPath of options.vmFiles ?? []) {
    const name = posix.basename(hostPath);
    if (isCopyableVmFile(name) && !wanted.has(name)) wanted.set(name, hostPath);
  }
  throwIfAborted(options.signal);
  const signal = options.signal ? { signal: options.signal } : {};
  await allOrFirstError(
    [...wanted].map(([name, hostPath]) => {
      const copy = /\.vmsd$/i.test(name) ? copyVmsd : fetchFileByCat;
      return copy(options.transport, hostPath, join(partial, name), signal);
    }),
  );
  return [...wanted.keys()];
}

/** The .vmsd with its snapshots left out (see vmsdWithoutSnapshots): none of them is in the export. */
async function copyVmsd(
  transport: ExportVmOptions['transport'],
  hostPath: string,
  target: string,
  signal: { signal?: AbortSignal },
): Promise<void> {
  const fetched = `${target}.orig`;
  await fetchFileByCat(transport, hostPath, fetched, signal);
  const text = await readFile(fetched, 'utf8');
  await rm(fetched);
  await writeFile(target, vmsdWithoutSnapshots(text), { flag: 'wx' });
}

/**
 * A signal of its own for `count` operations run side by side, aborted when `parent` is. Each copy listens
 * to its signal (two listeners apiece), more than the 10 after which node warns of a leak; this signal is
 * sized for them.
 */
function fanOutSignal(parent: AbortSignal | undefined, count: number): { signal?: AbortSignal } {
  if (!parent) return {};
  const signal = AbortSignal.any([parent]);
  setMaxListeners(Math.max(10, 4 * count + 10), signal);
  return { signal };
}

function asExportError(error: unknown, options: ExportVmOptions): VcbError {
  const context = { vm: options.vm.name, step: 'export' };
  if (error instanceof VcbError) {
    return error.context.vm ? error : new VcbError(error.code, error.message, { ...error.context, ...context }, { cause: error.cause });
  }
  if (options.signal?.aborted) {
    return new VcbError('INTERRUPTED', `export of ${options.vm.name} interrupted`, context, { cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new VcbError('EXPORT', `export of ${options.vm.name} to ${options.destination} failed: ${message}`, context, {
    cause: error,
  });
}
