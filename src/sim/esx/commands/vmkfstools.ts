// `vmkfstools` of the simulated host: -t0 (block map of a disk) and -i (clone a disk chain).

import { posix } from 'node:path';
import { openChainFromDescriptor } from '../../../formats/chain.js';
import { buildBaseDescriptor, formatDescriptor, isDescriptor, parseDescriptor, SECTOR_SIZE } from '../../../formats/vmdk-descriptor.js';
import { formatBlockMap } from '../../vmfs/blockmap-format.js';
import type { CommandImpl } from '../../shell/types.js';
import type { Vfs } from '../../vmfs/types.js';
import { out } from './io.js';

const CLONE_CHUNK = 1024 * 1024;

/**
 * The simulator gives no block map for a raw device mapping (what a host prints for one is not recorded):
 * its data lies on the mapped LUN, not on the datastore's, and clients read it through the host.
 */
function refuseRdm(): never {
  throw new Error('the file is a raw device mapping: its data lies on the mapped LUN, which has no block map on this volume');
}

/** What the simulated vmkfstools does with a snapshot link's descriptor (see the inventory's host.snapshotDeltaMaps). */
export type SnapshotDeltaMaps = 'file' | 'refuse';

/** A refusal that vmkfstools prints as it is, with its exit status. */
class Refusal extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/**
 * `vmkfstools -t0` takes disk descriptors only: any other file (a flat extent, a delta, a mapping file, a
 * .vmx) is refused as real hosts refuse it. Returns the descriptor's data file (flat extent or delta) and
 * the size the map covers.
 */
function dataFileOf(vfs: Vfs, path: string, given: string, deltaMaps: SnapshotDeltaMaps): { file: string; size: number } {
  const f = vfs.open(path);
  const buf = Buffer.alloc(4096);
  const head = buf.subarray(0, f.read(buf, 0));
  if (!isDescriptor(head)) throw new Refusal(`Failed to open '${given}': The file specified is not a virtual disk (15).`);
  const d = parseDescriptor(vfs.readFile(path).toString('utf8'));
  const ext = d.extents[0];
  if (!ext?.fileName) throw new Error(`${path}: descriptor has no extent`);
  if (ext.type === 'VMFSRDM' || ext.type === 'VMFSRAW') refuseRdm();
  const sparse = ext.type === 'VMFSSPARSE' || ext.type === 'SESPARSE' || d.createType === 'vmfsSparse' || d.createType === 'seSparse';
  // What a real host prints here is not recorded: the text is the simulator's own.
  if (sparse && deltaMaps === 'refuse') throw new Refusal(`Failed to get the block map of '${given}': the disk is a snapshot (sparse) delta, which this host does not map.`);
  const file = posix.isAbsolute(ext.fileName) ? ext.fileName : `${posix.dirname(path)}/${ext.fileName}`;
  const size = sparse ? vfs.stat(file)!.size : ext.sectors * SECTOR_SIZE;
  return { file, size };
}

