// Datastore paths: `[ds] dir/x.vmx` <-> `/vmfs/volumes/ds/dir/x.vmx`, and disk fileNames relative to a .vmx.

import { posix } from 'node:path';
import { VcbError } from '../errors.js';

export const VOLUMES_ROOT = '/vmfs/volumes';

export interface DatastorePath {
  datastore: string;
  /** Path inside the datastore, no leading slash. */
  path: string;
}

const BRACKET = /^\s*\[([^\]]+)\]\s*(.*?)\s*$/;

export function isBracketPath(text: string): boolean {
  return BRACKET.test(text);
}

export function parseBracketPath(text: string): DatastorePath {
  const m = BRACKET.exec(text);
  if (!m || m[1]!.includes('/')) throw new VcbError('USAGE', `not a datastore path "[ds] dir/file": ${JSON.stringify(text)}`);
  return { datastore: m[1]!, path: m[2]!.replace(/^\/+/, '') };
}

export function formatBracketPath({ datastore, path }: DatastorePath): string {
  return path === '' ? `[${datastore}]` : `[${datastore}] ${path}`;
}

export function bracketToVmfsPath(text: string): string {
  const { datastore, path } = parseBracketPath(text);
  return posix.join(VOLUMES_ROOT, datastore, path);
}

/** `/vmfs/volumes/<ds or uuid>/rest` -> parts; undefined for paths outside /vmfs/volumes. */
export function splitVmfsPath(absolute: string): DatastorePath | undefined {
  const normal = posix.normalize(absolute);
  const m = /^\/vmfs\/volumes\/([^/]+)(?:\/(.*))?$/.exec(normal);
  return m ? { datastore: m[1]!, path: m[2] ?? '' } : undefined;
}

export function vmfsToBracketPath(absolute: string): string {
  const parts = splitVmfsPath(absolute);
  if (!parts) throw new VcbError('USAGE', `not under ${VOLUMES_ROOT}: ${JSON.stringify(absolute)}`);
  return formatBracketPath(parts);
}

/** A host path in either form -> absolute /vmfs/volumes form. */
export function toVmfsPath(pathOrBracket: string): string {
  if (isBracketPath(pathOrBracket)) return bracketToVmfsPath(pathOrBracket);
  if (!pathOrBracket.startsWith('/')) throw new VcbError('USAGE', `not an absolute host path: ${JSON.stringify(pathOrBracket)}`);
  return posix.normalize(pathOrBracket);
}

/** Resolves a disk `fileName` from a .vmx (relative, absolute or bracket form) against the .vmx's directory. */
export function resolveAgainstVmx(vmxPath: string, fileName: string): string {
  if (isBracketPath(fileName)) return bracketToVmfsPath(fileName);
  if (fileName.startsWith('/')) return posix.normalize(fileName);
  return posix.join(posix.dirname(toVmfsPath(vmxPath)), fileName);
}
