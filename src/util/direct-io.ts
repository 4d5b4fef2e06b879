// Direct I/O (O_DIRECT) support: page-aligned memory and the checks both the LUN reader and the export writer need.
//
// Direct reads and writes move bytes between the device and this process's memory without the page cache.
// Linux requires the file position, the length and the memory address to be aligned to the device's
// logical block; DIRECT_ALIGN (4096) covers both 512-byte and 4 KiB-sector devices. Where a system refuses
// (EINVAL: no O_DIRECT on the file system, or an alignment it does not accept), callers use the page cache.

import { constants } from 'node:fs';
import { open, statfs, type FileHandle } from 'node:fs/promises';

export const DIRECT_ALIGN = 4096;

/** The open flag for direct I/O, or undefined where this OS has none. */
export const O_DIRECT: number | undefined = constants.O_DIRECT;

export function isEinval(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'EINVAL';
}

/**
 * Opens `path` for direct I/O ('r' or 'w', never creating it); undefined where this OS has no O_DIRECT or
 * the file system refuses it (EINVAL). Other errors are thrown.
 */
export async function openDirect(path: string, access: 'r' | 'w'): Promise<FileHandle | undefined> {
  if (O_DIRECT === undefined) return undefined;
  try {
    return await open(path, (access === 'r' ? constants.O_RDONLY : constants.O_WRONLY) | O_DIRECT);
  } catch (error) {
    if (isEinval(error)) return undefined;
    throw error;
  }
}

/** The WebAssembly global (the TypeScript lib in use does not declare it; node --jitless has none). */
function wasm(): { Memory: new (size: { initial: number; maximum: number }) => { buffer: ArrayBuffer } } | undefined {
  return (globalThis as { WebAssembly?: ReturnType<typeof wasm> }).WebAssembly;
}

/**
 * `count` buffers of `size` bytes whose memory starts on a page boundary, as direct I/O needs: the memory
 * of a WebAssembly instance is mapped whole pages, where an ordinary Buffer may start anywhere. Without
 * WebAssembly (node --jitless) they are ordinary buffers, and direct I/O into them is refused (EINVAL).
 */
export function alignedBuffers(count: number, size: number): Buffer[] {
  const stride = Math.ceil(size / DIRECT_ALIGN) * DIRECT_ALIGN;
  const WASM_PAGE = 65536;
  const pages = Math.max(1, Math.ceil((stride * count) / WASM_PAGE));
  const Memory = wasm()?.Memory;
  let memory: ArrayBuffer | undefined;
  try {
    memory = Memory ? new Memory({ initial: pages, maximum: pages }).buffer : undefined;
  } catch {
    memory = undefined;
  }
  return Array.from({ length: count }, (_, i) => (memory ? Buffer.from(memory, i * stride, size) : Buffer.allocUnsafe(size)));
}

/**
 * File systems (statfs f_type) where a direct write goes straight to a local block device: ext2/3/4, XFS,
 * Btrfs. Elsewhere the page cache serves writes better: on NFS and SMB each direct write waits for the
 * server, tmpfs keeps its pages in memory whatever the flag, and FUSE and the rest vary.
 */
const DIRECT_WRITE_FILE_SYSTEMS: ReadonlyMap<number, string> = new Map([
  [0xef53, 'ext2/3/4'],
  [0x58465342, 'xfs'],
  [0x9123683e, 'btrfs'],
]);

/** The name of the file system type when direct writes suit it, else undefined. */
export function directWriteFileSystem(statfsType: number): string | undefined {
  return DIRECT_WRITE_FILE_SYSTEMS.get(statfsType);
}

/** Whether writes into `dir` should bypass the page cache: its file system is one of the above. */
export async function directWritesSuit(dir: string): Promise<boolean> {
  try {
    return directWriteFileSystem((await statfs(dir)).type) !== undefined;
  } catch {
    return false;
  }
}
