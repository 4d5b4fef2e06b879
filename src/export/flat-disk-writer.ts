// Writes one exported disk: sparse flat extent file(s), its descriptor, and its block checksum list.

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  buildMonolithicFlatDescriptor,
  buildTwoGbMaxExtentFlatDescriptor,
  formatDescriptor,
  SECTOR_SIZE,
  TWO_GB_EXTENT_SECTORS,
  type VmdkDescriptor,
} from '../formats/vmdk-descriptor.js';
import type { ByteRange } from '../vlun/types.js';
import { BlockAssembler } from './block-assembler.js';
import { BLOCK_HASH, DIGEST_BLOCK, type BlockHash } from './block-digest.js';
import { blocksFileName, digestOfBlocksFile, rehashBlocks } from './block-list-file.js';
import { ExtentFiles } from './extent-files.js';
import { fsyncPath } from './fsync-path.js';
import { LineFileWriter } from './line-file.js';
import { directWritesSuit } from '../util/direct-io.js';

export { blocksFileName, digestOfBlocksFile, touchedBlockOffsets } from './block-list-file.js';

export type DiskLayout = 'monolithicFlat' | 'twoGbMaxExtentFlat';

export interface FlatDiskWriterOptions {
  dir: string;
  /** e.g. `web01.vmdk`; extents are named after it. */
  descriptorFileName: string;
  capacity: number;
  layout: DiskLayout;
  /** Bytes per extent for twoGbMaxExtentFlat (a multiple of 512); default 2 GiB. */
  splitExtentBytes?: number;
  adapterType?: string;
  /** 1 MiB blocks held in memory while they are written and hashed, as the next ones are read; default 8. */
  blocksInMemory?: number;
  /**
   * O_DIRECT writes: 'auto' (the default) where the directory's file system is a local one that suits them
   * (util/direct-io.ts), true wherever the file system takes them, false never.
   */
  direct?: boolean | 'auto';
}

export interface WrittenDisk {
  descriptorFile: string;
  extentFiles: string[];
  blocksFile: string;
  blockHash: BlockHash;
  digest: string;
}

export class FlatDiskWriter {
  private readonly streamed: BlockAssembler;

  private constructor(
    private readonly options: FlatDiskWriterOptions,
    readonly descriptor: VmdkDescriptor,
    private readonly files: ExtentFiles,
    private readonly blocks: LineFileWriter,
  ) {
    this.streamed = new BlockAssembler({
      capacity: options.capacity,
      hash: BLOCK_HASH,
      write: (offset, data) => this.files.write(offset, data),
      onLine: (line) => blocks.add(line),
      ...(options.blocksInMemory !== undefined ? { slots: options.blocksInMemory } : {}),
    });
  }

  /** Creates every extent file at its full size as a hole (truncate), and the block list file. */
  static async create(options: FlatDiskWriterOptions): Promise<FlatDiskWriter> {
    const { capacity } = options;
    if (!Number.isSafeInteger(capacity) || capacity <= 0 || capacity % SECTOR_SIZE !== 0) {
      throw new Error(`disk capacity ${capacity} is not a positive multiple of ${SECTOR_SIZE}`);
    }
    const capacitySectors = capacity / SECTOR_SIZE;
    const descriptor = options.layout === 'monolithicFlat'
      ? buildMonolithicFlatDescriptor({
          capacitySectors,
          flatFileName: `${options.descriptorFileName.replace(/\.vmdk$/i, '')}-flat.vmdk`,
          ...(options.adapterType ? { adapterType: options.adapterType } : {}),
        })
      : buildTwoGbMaxExtentFlatDescriptor({
          capacitySectors,
          descriptorFileName: options.descriptorFileName,
          extentSectors: splitSectors(options.splitExtentBytes),
          ...(options.adapterType ? { adapterType: options.adapterType } : {}),
        });
    const direct = options.direct === undefined || options.direct === 'auto' ? await directWritesSuit(options.dir) : options.direct;
    const specs = descriptor.extents.map((e) => ({ fileName: e.fileName!, length: e.sectors * SECTOR_SIZE }));
    const files = await ExtentFiles.create(options.dir, specs, direct, DIGEST_BLOCK);
    try {
      const blocks = await LineFileWriter.create(join(options.dir, blocksFileName(options.descriptorFileName, BLOCK_HASH)));
      return new FlatDiskWriter(options, descriptor, files, blocks);
    } catch (error) {
      await files.close();
      throw error;
    }
  }

