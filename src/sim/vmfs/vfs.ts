// The simulated host's file system: routes paths to datastores or the in-memory tree and enforces namespace rules.

import { mkdirSync } from 'node:fs';
import type { RandomAccessFile } from '../../formats/random-access.js';
import { Datastore } from './datastore.js';
import { SimVfsError } from './errors.js';
import { seedFrom, volumeIds } from './ids.js';
import { MemoryVolume } from './memory-volume.js';
import { isWithin, normalizeAbsolute, parseBracketPath, sortBytewise, splitRelative } from './paths.js';
import { copyTree, removeTree } from './tree-ops.js';
import type { BlockExtent, DatastoreInfo, FileStat, Vfs } from './types.js';
import type { Volume } from './volume.js';

export interface DatastoreConfig {
  name: string;
  /** LUN size in bytes. */
  capacity: number;
  blockSize?: number;
  uuid?: string;
  lvid?: string;
  /** Partition table on each LUN ('none': the volume from byte 0). */
  partitionTable?: 'none' | 'mbr' | 'gpt';
  /** Volume bytes on the first LUN of a volume spanning two. */
  spanAt?: number;
}

export interface OpenVfsOptions {
  /** Directory holding <name>.lun and <name>.vmfs.json of each datastore. */
  stateDir: string;
  datastores: DatastoreConfig[];
  /** Seeds generated volume ids and block placement; default 1. */
  seed?: number;
}

/** The Vfs plus what the simulator itself needs: direct access to a datastore and releasing the LUN files. */
export interface SimVfs extends Vfs {
  datastore(nameOrUuid: string): Datastore | undefined;
  /** Flushes metadata and closes every LUN image; the Vfs must not be used afterwards. */
  close(): void;
}

const VOLUMES_ROOT = '/vmfs/volumes';
const PRECREATED_DIRS = ['tmp', 'etc', 'usr', 'usr/sbin', 'bin'];

type Location =
  | { kind: 'volume'; volume: Volume; rel: string; datastore?: Datastore; shown: string }
  | { kind: 'virtual'; path: '/vmfs' | typeof VOLUMES_ROOT; shown: string }
  /** Somewhere under /vmfs that is neither a volume nor /vmfs/volumes: nothing exists or can be made there. */
  | { kind: 'nowhere'; shown: string };

export function openVfs(opts: OpenVfsOptions): SimVfs {
  mkdirSync(opts.stateDir, { recursive: true });
  const seed = opts.seed ?? 1;
  const datastores = opts.datastores.map((config) => {
    const ids = volumeIds(seed, config.name);
    return Datastore.open({
      stateDir: opts.stateDir,
      name: config.name,
      capacity: config.capacity,
      ...(config.blockSize !== undefined ? { blockSize: config.blockSize } : {}),
      uuid: config.uuid ?? ids.uuid,
      lvid: config.lvid ?? ids.lvid,
      seed: seedFrom(`${seed}:blocks:${config.name}`),
      ...(config.partitionTable !== undefined ? { partitionTable: config.partitionTable } : {}),
      ...(config.spanAt !== undefined ? { spanAt: config.spanAt } : {}),
    });
  });
  return new HostFileSystem(datastores);
}

class HostFileSystem implements SimVfs {
  private readonly memory = new MemoryVolume();

  constructor(private readonly stores: Datastore[]) {
    for (const dir of PRECREATED_DIRS) this.memory.makeDir(dir);
  }

  datastore(nameOrUuid: string): Datastore | undefined {
    return this.stores.find((ds) => ds.name === nameOrUuid) ?? this.stores.find((ds) => ds.uuid === nameOrUuid);
  }

  datastores(): DatastoreInfo[] {
    return this.stores.map((ds) => ds.info());
  }

  canonical(path: string): string {
    const at = this.locate(path);
    if (at.kind === 'volume' && at.datastore) return datastorePath(at.datastore, at.rel);
    return at.shown;
  }

  bracketPath(path: string): string {
    const at = this.locate(path);
    if (at.kind !== 'volume' || !at.datastore) throw new SimVfsError('EINVAL', path, 'Not on a datastore');
    return at.rel === '' ? `[${at.datastore.name}]` : `[${at.datastore.name}] ${at.rel}`;
  }

  stat(path: string): FileStat | undefined {
    const at = this.locate(path);
    if (at.kind === 'virtual') return { type: 'dir', size: 0, allocated: 0, mtimeMs: 0, thin: false };
    return at.kind === 'volume' ? at.volume.stat(at.rel) : undefined;
  }

