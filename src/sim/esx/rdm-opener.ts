// Opens a simulated disk's files for the chain reader, presenting a raw device mapping's extent as the mapped data.

import type { FileOpener } from '../../formats/chain.js';
import type { RandomAccessFile } from '../../formats/random-access.js';
import { formatDescriptor, isDescriptor, parseDescriptor } from '../../formats/vmdk-descriptor.js';
import type { Vfs } from '../vmfs/types.js';

const MAX_DESCRIPTOR_BYTES = 64 * 1024;

/** A read-only file over a buffer (the rewritten descriptor). */
function bufferFile(data: Buffer): RandomAccessFile {
  const refuse = () => {
    throw Object.assign(new Error('descriptor view is read-only'), { code: 'EACCES' });
  };
  return {
    size: () => data.length,
    read: (buf, position) => (position >= data.length ? 0 : data.copy(buf, 0, position, Math.min(data.length, position + buf.length))),
    write: refuse,
    truncate: refuse,
  };
}

/**
 * In this simulator the mapping file (`-rdm.vmdk`, `-rdmp.vmdk`) holds the mapped LUN's bytes, as reading
 * it through the host's VMFS driver does on ESX. The chain reader knows flat extents only, so a descriptor
 * with a VMFSRDM extent is handed to it with that extent typed VMFS; every other file opens as it is.
 */
export function rdmAwareOpener(vfs: Vfs): FileOpener {
  return (path) => {
    const file = vfs.open(path);
    if (file.size() > MAX_DESCRIPTOR_BYTES) return file;
    const bytes = Buffer.alloc(file.size());
    file.read(bytes, 0);
    if (!isDescriptor(bytes)) return file;
    const descriptor = parseDescriptor(bytes.toString('utf8'));
    if (!descriptor.extents.some((e) => e.type === 'VMFSRDM')) return file;
    (file as Partial<{ close(): void }>).close?.();
    for (const extent of descriptor.extents) if (extent.type === 'VMFSRDM') extent.type = 'VMFS';
    return bufferFile(Buffer.from(formatDescriptor(descriptor)));
  };
}