  /** Whether writes go around the page cache: the extents opened for O_DIRECT and not refused since. */
  get writesDirectly(): boolean {
    return this.files.writesDirectly;
  }

  get extentFiles(): string[] {
    return this.files.fileNames;
  }

  /**
   * Reader output, in increasing offset order: hashed, and written except where all zero (left as holes).
   * The bytes are copied, so the caller may reuse the chunk once this settles; writes and hashes may still
   * be running (a bounded number). A failed write is thrown by a later call, writeAt, readAt or finish.
   */
  async writeStreamed(offset: number, chunk: Buffer): Promise<void> {
    await this.streamed.push(offset, chunk);
    await this.blocks.flushIfFull();
  }

  /** Ends the streamed part: waits for its writes and block hashes and frees their memory (finish does it too). */
  async endStream(): Promise<void> {
    await this.streamed.finish();
    await this.blocks.flushIfFull();
  }

  /** Positional write of every byte given (zeros included), across extent files, after every streamed write. */
  async writeAt(offset: number, data: Buffer): Promise<void> {
    this.checkRange(offset, data.length);
    await this.streamed.settleWrites();
    await this.files.write(offset, data);
  }

  private checkRange(offset: number, length: number): void {
    if (offset < 0 || offset + length > this.options.capacity) {
      throw new RangeError(`write ${offset}+${length} outside disk of ${this.options.capacity} bytes`);
    }
  }

  async readAt(offset: number, target: Buffer): Promise<void> {
    await this.streamed.settleWrites();
    await this.files.read(offset, target);
  }

  /**
   * Completes the disk: ends the streamed hashing, rehashes from the output the blocks that overlays
   * touched, writes the descriptor, fsyncs and closes everything. Returns the files and the digest.
   */
  async finish(overlaid: readonly ByteRange[] = []): Promise<WrittenDisk> {
    const { dir, descriptorFileName, capacity } = this.options;
    const blocksFile = blocksFileName(descriptorFileName, BLOCK_HASH);
    const blocksPath = join(dir, blocksFile);
    await this.streamed.finish();
    await this.blocks.close();
    if (overlaid.length > 0) await rehashBlocks(blocksPath, overlaid, capacity, BLOCK_HASH, (offset, target) => this.readAt(offset, target));
    await this.files.settleFlushes();
    await this.files.sync();
    await this.files.close();
    const descriptorPath = join(dir, descriptorFileName);
    await writeFile(descriptorPath, formatDescriptor(this.descriptor), { flag: 'wx' });
    await fsyncPath(descriptorPath);
    return {
      descriptorFile: descriptorFileName,
      extentFiles: this.extentFiles,
      blocksFile,
      blockHash: BLOCK_HASH,
      digest: await digestOfBlocksFile(blocksPath, capacity, BLOCK_HASH),
    };
  }

  async abandon(): Promise<void> {
    await this.streamed.abandon();
    await this.files.settleFlushes().catch(() => {});
    await this.blocks.abandon();
    await this.files.close();
  }
}

function splitSectors(bytes: number | undefined): number {
  if (bytes === undefined) return TWO_GB_EXTENT_SECTORS;
  if (!Number.isSafeInteger(bytes) || bytes <= 0 || bytes % SECTOR_SIZE !== 0) {
    throw new Error(`split extent size ${bytes} is not a positive multiple of ${SECTOR_SIZE}`);
  }
  return bytes / SECTOR_SIZE;
}