  list(path: string): string[] {
    const at = this.locate(path);
    if (at.kind === 'virtual') {
      return at.path === '/vmfs' ? ['volumes'] : sortBytewise(this.stores.flatMap((ds) => [ds.uuid, ds.name]));
    }
    const { volume, rel } = this.existing(at);
    if (volume.kind(rel) === 'file') throw new SimVfsError('ENOTDIR', at.shown);
    const names = volume.children(rel);
    if (volume === this.memory && rel === '') names.push('vmfs');
    return sortBytewise(names);
  }

  mkdir(path: string, opts: { recursive?: boolean } = {}): void {
    const at = this.locate(path);
    if (at.kind === 'virtual') {
      if (opts.recursive) return;
      throw new SimVfsError('EEXIST', at.shown);
    }
    const { volume, rel } = this.writable(at);
    const existing = volume.kind(rel);
    if (existing === 'dir' && opts.recursive) return;
    if (existing) throw new SimVfsError('EEXIST', at.shown);
    if (opts.recursive) {
      const parts = rel.split('/');
      for (let depth = 1; depth <= parts.length; depth++) {
        const prefix = parts.slice(0, depth).join('/');
        const kind = volume.kind(prefix);
        if (kind === 'file') throw new SimVfsError('ENOTDIR', at.shown);
        if (!kind) volume.makeDir(prefix);
      }
      return;
    }
    this.checkAncestors(volume, rel, at.shown);
    volume.makeDir(rel);
  }

  createFile(path: string, opts: { size?: number; thin?: boolean } = {}): void {
    const size = opts.size ?? 0;
    if (!Number.isSafeInteger(size) || size < 0) throw new SimVfsError('EINVAL', path, `Bad size ${size}`);
    const at = this.locate(path);
    if (at.kind === 'virtual') throw new SimVfsError('EISDIR', at.shown);
    const { volume, rel } = this.writable(at);
    if (rel === '' || volume.kind(rel) === 'dir') throw new SimVfsError('EISDIR', at.shown);
    this.checkAncestors(volume, rel, at.shown);
    volume.createFile(rel, size, opts.thin ?? false);
  }

  open(path: string): RandomAccessFile {
    const { volume, rel } = this.existingFile(path);
    return volume.open(rel);
  }

  readFile(path: string): Buffer {
    const file = this.open(path);
    const data = Buffer.alloc(file.size());
    const n = file.read(data, 0);
    return data.subarray(0, n);
  }

  writeFile(path: string, data: Uint8Array | string): void {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    const thin = this.stat(path)?.thin ?? false;
    this.createFile(path, { size: 0, thin });
    this.open(path).write(bytes, 0);
  }

  remove(path: string, opts: { recursive?: boolean } = {}): void {
    const at = this.locate(path);
    if (at.kind === 'virtual') throw new SimVfsError('EACCES', at.shown);
    const { volume, rel } = this.existing(at);
    if (rel === '') throw new SimVfsError('EACCES', at.shown);
    if (volume.kind(rel) === 'file') {
      volume.removeFile(rel);
      return;
    }
    if (!opts.recursive && volume.children(rel).length > 0) throw new SimVfsError('ENOTEMPTY', at.shown);
    removeTree(volume, rel);
  }

  rename(from: string, to: string): void {
    const source = this.locate(from);
    const target = this.locate(to);
    if (source.kind === 'virtual') throw new SimVfsError('EACCES', source.shown);
    if (target.kind === 'virtual') throw new SimVfsError('EEXIST', target.shown);
    const src = this.existing(source);
    const dst = this.writable(target);
    if (src.rel === '') throw new SimVfsError('EACCES', source.shown);
    if (dst.rel === '') throw new SimVfsError('EEXIST', target.shown);
    const sameVolume = src.volume === dst.volume;
    if (sameVolume && src.rel === dst.rel) return;
    const sourceKind = src.volume.kind(src.rel)!;
    if (sourceKind === 'dir' && sameVolume && isWithin(dst.rel, src.rel)) {
      throw new SimVfsError('EINVAL', target.shown, 'Cannot move a directory into itself');
    }
    this.checkAncestors(dst.volume, dst.rel, target.shown);
    const targetKind = dst.volume.kind(dst.rel);
    if (targetKind === 'dir') {
      if (sourceKind === 'file') throw new SimVfsError('EISDIR', target.shown);
      if (dst.volume.children(dst.rel).length > 0) throw new SimVfsError('ENOTEMPTY', target.shown);
      dst.volume.removeDir(dst.rel);
    } else if (targetKind === 'file') {
      if (sourceKind === 'dir') throw new SimVfsError('ENOTDIR', target.shown);
      dst.volume.removeFile(dst.rel);
    }
    if (sameVolume) {
      src.volume.move(src.rel, dst.rel);
      return;
    }
    copyTree(src.volume, src.rel, dst.volume, dst.rel);
    removeTree(src.volume, src.rel);
  }

