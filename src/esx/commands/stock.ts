// argv builders for the stock host utilities the tool may rely on (vmware -v, cat, vmkfstools, mkdir, rm, dd).

import { shellQuote } from '../../util/shell-quote.js';
import { requireAbsolutePath, requireDescriptorPath, requireVmDirectory } from './validate.js';

/** The block size restore writes with: VMFS's file block, and the export's checksum block. */
export const WRITE_BLOCK = 1024 * 1024;

/** Adapters `vmkfstools -c -a` takes on every host (ESX 3.x knows only these three). */
export type DiskAdapter = 'lsilogic' | 'buslogic' | 'ide';

export const stockCmd = {
  version: (): string[] => ['vmware', '-v'],
  cat: (path: string): string[] => ['cat', requireAbsolutePath(path)],
  blockMap: (diskPath: string): string[] => ['vmkfstools', '-t0', requireDescriptorPath(diskPath)],
  /** File system attributes of the volume holding path (capacity and free bytes); on ESX 3.x and ESXi alike. */
  fsInfo: (path: string): string[] => ['vmkfstools', '-P', requireAbsolutePath(path)],
  /** A new thin disk: descriptor at `descriptorPath`, its `-flat.vmdk` beside it, no block allocated. */
  createThinDisk: (descriptorPath: string, capacity: number, adapter: DiskAdapter): string[] => {
    if (!Number.isSafeInteger(capacity) || capacity <= 0 || capacity % 512 !== 0) {
      throw new Error(`disk capacity ${capacity} is not a positive multiple of 512 bytes`);
    }
    return ['vmkfstools', '-c', String(capacity), '-d', 'thin', '-a', adapter, requireDescriptorPath(descriptorPath)];
  },
  /** Makes one directory; its parent must exist, and an existing directory is an error (so nothing is reused by accident). */
  mkdir: (path: string): string[] => ['mkdir', requireVmDirectory(path)],
  /** Makes a directory and its parents (an existing one is fine): for --folder's parents. */
  mkdirParents: (path: string): string[] => ['mkdir', '-p', requireVmDirectory(path)],
  /** Whether a path exists: `ls -d` (exit 0 when it does). */
  exists: (path: string): string[] => ['ls', '-d', requireAbsolutePath(path)],
  /** Renames a VM's directory on the same datastore (an old VM's files set aside while a restore replaces them). */
  move: (from: string, to: string): string[] => ['mv', requireVmDirectory(from), requireVmDirectory(to)],
  /** Removes a VM's directory with everything in it; never a datastore's root. */
  removeTree: (path: string): string[] => ['rm', '-rf', requireVmDirectory(path)],
  /**
   * Writes stdin into a disk's flat file from byte `offset` (a whole number of WRITE_BLOCKs) until stdin ends,
   * leaving the rest of the file as it is. No count= and no iflag=: the dd of ESX 3.x and of older busybox
   * builds has no iflag=fullblock, and a short read from a pipe would then shift every later block; reading
   * to the end of stdin writes each read where the previous one stopped, whatever its size.
   */
  writeAt: (flatPath: string, offset: number): string[] => {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset % WRITE_BLOCK !== 0) {
      throw new Error(`write offset ${offset} is not a whole number of ${WRITE_BLOCK}-byte blocks`);
    }
    return ['dd', `of=${requireAbsolutePath(flatPath)}`, `bs=${WRITE_BLOCK}`, `seek=${offset / WRITE_BLOCK}`, 'conv=notrunc'];
  },
};

/** `cat > FILE`: stdin into a new small file (the .vmx, .nvram, .vmsd of a restore). A command line, for its redirection. */
export function uploadLine(path: string): string {
  return `cat > ${shellQuote(requireAbsolutePath(path))}`;
}
