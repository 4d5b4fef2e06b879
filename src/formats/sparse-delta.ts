// Opening a snapshot delta by the magic at its start, whichever its format (COWD or SEsparse).
import { openCowd } from './cowd.js';
import { isCowd } from './cowd-header.js';
import type { RandomAccessFile } from './random-access.js';
import { openSesparse } from './sesparse.js';
import { isSesparse } from './sesparse-header.js';
import type { SparseDelta } from './sparse-delta-types.js';

export type { ByteRange, DeltaFormat, ParentReader, SparseDelta } from './sparse-delta-types.js';

/** Opens a COWD or SEsparse delta, told apart by the magic at its start. */
export function openSparseDelta(file: RandomAccessFile): SparseDelta {
  const head = new Uint8Array(8);
  const got = file.read(head, 0);
  const bytes = head.subarray(0, got);
  if (isSesparse(bytes)) return openSesparse(file);
  if (isCowd(bytes)) return openCowd(file);
  throw new Error('not a snapshot delta (neither a COWD nor a SEsparse magic)');
}
