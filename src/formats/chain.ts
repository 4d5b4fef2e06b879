// A virtual disk made of a flat base and a stack of snapshot deltas (COWD or SEsparse, mixed), as a VM with snapshots sees it.
import path from 'node:path';
import { isCowd } from './cowd-header.js';
import { FlatExtents, type FlatExtentPart } from './flat-extents.js';
import type { RandomAccessFile } from './random-access.js';
import { isSesparse } from './sesparse-header.js';
import { openSparseDelta, type ParentReader, type SparseDelta } from './sparse-delta.js';
import { capacityBytes, SECTOR_SIZE, type VmdkDescriptor } from './vmdk-model.js';
import { isDescriptor, parseDescriptor } from './vmdk-text.js';

const COPY_CHUNK = 1024 * 1024;

export class DiskChain {
  private readonly stack: SparseDelta[];

  /** deltas are ordered oldest first; the last one receives writes. */
  constructor(
    readonly base: RandomAccessFile,
    readonly capacity: number,
    deltas: SparseDelta[] = [],
  ) {
    for (const delta of deltas) this.checkDelta(delta);
    this.stack = [...deltas];
  }

  get deltas(): readonly SparseDelta[] {
    return this.stack;
  }

  private checkDelta(delta: SparseDelta): void {
    if (delta.capacity !== this.capacity) {
      throw new Error(`delta capacity ${delta.capacity} differs from disk capacity ${this.capacity}`);
    }
  }

  private checkRange(position: number, length: number): void {
    if (!Number.isSafeInteger(position) || position < 0 || position + length > this.capacity) {
      throw new RangeError(`range ${position}+${length} outside disk of ${this.capacity} bytes`);
    }
  }

  /** Puts a new delta on top (taking a snapshot). */
  pushDelta(delta: SparseDelta): void {
    this.checkDelta(delta);
    this.stack.push(delta);
  }

  /** Reads what the disk looked like with only the lowest `layers` deltas (0 = base alone). */
  readLayers(layers: number, buf: Uint8Array, position: number): void {
    this.checkRange(position, buf.length);
    if (layers === 0) {
      const got = this.base.read(buf, position);
      if (got < buf.length) buf.fill(0, got);
      return;
    }
    const delta = this.stack[layers - 1]!;
    let cursor = position;
    const fillGap = (gapEnd: number): void => {
      if (gapEnd > cursor) this.readLayers(layers - 1, buf.subarray(cursor - position, gapEnd - position), cursor);
    };
    for (const range of delta.read(buf, position)) {
      fillGap(range.offset);
      cursor = range.offset + range.length;
    }
    fillGap(position + buf.length);
  }

  read(buf: Uint8Array, position: number): void {
    this.readLayers(this.stack.length, buf, position);
  }

  private parentOf(layers: number): ParentReader {
    return { read: (buf, position) => this.readLayers(layers, buf, position) };
  }

  private writeLayer(layer: number, buf: Uint8Array, position: number): void {
    if (layer === 0) this.base.write(buf, position);
    else this.stack[layer - 1]!.write(buf, position, this.parentOf(layer - 1));
  }

  write(buf: Uint8Array, position: number): void {
    this.checkRange(position, buf.length);
    this.writeLayer(this.stack.length, buf, position);
  }

  /**
   * Merges the top delta into the layer below it (what removing a snapshot does), copying only
   * the grains the top holds, then drops it from the chain and returns it.
   */
  commitTop(): SparseDelta {
    const top = this.stack[this.stack.length - 1];
    if (!top) throw new Error('no delta to commit');
    const below = this.stack.length - 1;
    const chunk = new Uint8Array(COPY_CHUNK);
    for (const range of top.allocatedExtents()) {
      for (let done = 0; done < range.length; done += COPY_CHUNK) {
        const piece = chunk.subarray(0, Math.min(COPY_CHUNK, range.length - done));
        top.read(piece, range.offset + done);
        this.writeLayer(below, piece, range.offset + done);
      }
    }
    this.stack.pop();
    return top;
  }
}

/** What one descriptor in a chain named, for callers that list or delete a chain's files. */
export interface ChainLayerInfo {
  descriptorPath: string;
  descriptor: VmdkDescriptor;
  extentPaths: string[];
}

export type FileOpener = (filePath: string) => RandomAccessFile;

interface Closable {
  close(): void;
}

/** A DiskChain opened from descriptors; layers run from the base descriptor to the top one. */
export class DescriptorChain extends DiskChain {
  constructor(
    base: RandomAccessFile,
    capacity: number,
    deltas: SparseDelta[],
    readonly layers: ChainLayerInfo[],
    private readonly opened: RandomAccessFile[],
  ) {
    super(base, capacity, deltas);
  }

