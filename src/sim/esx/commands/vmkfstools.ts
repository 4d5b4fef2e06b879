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
      if (args[0] === '-P') return await queryFileSystem(vfs, args.slice(1), stdout, stderr);
      if (args[0] === '-c') return await createDisk(vfs, args.slice(1), stdout, stderr);
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

type Out = Parameters<CommandImpl>[0]['stdout'];

/** `vmkfstools -P [-h] <path>`: the attributes of the VMFS volume holding path, in the layout hosts print. */
async function queryFileSystem(vfs: Vfs, args: string[], stdout: Out, stderr: Out): Promise<number> {
  const path = args.filter((a) => a !== '-h' && a !== '-v')[0];
  if (!path) {
    await out(stderr, 'vmkfstools: option -P requires a path\n');
    return 1;
  }
  const canonical = vfs.canonical(path);
  const ds = vfs.datastores().find((d) => canonical === `/vmfs/volumes/${d.uuid}` || canonical.startsWith(`/vmfs/volumes/${d.uuid}/`));
  if (!ds || !vfs.stat(canonical)) throw Object.assign(new Error('No such file or directory'), { code: 'ENOENT' });
  const blocks = (n: number) => Math.floor(n / ds.blockSize);
  await out(
    stdout,
    [
      'VMFS-5.61 file system spanning 1 partitions.',
      `File system label (if any): ${ds.name}`,
      'Mode: public',
      `Capacity ${ds.capacity} (${blocks(ds.capacity)} file blocks * ${ds.blockSize}), ${ds.free} (${blocks(ds.free)} blocks) avail, max supported file size 69201586814976`,
      'Disk Block Size: 512/512/0',
      `UUID: ${ds.uuid}`,
      'Partitions spanned (on "lvm"):',
      `\tnaa.600000000000000000000000${ds.lvid.replace(/[^0-9a-f]/gi, '').slice(0, 8)}:1`,
      'Is Native Snapshot Capable: NO',
      '',
    ].join('\n'),
  );
  return 0;
}

const SIZE_SUFFIX: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/**
 * `vmkfstools -c <size>[kmgt] [-d thin|zeroedthick|eagerzeroedthick] [-a lsilogic|buslogic|ide] <disk.vmdk>`: a new
 * disk, its flat extent `<name>-flat.vmdk` beside the descriptor. Refuses an existing file, as hosts do.
 */
async function createDisk(vfs: Vfs, args: string[], stdout: Out, stderr: Out): Promise<number> {
  const m = /^(\d+)([kKmMgGtT]?)$/.exec(args[0] ?? '');
  let format = 'zeroedthick';
  let adapter = 'buslogic';
  let path: string | undefined;
  for (let i = 1; i < args.length; i++) {
    if (args[i] === '-d') format = args[++i] ?? '';
    else if (args[i] === '-a') adapter = args[++i] ?? '';
    else if (path === undefined && !args[i]!.startsWith('-')) path = args[i];
    else {
      await out(stderr, `vmkfstools: unsupported option ${args[i]}\n`);
      return 1;
    }
  }
  if (!m || !path) {
    await out(stderr, 'vmkfstools: usage: vmkfstools -c <size>[kmg] [-d thin|zeroedthick|eagerzeroedthick] [-a lsilogic|buslogic|ide] <disk.vmdk>\n');
    return 1;
  }
  const size = Number(m[1]) * SIZE_SUFFIX[m[2]!.toLowerCase()]!;
  if (!['thin', 'zeroedthick', 'eagerzeroedthick'].includes(format)) {
    await out(stderr, `Failed to create virtual disk: The specified disk format "${format}" is not supported by this host.\n`);
    return 1;
  }
  if (!['lsilogic', 'buslogic', 'ide'].includes(adapter)) {
    await out(stderr, `Failed to create virtual disk: Invalid adapter type "${adapter}".\n`);
    return 1;
  }
  if (size <= 0 || size % SECTOR_SIZE !== 0 || !/\.vmdk$/i.test(path) || /-flat\.vmdk$/i.test(path)) {
    await out(stderr, 'Failed to create virtual disk: The parameter is incorrect (1).\n');
    return 1;
  }
  const descriptor = vfs.canonical(path);
  const stem = posix.basename(descriptor, '.vmdk');
  const flat = `${posix.dirname(descriptor)}/${stem}-flat.vmdk`;
  if (vfs.stat(descriptor) || vfs.stat(flat)) {
    await out(stderr, 'Failed to create virtual disk: The file already exists (39).\n');
    return 1;
  }
  try {
    vfs.createFile(flat, { size, thin: format === 'thin' });
    vfs.writeFile(descriptor, formatDescriptor(buildBaseDescriptor({ capacitySectors: size / SECTOR_SIZE, flatFileName: `${stem}-flat.vmdk`, thin: format === 'thin', adapterType: adapter })));
  } catch (e) {
    for (const f of [flat, descriptor]) {
      try {
        vfs.remove(f);
      } catch {
        /* not created */
      }
    }
    const err = e as { code?: string; message: string };
    await out(stderr, `Failed to create virtual disk: ${err.code === 'ENOSPC' ? 'No space left on device (28)' : err.message}.\n`);
    return 1;
  }
  await out(stdout, format === 'thin' ? 'Create: 100% done.\n' : `Creating disk '${path}' and zeroing it out...\nCreate: 100% done.\n`);
  return 0;
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
