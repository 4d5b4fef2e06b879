// `vmkfstools` of the simulated host: -t0 (block map of a disk) and -i (clone a disk chain).

import { posix } from 'node:path';
import { openChainFromDescriptor } from '../../../formats/chain.js';
import { buildBaseDescriptor, formatDescriptor, isDescriptor, parseDescriptor, SECTOR_SIZE } from '../../../formats/vmdk-descriptor.js';
import { formatBlockMap } from '../../vmfs/blockmap-format.js';
import type { CommandImpl } from '../../shell/types.js';
import type { Vfs } from '../../vmfs/types.js';
import { out } from './io.js';

const CLONE_CHUNK = 1024 * 1024;

const RDM_MAPPING_FILE = /-rdmp?\.vmdk$/;

/**
 * The simulator gives no block map for a raw device mapping (what a host prints for one is not recorded):
 * its data lies on the mapped LUN, not on the datastore's, and clients read it through the host.
 */
function refuseRdm(): never {
  throw new Error('the file is a raw device mapping: its data lies on the mapped LUN, which has no block map on this volume');
}

/** For a descriptor, the file holding its data (flat extent or delta); other files map themselves. */
function dataFileOf(vfs: Vfs, path: string): { file: string; size: number } {
  const f = vfs.open(path);
  const buf = Buffer.alloc(4096);
  const head = buf.subarray(0, f.read(buf, 0));
  if (!isDescriptor(head)) {
    if (RDM_MAPPING_FILE.test(path)) refuseRdm();
    return { file: path, size: f.size() };
  }
  const d = parseDescriptor(vfs.readFile(path).toString('utf8'));
  const ext = d.extents[0];
  if (!ext?.fileName) throw new Error(`${path}: descriptor has no extent`);
  if (ext.type === 'VMFSRDM' || ext.type === 'VMFSRAW') refuseRdm();
  const file = posix.isAbsolute(ext.fileName) ? ext.fileName : `${posix.dirname(path)}/${ext.fileName}`;
  const size = ext.type === 'VMFSSPARSE' ? vfs.stat(file)!.size : ext.sectors * SECTOR_SIZE;
  return { file, size };
}

export function vmkfstools(vfs: Vfs): CommandImpl {
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
        if (!vfs.stat(canonical)) throw Object.assign(new Error('No such file or directory'), { code: 'ENOENT' });
        const { file, size } = dataFileOf(vfs, canonical);
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
