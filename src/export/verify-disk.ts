// A verify of one exported disk: its extent files' sizes, their allocated blocks read and hashed, compared with its block list and the catalog's digest.

import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { blockHashOf, blockLine, DIGEST_BLOCK, digestPreamble, hashBlock, type BlockHash } from './block-digest.js';
import type { ChunkHashers } from './chunk-hashers.js';
import type { Catalog, CatalogDisk } from './catalog.js';
import { forEachDataRange } from './data-ranges.js';
import { BlockListReader, type ListedBlock } from './verify-block-list.js';
import { checkDescriptor, type ExtentSpan } from './verify-descriptor.js';
import type { VerifyProblem } from './verify-problems.js';

/** Blocks per read: consecutive allocated 1 MiB blocks are read together, up to this many. */
const READ_BLOCKS = 4;
/** Chunks in memory at once: being read (libuv runs 4 reads at once by default), hashed, or compared. */
const CHUNKS_IN_FLIGHT = 8;
/** Problems kept in detail per disk; a wrecked disk (a wrong block list, say) could otherwise have one per block. */
export const MAX_PROBLEMS_PER_DISK = 1000;

export interface DiskVerification {
  descriptorFile: string;
  slot: string;
  capacity: number;
  ok: boolean;
  expectedDigest: string;
  /** The digest of the data as read (block-digest.ts); the catalog's exactly when the data is the catalog's. */
  actualDigest: string;
  /** Disk offsets of the blocks that differ from the block list (changed, missing or extra), in order. */
  badBlocks: number[];
  /** Lines in the block list that were well formed. */
  blocksListed: number;
  /** Bytes read from the extent files (their allocated blocks only). */
  bytesRead: number;
  /** The first MAX_PROBLEMS_PER_DISK problems found. */
  problems: VerifyProblem[];
  /** Problems found beyond those (counted, not kept). */
  problemsOmitted: number;
}

interface ExtentState extends ExtentSpan {
  handle?: FileHandle;
  /** Bytes of the extent its file holds, from the extent's start: its length, less when the file is short or missing. */
  present: number;
  /** The problem that says why the rest is missing; listed blocks there are counted into it rather than listed one by one. */
  absence?: { problem: VerifyProblem; listedBlocks: number };
  /**
   * The file occupies fewer bytes on disk than its size, so it may have holes worth finding. A thick extent
   * (every byte allocated) is read whole without asking: it saves starting the data-range helper.
   */
  sparse?: boolean;
}

/** A disk ready to be read: its extents opened, its allocated blocks known, its problems so far. */
export interface PreparedDisk {
  disk: CatalogDisk;
  extents: ExtentState[];
  /** 1 per 1 MiB block that holds allocated bytes in some extent file (the only blocks read). */
  allocated: Uint8Array;
  /** Bytes the allocated blocks hold: what reading the disk will read. */
  bytesToRead: number;
  problems: VerifyProblem[];
}

function blockLength(capacity: number, offset: number): number {
  return Math.min(DIGEST_BLOCK, capacity - offset);
}

