// --stream: the fullvm export of one VM written as one tar stream (disks in order, then the VM's files and catalog), never to disk.

import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import type { Writable } from 'node:stream';
import { buildMonolithicFlatDescriptor, formatDescriptor, SECTOR_SIZE } from '../formats/vmdk-descriptor.js';
import { fetchFileByCat } from '../vlun/overlay.js';
import { allocatedBytes, throwIfAborted } from '../vlun/types.js';
import { BLOCK_HASH } from './block-digest.js';
import { StreamBlockHasher } from './block-hasher.js';
import { blocksFileName, digestOfBlocksFile } from './block-list-file.js';
import { CATALOG_FILE, formatCatalog, type Catalog, type CatalogDisk } from './catalog.js';
import { catalogOf, type ExportDiskInput, type ExportVmOptions } from './export-vm.js';
import { LineFileWriter } from './line-file.js';
import { TarWriter } from './tar-writer.js';
import { exportDescriptorNames, isCopyableVmFile, rewriteVmxDiskFileNames, vmsdWithoutSnapshots } from './vm-files.js';

export type StreamVmOptions = Omit<ExportVmOptions, 'destination' | 'preexisting' | 'diskLayout' | 'splitExtentBytes' | 'state'>;

// Holes go out in writes of 8 MiB: each write allocates on the JS heap, and the young-generation collections
// that allocation brings move the SSH packets waiting meanwhile into the old generation, where they stay until
// a full collection; in 1 MiB writes, peak memory would grow with the disk's holes (docs/benchmarks.md, row 10).
const ZEROS = Buffer.alloc(8 * 1024 * 1024);

/**
 * The export of exportVm, as the tar members `<disk>.vmdk`, `<disk>-flat.vmdk` (every byte, holes as
 * zeros), `<disk>.blocks.xxh64`, the .vmx, the VM's small files and `catalog` last: extracted, it is an
 * export directory. Only the block lists touch this proxy's disk (a line per 1 MiB of data, in a temp
 * directory). VMs with snapshots of their own are refused by the caller: their deltas are laid over the
 * base afterwards, which a stream cannot do.
 */