export function vmkfstools(vfs: Vfs, deltaMaps: () => SnapshotDeltaMaps = () => 'file'): CommandImpl {
  return async ({ argv, stdout, stderr, signal }) => {
    const args = argv.slice(1);
    try {
      if (args[0] === '-t0' || (args[0] === '-t' && args[1] === '0')) {
        const path = args[0] === '-t0' ? args[1] : args[2];
        if (!path) {
          await out(stderr, 'vmkfstools: option -t requires a file\n');
          return 1;
        }
        const canonical = vfs.canonical(path);
        const st = vfs.stat(canonical);
        if (!st) throw Object.assign(new Error('No such file or directory'), { code: 'ENOENT' });
        if (st.type !== 'file') throw new Refusal(`Failed to open '${path}': The file specified is not a virtual disk (15).`);
        const { file, size } = dataFileOf(vfs, canonical, path, deltaMaps());
        const ds = vfs.datastores().find((d) => canonical.startsWith(`/vmfs/volumes/${d.uuid}/`));
        if (!ds) throw new Error('not on a VMFS volume');
        await out(stdout, formatBlockMap(path, size, vfs.blockMap(file), ds));
        return 0;
      }
      if (args[0] === '-i') {
        const src = args[1];
        let fmt = 'zeroedthick';
        let dst = args[2];
        if (args[2] === '-d') {
          fmt = args[3] ?? '';
          dst = args[4];
        }
        if (!src || !dst) {
          await out(stderr, 'vmkfstools: usage: vmkfstools -i <src> [-d thin|zeroedthick|eagerzeroedthick] <dst>\n');
          return 1;
        }
        if (!['thin', 'zeroedthick', 'eagerzeroedthick'].includes(fmt)) {
          await out(stderr, `Failed to clone disk: The specified disk format "${fmt}" is not supported by this host.\n`);
          return 1;
        }
        const srcPath = vfs.canonical(src);
        const dstPath = vfs.canonical(dst);
        if (vfs.stat(dstPath)) {
          await out(stderr, `Failed to clone disk: The file already exists (39).\n`);
          return 1;
        }
        const chain = openChainFromDescriptor(srcPath, (p) => vfs.open(p));
        const stem = posix.basename(dstPath, '.vmdk');
        const flat = `${posix.dirname(dstPath)}/${stem}-flat.vmdk`;
        try {
          vfs.createFile(flat, { size: chain.capacity, thin: fmt === 'thin' });
          const target = vfs.open(flat);
          const buf = Buffer.alloc(CLONE_CHUNK);
          const zero = Buffer.alloc(CLONE_CHUNK);
          let lastPct = -1;
          await out(stdout, `Destination disk format: VMFS ${fmt}\nCloning disk '${src}'...\n`);
          for (let pos = 0; pos < chain.capacity; pos += CLONE_CHUNK) {
            if (signal.aborted) throw new Error('interrupted');
            const piece = buf.subarray(0, Math.min(CLONE_CHUNK, chain.capacity - pos));
            chain.read(piece, pos);
            if (fmt !== 'thin' || !piece.equals(zero.subarray(0, piece.length))) target.write(piece, pos);
            const pct = Math.floor(((pos + piece.length) * 100) / chain.capacity);
            if (pct !== lastPct && pct % 10 === 0) {
              lastPct = pct;
              await out(stdout, `Clone: ${pct}% done.\n`);
            }
          }
          vfs.writeFile(dstPath, formatDescriptor(buildBaseDescriptor({ capacitySectors: chain.capacity / SECTOR_SIZE, flatFileName: `${stem}-flat.vmdk`, thin: fmt === 'thin' })));
        } catch (e) {
          try {
            vfs.remove(flat);
          } catch {
            /* nothing to remove */
          }
          throw e;
        } finally {
          chain.close();
        }
        return 0;
      }
      await out(stderr, `vmkfstools: unsupported options: ${args.join(' ')}\n`);
      return 1;
    } catch (e) {
      if (e instanceof Refusal) {
        await out(stderr, `${e.message}\n`);
        return e.exitCode;
      }
      const err = e as { code?: string; message: string };
      const why = err.code === 'ENOSPC' ? 'No space left on device' : err.code === 'ENOENT' ? 'No such file or directory' : err.message;
      await out(stderr, args[0] === '-i' ? `Failed to clone disk : ${why}\n` : `Could not open ${args[args.length - 1]}: ${why}\n`);
      return 1;
    }
  };
}

export function vmwareVersion(version: string): CommandImpl {
  return async ({ argv, stdout, stderr }) => {
    if (argv[1] === '-v' || argv[1] === '--version') {
      await out(stdout, `${version}\n`);
      return 0;
    }
    if (argv[1] === '-l') {
      await out(stdout, `${version.replace(/ build-\d+$/, '')} GA\n`);
      return 0;
    }
    await out(stderr, 'Usage: vmware [-v|-l]\n');
    return 1;
  };
}
