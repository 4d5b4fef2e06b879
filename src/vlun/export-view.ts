// A fullvm export's disk as the disk server serves it: its descriptor's flat extents read from this proxy's files, opened read-only; holes and ZERO extents read as zeros.

import { open, readFile, type FileHandle } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import { parseDescriptor, SECTOR_SIZE } from '../formats/vmdk-descriptor.js';

interface Part {
  /** Where the extent starts on the disk, in bytes. */
  start: number;
  length: number;
  /** Absent for a ZERO extent. */
  file?: FileHandle;
  fileOffset: number;
}

/**
 * Reads of one exported disk. Only FLAT (and VMFS) and ZERO extents are read: what an export writes. Every file
 * is opened O_RDONLY, so nothing served through it can change the backup; a file shorter than its extent is a
 * damaged export and is refused at open, not served as zeros.
 */
export class ExportDiskView {
  private constructor(
    private readonly parts: Part[],
    readonly size: number,
  ) {}

  static async open(descriptorPath: string, capacity: number): Promise<ExportDiskView> {
    const descriptor = parseDescriptor(await readFile(descriptorPath, 'utf8'));
    const parts: Part[] = [];
    let start = 0;
    try {
      for (const extent of descriptor.extents) {
        const length = extent.sectors * SECTOR_SIZE;
        if (extent.type === 'ZERO') {
          parts.push({ start, length, fileOffset: 0 });
        } else if (extent.type === 'FLAT' || extent.type === 'VMFS') {
          const path = isAbsolute(extent.fileName!) ? extent.fileName! : join(dirname(descriptorPath), extent.fileName!);
          const file = await open(path, 'r');
          const fileOffset = (extent.offset ?? 0) * SECTOR_SIZE;
          parts.push({ start, length, file, fileOffset });
          const size = (await file.stat()).size;
          if (size < fileOffset + length) throw new Error(`${path} holds ${size} bytes, its extent in ${descriptorPath} needs ${fileOffset + length}: the export is damaged`);
        } else {
          throw new Error(`${descriptorPath}: a ${extent.type} extent; an export's disk has FLAT or ZERO extents only`);
        }
        start += length;
      }
      if (start !== capacity) throw new Error(`${descriptorPath} describes ${start} bytes, the catalog says ${capacity}: the export is damaged`);
    } catch (e) {
      for (const p of parts) await p.file?.close().catch(() => {});
      throw e;
    }
    return new ExportDiskView(parts, capacity);
  }

  async readAt(offset: number, length: number): Promise<Buffer> {
    const buf = Buffer.alloc(length);
    const end = Math.min(offset + length, this.size);
    for (const p of this.parts) {
      const from = Math.max(offset, p.start);
      const to = Math.min(end, p.start + p.length);
      if (from >= to || !p.file) continue;
      let done = 0;
      while (done < to - from) {
        const { bytesRead } = await p.file.read(buf, from - offset + done, to - from - done, p.fileOffset + from - p.start + done);
        // Checked at open; a file truncated since is damage, never zeros.
        if (bytesRead === 0) throw new Error(`an extent file ended early at disk offset ${from + done} (truncated since it was opened?)`);
        done += bytesRead;
      }
    }
    return buf;
  }

  async close(): Promise<void> {
    for (const p of this.parts) await p.file?.close().catch(() => {});
  }
}