async function openExtent(dir: string, disk: CatalogDisk, span: ExtentSpan): Promise<{ state: ExtentState; problems: VerifyProblem[] }> {
  const state: ExtentState = { ...span, present: 0 };
  const problem = (p: Omit<VerifyProblem, 'file' | 'disk'>): VerifyProblem => ({ file: span.file, disk: disk.descriptorFile, ...p });
  const range = `disk bytes ${span.diskStart} to ${span.diskStart + span.length}`;
  let handle: FileHandle;
  try {
    handle = await open(join(dir, span.file), 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const p = code === 'ENOENT'
      ? problem({ kind: 'missing-file', message: `extent file is missing (${range})` })
      : problem({ kind: 'unreadable-file', message: `extent file cannot be opened (${code ?? (error as Error).message}; ${range})` });
    state.absence = { problem: p, listedBlocks: 0 };
    return { state, problems: [p] };
  }
  const info = await handle.stat();
  if (!info.isFile()) {
    await handle.close();
    const p = problem({ kind: 'missing-file', message: `is not a regular file (${range})` });
    state.absence = { problem: p, listedBlocks: 0 };
    return { state, problems: [p] };
  }
  state.handle = handle;
  state.sparse = info.blocks * 512 < info.size;
  const end = span.fileStart + span.length;
  state.present = Math.max(0, Math.min(span.length, info.size - span.fileStart));
  if (info.size < end) {
    const p = problem({
      kind: 'truncated-extent',
      offset: info.size,
      length: end - info.size,
      message: `truncated: the file holds ${info.size} bytes, its descriptor says ${end}; bytes from ${info.size} on (disk byte ${span.diskStart + state.present} on) are missing`,
    });
    state.absence = { problem: p, listedBlocks: 0 };
    return { state, problems: [p] };
  }
  if (info.size > end) {
    return { state, problems: [problem({ kind: 'oversized-extent', offset: end, length: info.size - end, message: `${info.size - end} byte(s) past the extent's end (the descriptor says ${end} bytes)` })] };
  }
  return { state, problems: [] };
}

/** Marks the blocks holding bytes [from, to) of the extent's file as allocated (clipped to the bytes the extent has). */
function markAllocated(allocated: Uint8Array, e: ExtentState, from: number, to: number): void {
  const start = Math.max(from, e.fileStart);
  const end = Math.min(to, e.fileStart + e.present);
  if (start >= end) return;
  const diskFrom = e.diskStart + (start - e.fileStart);
  const diskTo = e.diskStart + (end - e.fileStart);
  allocated.fill(1, Math.floor(diskFrom / DIGEST_BLOCK), Math.floor((diskTo - 1) / DIGEST_BLOCK) + 1);
}

/** Checks the descriptor, opens the extents and finds their allocated blocks; reads no data yet. */
export async function prepareDisk(dir: string, catalog: Catalog, disk: CatalogDisk): Promise<PreparedDisk> {
  const checked = await checkDescriptor(dir, catalog, disk);
  const problems = [...checked.problems];
  const extents: ExtentState[] = [];
  for (const span of checked.extents) {
    const opened = await openExtent(dir, disk, span);
    extents.push(opened.state);
    problems.push(...opened.problems);
  }
  const allocated = new Uint8Array(Math.ceil(disk.capacity / DIGEST_BLOCK));
  const readable = extents.filter((e) => e.handle && e.present > 0);
  const sparse = readable.filter((e) => e.sparse);
  for (const e of readable) if (!e.sparse) markAllocated(allocated, e, 0, Number.MAX_SAFE_INTEGER);
  const found = await forEachDataRange(
    sparse.map((e) => join(dir, e.file)),
    (event) => {
      const e = sparse[event.file]!;
      if (event.kind === 'range') markAllocated(allocated, e, event.start, event.end);
      else markAllocated(allocated, e, 0, Number.MAX_SAFE_INTEGER);
    },
  );
  // Without perl (data-ranges.ts) every byte is read: slower, never wrong.
  if (!found) for (const e of sparse) markAllocated(allocated, e, 0, Number.MAX_SAFE_INTEGER);
  let bytesToRead = 0;
  for (let i = 0; i < allocated.length; i++) if (allocated[i]) bytesToRead += blockLength(disk.capacity, i * DIGEST_BLOCK);
  return { disk, extents, allocated, bytesToRead, problems };
}

export async function closeDisk(prepared: PreparedDisk): Promise<void> {
  for (const e of prepared.extents) await e.handle?.close().catch(() => {});
}

interface Chunk {
  offset: number;
  length: number;
}

/** Runs of allocated blocks, each at most READ_BLOCKS long, in disk order. */
function* chunksOf(allocated: Uint8Array, capacity: number): Generator<Chunk> {
  for (let i = 0; i < allocated.length; ) {
    if (!allocated[i]) {
      i++;
      continue;
    }
    let n = 1;
    while (n < READ_BLOCKS && i + n < allocated.length && allocated[i + n]) n++;
    const offset = i * DIGEST_BLOCK;
    yield { offset, length: Math.min(n * DIGEST_BLOCK, capacity - offset) };
    i += n;
  }
}

interface ChunkRead {
  chunk: Chunk;
  bytesRead: number;
  /** Set when a read failed: the chunk's blocks are not compared. */
  error?: VerifyProblem;
}

/** Reads the chunk's bytes from the extents that hold them; bytes no extent holds (a short or missing file) are zeros. */
async function readChunk(prepared: PreparedDisk, chunk: Chunk, buffer: Buffer): Promise<ChunkRead> {
  const end = chunk.offset + chunk.length;
  const target = buffer.subarray(0, chunk.length);
  let covered = 0;
  let bytesRead = 0;
  const pieces: Array<{ e: ExtentState; from: number; to: number }> = [];
  for (const e of prepared.extents) {
    const from = Math.max(chunk.offset, e.diskStart);
    const to = Math.min(end, e.diskStart + e.present);
    if (from < to) {
      pieces.push({ e, from, to });
      covered += to - from;
    }
  }
  if (covered < chunk.length) target.fill(0);
  for (const { e, from, to } of pieces) {
    let at = from;
    try {
      while (at < to) {
        const { bytesRead: n } = await e.handle!.read(target, at - chunk.offset, to - at, e.fileStart + (at - e.diskStart));
        if (n === 0) {
          // The file shrank after it was measured: the rest reads as zeros, and will not match.
          target.fill(0, at - chunk.offset, to - chunk.offset);
          break;
        }
        at += n;
        bytesRead += n;
      }
    } catch (error) {
      const offset = e.fileStart + (at - e.diskStart);
      const code = (error as NodeJS.ErrnoException).code;
      return {
        chunk,
        bytesRead,
        error: { kind: 'unreadable-file', file: e.file, offset, length: to - at, disk: prepared.disk.descriptorFile, diskOffset: at, message: `read failed (${code ?? (error as Error).message})` },
      };
    }
  }
  return { chunk, bytesRead };
}

/** Where a block of the disk lies in the extent files, for a problem's file and offset. */
function locate(prepared: PreparedDisk, diskOffset: number, length: number): { file: string; offset: number; length: number; spill: string } {
  const extents = prepared.extents;
  const i = extents.findIndex((e) => diskOffset >= e.diskStart && diskOffset < e.diskStart + e.length);
  const e = extents[i] ?? extents[extents.length - 1]!;
  const inFirst = Math.min(length, e.diskStart + e.length - diskOffset);
  const next = extents[i + 1];
  const spill = inFirst < length && next ? ` (and the first ${length - inFirst} bytes of ${next.file})` : '';
  return { file: e.file, offset: e.fileStart + (diskOffset - e.diskStart), length: inFirst, spill };
}

/** The extent whose absence explains a block entirely in the part of the disk no file holds, if there is one. */
function absentExtentOf(prepared: PreparedDisk, diskOffset: number, length: number): ExtentState | undefined {
  let cause: ExtentState | undefined;
  for (const e of prepared.extents) {
    const from = Math.max(diskOffset, e.diskStart);
    const to = Math.min(diskOffset + length, e.diskStart + e.length);
    if (from >= to) continue;
    if (!e.absence || from < e.diskStart + e.present) return undefined;
    cause ??= e;
  }
  return cause;
}

export interface ReadDiskOptions {
  /** Bytes read so far (added), for progress. */
  onBytes?: (bytes: number) => void;
  signal?: AbortSignal;
  /**
   * sha256 hashing threads to use for a block list of sha256 lines (a verify of several disks shares them);
   * without, and for xxh64 lists, blocks are hashed on this thread.
   */
  hashers?: ChunkHashers;
}

/** Per block of the chunk, its checksum or undefined when all zero: on this thread. */
function hashHere(chunk: Buffer, hash: BlockHash): Array<string | undefined> {
  const hexes: Array<string | undefined> = [];
  for (let at = 0; at < chunk.length; at += DIGEST_BLOCK) hexes.push(hashBlock(chunk.subarray(at, at + DIGEST_BLOCK), hash));
  return hexes;
}

interface HashedChunk {
  read: ChunkRead;
  /** Per block, as ChunkHashes has them; absent when the read failed. */
  hexes?: Array<string | undefined>;
  memory: ArrayBuffer;
}

/**
 * Reads the disk's allocated blocks in order (unallocated ones are zeros: not listed in a block list, not
 * in the digest), hashes each, and walks the block list beside them: a listed block that differs, a listed
 * block that reads as zeros, a block with data the list lacks, each named by file and offset.
 */
export async function readDisk(dir: string, prepared: PreparedDisk, options: ReadDiskOptions = {}): Promise<DiskVerification> {
  const { disk } = prepared;
  const problems = [...prepared.problems];
  let problemsOmitted = 0;
  const add = (...found: VerifyProblem[]) => {
    for (const p of found) {
      if (problems.length < MAX_PROBLEMS_PER_DISK) problems.push(p);
      else problemsOmitted++;
    }
  };
  const badBlocks: number[] = [];
  const blockHash = blockHashOf(disk);
  const digest = createHash('sha256').update(digestPreamble(disk.capacity, blockHash));
  let list: BlockListReader | undefined;
  try {
    list = await BlockListReader.open(join(dir, disk.blocksFile), disk.blocksFile, disk.descriptorFile, disk.capacity, blockHash);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    add(
      code === 'ENOENT'
        ? { kind: 'missing-file', file: disk.blocksFile, disk: disk.descriptorFile, message: 'the block list is missing: blocks cannot be checked one by one, only the whole disk against the catalog\'s digest' }
        : { kind: 'unreadable-file', file: disk.blocksFile, disk: disk.descriptorFile, message: `the block list cannot be read (${code ?? (error as Error).message})` },
    );
  }
  let blocksListed = 0;
  let bytesRead = 0;
  const blockProblem = (kind: VerifyProblem['kind'], diskOffset: number, text: (where: string) => string) => {
    const length = blockLength(disk.capacity, diskOffset);
    const at = locate(prepared, diskOffset, length);
    badBlocks.push(diskOffset);
    add({ kind, file: at.file, offset: at.offset, length: at.length, disk: disk.descriptorFile, diskOffset, message: text(at.spill) });
  };
  const listedAt = (l: ListedBlock) => `${disk.blocksFile} byte ${l.lineOffset}`;
  /** A listed block that was not read: no allocated byte, so it reads as zeros. */
  const listedButZero = (l: ListedBlock) => {
    const absent = absentExtentOf(prepared, l.diskOffset, blockLength(disk.capacity, l.diskOffset));
    if (absent) {
      absent.absence!.listedBlocks++;
      badBlocks.push(l.diskOffset);
      return;
    }
    blockProblem('missing-block', l.diskOffset, (spill) => `block at disk byte ${l.diskOffset}${spill} reads as zeros (no data allocated there), but the block list has it (${listedAt(l)})`);
  };
  const nextListed = async (): Promise<ListedBlock | undefined> => {
    const l = await list?.next();
    if (l) blocksListed++;
    return l;
  };

  const hashers = blockHash === 'sha256' ? options.hashers : undefined;
  const inFlight: Array<Promise<HashedChunk>> = [];
  try {
    let listed = await nextListed();
    // Each chunk is read into its own memory, hashed (here, or on a worker thread for sha256), then compared here, in disk order.
    const free = Array.from({ length: CHUNKS_IN_FLIGHT }, () => new ArrayBuffer(READ_BLOCKS * DIGEST_BLOCK));
    const chunks = chunksOf(prepared.allocated, disk.capacity);
    const readAndHash = async (chunk: Chunk, memory: ArrayBuffer): Promise<HashedChunk> => {
      const read = await readChunk(prepared, chunk, Buffer.from(memory));
      if (read.error) return { read, memory };
      if (!hashers) return { read, hexes: hashHere(Buffer.from(memory, 0, chunk.length), blockHash), memory };
      const hashed = await hashers.hash(memory, chunk.length, DIGEST_BLOCK);
      return { read, hexes: hashed.hexes, memory: hashed.memory };
    };
    const fill = () => {
      while (free.length > 0) {
        const step = chunks.next();
        if (step.done) return;
        const hashed = readAndHash(step.value, free.pop()!);
        // Awaited in turn below; until then a failure must not count as unhandled.
        hashed.catch(() => {});
        inFlight.push(hashed);
      }
    };
    fill();
    while (inFlight.length > 0) {
      const { read, hexes, memory } = await inFlight.shift()!;
      free.push(memory);
      fill();
      options.signal?.throwIfAborted();
      bytesRead += read.bytesRead;
      options.onBytes?.(read.bytesRead);
      if (read.error) add(read.error);
      for (let at = 0, i = 0; at < read.chunk.length; at += DIGEST_BLOCK, i++) {
        const offset = read.chunk.offset + at;
        while (listed && listed.diskOffset < offset) {
          listedButZero(listed);
          listed = await nextListed();
        }
        const here = listed && listed.diskOffset === offset ? listed : undefined;
        if (here) listed = await nextListed();
        if (!hexes) {
          badBlocks.push(offset);
          continue;
        }
        const hex = hexes[i];
        if (hex) digest.update(blockLine(offset, hex));
        if (here && hex !== here.hex) {
          if (hex) blockProblem('block-mismatch', offset, (spill) => `block at disk byte ${offset}${spill} differs from its line in the block list (${blockHash} ${hex}, listed ${here.hex} at ${listedAt(here)})`);
          else blockProblem('missing-block', offset, (spill) => `block at disk byte ${offset}${spill} reads as all zeros, but the block list has it (${listedAt(here)})`);
        } else if (!here && hex && list) {
          blockProblem('extra-block', offset, (spill) => `block at disk byte ${offset}${spill} holds data the block list does not list`);
        }
      }
    }
    while (listed) {
      listedButZero(listed);
      listed = await nextListed();
    }
    if (list) {
      add(...list.problems);
      problemsOmitted += list.problemsOmitted;
      const listDigest = list.digest();
      if (listDigest !== disk.digest) {
        add({ kind: 'block-list', file: disk.blocksFile, disk: disk.descriptorFile, message: `the block list does not match the catalog's digest for ${disk.slot} (${listDigest}, the catalog says ${disk.digest}): it was changed or replaced` });
      }
    }
  } finally {
    // Reads and hashes still running (after an abort or a failure) must end before their files close.
    await Promise.allSettled(inFlight);
    await list?.close();
  }
  for (const e of prepared.extents) {
    if (e.absence && e.absence.listedBlocks > 0) e.absence.problem.message += `; ${e.absence.listedBlocks} block(s) the block list has lie there`;
  }
  const actualDigest = `sha256:${digest.digest('hex')}`;
  if (!list && actualDigest !== disk.digest) {
    add({ kind: 'digest-mismatch', file: disk.descriptorFile, disk: disk.descriptorFile, message: `the disk's data does not match the catalog's digest (read ${actualDigest}, the catalog says ${disk.digest})` });
  }
  return {
    descriptorFile: disk.descriptorFile,
    slot: disk.slot,
    capacity: disk.capacity,
    ok: problems.length === 0 && problemsOmitted === 0 && actualDigest === disk.digest,
    expectedDigest: disk.digest,
    actualDigest,
    badBlocks: [...new Set(badBlocks)].sort((a, b) => a - b),
    blocksListed,
    bytesRead,
    problems,
    problemsOmitted,
  };
}
