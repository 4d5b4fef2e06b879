// Argument checks shared by the command builders: catch wrong kinds of values before they reach a host.

import { VcbError } from '../../errors.js';

export function requireVmid(vmid: string): string {
  if (!/^\d+$/.test(vmid)) throw new VcbError('USAGE', `not a vim-cmd vmid: ${JSON.stringify(vmid)}`);
  return vmid;
}

/** Host paths are absolute so that no argument can be mistaken for an option. */
export function requireAbsolutePath(path: string): string {
  if (!path.startsWith('/') || path.includes('\0')) {
    throw new VcbError('USAGE', `not an absolute host path: ${JSON.stringify(path)}`);
  }
  return path;
}

export function flag(value: boolean): '1' | '0' {
  return value ? '1' : '0';
}

/** The names VMware gives a disk's extent files (data, snapshot delta, RDM mapping, change tracking), never a descriptor's. */
const EXTENT_FILE = /-(flat|delta|sesparse|rdm|rdmp|ctk)\.vmdk$/i;

/**
 * `vmkfstools` takes disk descriptors: handed an extent file, a host answers "The file specified is not a
 * virtual disk" and the backup fails. A path named like an extent is a bug in the caller, caught here.
 */
export function requireDescriptorPath(path: string): string {
  requireAbsolutePath(path);
  if (!/\.vmdk$/i.test(path) || EXTENT_FILE.test(path)) {
    throw new VcbError('INTERNAL', `vmkfstools takes a disk descriptor, not ${JSON.stringify(path)}`);
  }
  return path;
}

/**
 * A directory a VM's files live in: `/vmfs/volumes/<datastore>/<dir>[/...]`, never a datastore's root nor
 * anything outside /vmfs/volumes, and no `.` or `..` component (a removal must stay where it was aimed).
 */
export function requireVmDirectory(path: string): string {
  requireAbsolutePath(path);
  const parts = path.split('/');
  if (parts.length < 5 || parts[1] !== 'vmfs' || parts[2] !== 'volumes' || parts.slice(3).some((p) => p === '' || p === '.' || p === '..')) {
    throw new VcbError('INTERNAL', `not a VM directory on a datastore: ${JSON.stringify(path)}`);
  }
  return path;
}