  blockMap(path: string): BlockExtent[] {
    const { rel, datastore, shown } = this.existingFile(path);
    if (!datastore) throw new SimVfsError('EINVAL', shown, 'Not on a datastore');
    return datastore.blockMap(rel);
  }

  setFull(datastoreName: string, full: boolean): void {
    const ds = this.datastore(datastoreName);
    if (!ds) throw new SimVfsError('ENOENT', `${VOLUMES_ROOT}/${datastoreName}`);
    ds.setFull(full);
  }

  flush(): void {
    for (const ds of this.stores) ds.flush();
  }

  close(): void {
    for (const ds of this.stores) ds.close();
  }

  private locate(path: string): Location {
    const bracket = parseBracketPath(path);
    if (bracket) {
      const ds = this.datastore(bracket.datastore);
      if (!ds) throw new SimVfsError('ENOENT', path, `No datastore named ${bracket.datastore}`);
      const rel = normalizeAbsolute('/' + bracket.rest).slice(1);
      return { kind: 'volume', volume: ds, rel, datastore: ds, shown: datastorePath(ds, rel) };
    }
    const normal = normalizeAbsolute(path);
    if (normal === '/vmfs' || normal === VOLUMES_ROOT) return { kind: 'virtual', path: normal, shown: normal };
    if (normal.startsWith(VOLUMES_ROOT + '/')) {
      const [volumeName = '', ...rest] = normal.slice(VOLUMES_ROOT.length + 1).split('/');
      const ds = this.datastore(volumeName);
      if (!ds) return { kind: 'nowhere', shown: normal };
      return { kind: 'volume', volume: ds, rel: rest.join('/'), datastore: ds, shown: normal };
    }
    if (normal.startsWith('/vmfs/')) return { kind: 'nowhere', shown: normal };
    return { kind: 'volume', volume: this.memory, rel: normal.slice(1), shown: normal };
  }

  /** A location that must exist (ENOENT, or ENOTDIR when an ancestor is a file). */
  private existing(at: Location): { volume: Volume; rel: string; datastore?: Datastore } {
    if (at.kind !== 'volume') throw new SimVfsError('ENOENT', at.shown);
    if (!at.volume.kind(at.rel)) {
      this.checkAncestors(at.volume, at.rel, at.shown);
      throw new SimVfsError('ENOENT', at.shown);
    }
    return at;
  }

  private existingFile(path: string): { volume: Volume; rel: string; datastore?: Datastore; shown: string } {
    const at = this.locate(path);
    if (at.kind === 'virtual') throw new SimVfsError('EISDIR', at.shown);
    const found = this.existing(at);
    if (found.volume.kind(found.rel) === 'dir') throw new SimVfsError('EISDIR', at.shown);
    return { ...found, shown: at.shown };
  }

  /** A location where something may be created (not under /vmfs outside a volume). */
  private writable(at: Location): { volume: Volume; rel: string } {
    if (at.kind === 'nowhere') {
      throw new SimVfsError(at.shown.startsWith(VOLUMES_ROOT + '/') ? 'ENOENT' : 'EACCES', at.shown);
    }
    if (at.kind === 'virtual') throw new SimVfsError('EACCES', at.shown);
    if (at.volume === this.memory && (at.rel === 'vmfs' || at.rel.startsWith('vmfs/'))) {
      throw new SimVfsError('EACCES', at.shown);
    }
    return at;
  }

  /** Every ancestor of rel must be an existing directory. */
  private checkAncestors(volume: Volume, rel: string, shown: string): void {
    let parent = splitRelative(rel).parent;
    const chain: string[] = [];
    while (rel !== '' && parent !== '') {
      chain.unshift(parent);
      parent = splitRelative(parent).parent;
    }
    for (const ancestor of chain) {
      const kind = volume.kind(ancestor);
      if (kind === 'file') throw new SimVfsError('ENOTDIR', shown);
      if (!kind) throw new SimVfsError('ENOENT', shown);
    }
  }
}

function datastorePath(ds: Datastore, rel: string): string {
  return rel === '' ? `${VOLUMES_ROOT}/${ds.uuid}` : `${VOLUMES_ROOT}/${ds.uuid}/${rel}`;
}