  /** Closes every file the chain opened that has a close() method. */
  close(): void {
    for (const file of this.opened) (file as Partial<Closable>).close?.();
  }
}

function readWhole(file: RandomAccessFile): Uint8Array {
  const buf = new Uint8Array(Math.min(file.size(), 1024 * 1024));
  return buf.subarray(0, file.read(buf, 0));
}

function resolveBeside(descriptorPath: string, fileName: string): string {
  return path.posix.isAbsolute(fileName) ? fileName : path.posix.join(path.posix.dirname(descriptorPath), fileName);
}

function readDescriptor(descriptorPath: string, openFile: FileOpener): VmdkDescriptor {
  const file = openFile(descriptorPath);
  try {
    const bytes = readWhole(file);
    if (!isDescriptor(bytes)) {
      const kind = isCowd(bytes) ? 'a bare COWD extent' : isSesparse(bytes) ? 'a bare SEsparse extent' : 'not a text descriptor';
      throw new Error(`${descriptorPath}: ${kind}; expected a VMDK descriptor`);
    }
    return parseDescriptor(Buffer.from(bytes).toString('utf8'));
  } finally {
    (file as Partial<Closable>).close?.();
  }
}

const SPARSE_TYPES = new Set(['VMFSSPARSE', 'SPARSE', 'SESPARSE']);
const MAX_CHAIN_DEPTH = 255;

/**
 * Follows a descriptor (a snapshot child's parentFileNameHint, resolved against the descriptor's
 * directory) down to the base disk's flat extents, opening every file through openFile.
 */
export function openChainFromDescriptor(descriptorPath: string, openFile: FileOpener): DescriptorChain {
  const opened: RandomAccessFile[] = [];
  const open = (filePath: string): RandomAccessFile => {
    const file = openFile(filePath);
    opened.push(file);
    return file;
  };
  try {
    const deltas: SparseDelta[] = [];
    const layers: ChainLayerInfo[] = [];
    let current = descriptorPath;
    let capacity: number | undefined;
    for (let depth = 0; ; depth++) {
      if (depth > MAX_CHAIN_DEPTH) throw new Error(`${descriptorPath}: snapshot chain deeper than ${MAX_CHAIN_DEPTH}`);
      const descriptor = readDescriptor(current, openFile);
      capacity ??= capacityBytes(descriptor);
      const extentPaths = descriptor.extents.flatMap((e) => (e.fileName === undefined ? [] : [resolveBeside(current, e.fileName)]));
      layers.unshift({ descriptorPath: current, descriptor, extentPaths });
      const sparse = descriptor.extents.filter((e) => SPARSE_TYPES.has(e.type));
      if (sparse.length === 0) {
        const base = new FlatExtents(flatParts(current, descriptor, open));
        if (base.size() !== capacity) {
          throw new Error(`${current}: base capacity ${base.size()} differs from the top's ${capacity}`);
        }
        deltas.reverse();
        return new DescriptorChain(base, capacity, deltas, layers, opened);
      }
      if (descriptor.extents.length !== 1) throw new Error(`${current}: a sparse delta must be the only extent`);
      if (descriptor.parentFileNameHint === undefined) {
        throw new Error(`${current}: ${descriptor.createType} disk has no parentFileNameHint`);
      }
      const delta = openSparseDelta(open(extentPaths[0]!));
      const expected = descriptor.extents[0]!.type === 'SESPARSE' ? 'seSparse' : 'vmfsSparse';
      if (delta.format !== expected) throw new Error(`${current}: its ${descriptor.extents[0]!.type} extent holds a ${delta.format} delta`);
      deltas.push(delta);
      current = resolveBeside(current, descriptor.parentFileNameHint);
    }
  } catch (error) {
    for (const file of opened) (file as Partial<Closable>).close?.();
    throw error;
  }
}

function flatParts(descriptorPath: string, descriptor: VmdkDescriptor, open: FileOpener): FlatExtentPart[] {
  return descriptor.extents.map((extent) => {
    const length = extent.sectors * SECTOR_SIZE;
    if (extent.type === 'ZERO') return { length };
    // A raw device mapping's extent names its mapping file; read through VMFS, that file is the mapped LUN's bytes.
    if (extent.type !== 'FLAT' && extent.type !== 'VMFS' && extent.type !== 'VMFSRDM') {
      throw new Error(`${descriptorPath}: extent type ${extent.type} is not supported in a ${descriptor.createType} base`);
    }
    const file = open(resolveBeside(descriptorPath, extent.fileName!));
    return { length, file, fileOffset: (extent.offset ?? 0) * SECTOR_SIZE };
  });
}
