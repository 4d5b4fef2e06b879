// Public surface of the simulated host's file system.

export type { BlockExtent, DatastoreInfo, FileStat, Vfs, VfsError } from './types.js';
export { openVfs, type DatastoreConfig, type OpenVfsOptions, type SimVfs } from './vfs.js';
export { Datastore, DEFAULT_BLOCK_SIZE, type DatastoreOptions } from './datastore.js';
export { formatBlockMap } from './blockmap-format.js';
export { SimVfsError, isVfsError, vfsErrorText, type VfsErrorCode } from './errors.js';
export { normalizeAbsolute, parseBracketPath, sortBytewise } from './paths.js';