export async function streamVm(options: StreamVmOptions, output: Writable): Promise<Catalog> {
  const now = options.now ?? (() => new Date());
  const startedAt = now().toISOString();
  const mtime = new Date();
  // The agent may stop reading (it failed, or was stopped): its stdin then errors or closes; the reads stop too.
  const stop = new AbortController();
  const outputFailed = new Promise<never>((_, reject) => {
    // The program may have gone while the export was being prepared (host commands run before this).
    if (output.destroyed) return reject(new Error('the agent closed its input before the stream began'));
    output.once('error', reject);
    output.once('close', () => reject(new Error('the agent closed its input before the stream ended')));
  });
  outputFailed.catch(() => stop.abort());
  const scratch = await mkdtemp(join(tmpdir(), 'vcbmounter-stream-'));
  const reading = { ...options, signal: options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal };
  // Written into the agent's stdin, not piped: on a failure it must stay open until the agent is stopped, or the
  // agent would read an end of input and could store a truncated tar as a complete backup.
  const tar = new TarWriter(output, reading.signal);
  const work = streamMembers(reading, tar, scratch, mtime);
  try {
    const disks = await Promise.race([work, outputFailed]);
    const catalog = catalogOf(options, { diskLayout: 'monolithicFlat', startedAt, finishedAt: now().toISOString(), files: disks.files, disks: disks.disks });
    await Promise.race([member(tar, CATALOG_FILE, Buffer.from(formatCatalog(catalog)), mtime), outputFailed]);
    await Promise.race([tar.finish(), outputFailed]);
    output.end();
    await Promise.race([once(output, 'finish'), outputFailed]);
    return catalog;
  } catch (error) {
    stop.abort();
    await work.catch(() => {});
    throw error;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

function member(tar: TarWriter, name: string, body: Buffer, mtime: Date): Promise<void> {
  return tar.member({ name, size: body.length, mtime }, body);
}

/** A file of this proxy as a member, read in pieces (a block list can be large). */
async function fileMember(tar: TarWriter, name: string, path: string, mtime: Date): Promise<void> {
  await tar.begin({ name, size: (await stat(path)).size, mtime });
  for await (const piece of createReadStream(path)) await tar.body(piece as Buffer);
  await tar.end();
}

async function streamMembers(options: StreamVmOptions, tar: TarWriter, scratch: string, mtime: Date): Promise<{ disks: CatalogDisk[]; files: string[] }> {
  const names = exportDescriptorNames(options.disks);
  const total = options.disks.reduce((n, d) => n + allocatedBytes(d.base.blockMap), 0);
  let done = 0;
  const disks: CatalogDisk[] = [];
  for (const [index, disk] of options.disks.entries()) {
    disks.push(await streamDisk(options, disk, names[index]!, tar, scratch, mtime, (bytes) => options.onProgress?.((done += bytes), total)));
  }
  await options.onDisksRead?.();
  const vmxFile = posix.basename(options.vm.vmxPath);
  const vmx = join(scratch, 'vmx');
  const signal = options.signal ? { signal: options.signal } : {};
  await fetchFileByCat(options.transport, options.vm.vmxPath, vmx, signal);
  const fileNameBySlot = Object.fromEntries(options.disks.map((d, i) => [d.slot, names[i]!]));
  await member(tar, vmxFile, Buffer.from(rewriteVmxDiskFileNames(await readFile(vmx, 'utf8'), fileNameBySlot)), mtime);
  const files: string[] = [];
  for (const hostPath of options.vmFiles ?? []) {
    const name = posix.basename(hostPath);
    if (!isCopyableVmFile(name) || files.includes(name)) continue;
    const local = join(scratch, `file-${files.length}`);
    await fetchFileByCat(options.transport, hostPath, local, signal);
    const body = await readFile(local);
    await member(tar, name, /\.vmsd$/i.test(name) ? Buffer.from(vmsdWithoutSnapshots(body.toString('utf8'))) : body, mtime);
    await rm(local);
    files.push(name);
  }
  throwIfAborted(options.signal);
  return { disks, files };
}

async function streamDisk(
  options: StreamVmOptions,
  disk: ExportDiskInput,
  descriptorFile: string,
  tar: TarWriter,
  scratch: string,
  mtime: Date,
  onBytes: (bytes: number) => void,
): Promise<CatalogDisk> {
  const flatFile = `${descriptorFile.replace(/\.vmdk$/i, '')}-flat.vmdk`;
  const descriptor = buildMonolithicFlatDescriptor({ capacitySectors: disk.capacity / SECTOR_SIZE, flatFileName: flatFile, ...(disk.adapterType ? { adapterType: disk.adapterType } : {}) });
  await member(tar, descriptorFile, Buffer.from(formatDescriptor(descriptor)), mtime);

  const blocksFile = blocksFileName(descriptorFile, BLOCK_HASH);
  const blocksPath = join(scratch, blocksFile);
  const lines = await LineFileWriter.create(blocksPath);
  const hashing = new StreamBlockHasher(disk.capacity, BLOCK_HASH, (line) => lines.add(line));
  let position = 0;
  const zerosTo = async (offset: number) => {
    while (position < offset) {
      const n = Math.min(ZEROS.length, offset - position);
      await tar.body(ZEROS.subarray(0, n));
      position += n;
    }
  };
  let seen = 0;
  const reader = disk.baseReader ?? options.reader;
  try {
    await tar.begin({ name: flatFile, size: disk.capacity, mtime });
    await reader.read(
      disk.base,
      async (offset, chunk) => {
        if (position < offset) await zerosTo(offset);
        hashing.push(offset, chunk);
        // The output may still hold the chunk after this settles: copied unless the reader never reuses it.
        const written = tar.body(reader.chunksStayValid ? chunk : Buffer.from(chunk));
        position = offset + chunk.length;
        if (written) await written;
        await lines.flushIfFull();
      },
      {
        ...(options.signal ? { signal: options.signal } : {}),
        onProgress: (bytes) => {
          onBytes(bytes - seen);
          seen = bytes;
        },
      },
    );
    await zerosTo(disk.capacity);
    await tar.end();
    hashing.finish();
    await lines.close();
  } catch (error) {
    await lines.abandon();
    throw error;
  }
  await fileMember(tar, blocksFile, blocksPath, mtime);
  const digest = await digestOfBlocksFile(blocksPath, disk.capacity, BLOCK_HASH);
  await rm(blocksPath);
  return {
    slot: disk.slot,
    sourceDatastorePath: disk.sourceDatastorePath,
    ...(disk.rdm ? { rdm: disk.rdm } : {}),
    descriptorFile,
    extentFiles: [flatFile],
    blocksFile,
    blockHash: BLOCK_HASH,
    capacity: disk.capacity,
    thin: disk.thin,
    adapterType: descriptor.ddb.get('ddb.adapterType') ?? 'lsilogic',
    allocatedBytes: allocatedBytes(disk.base.blockMap),
    snapshotDeltas: [],
    digest,
  };
}
