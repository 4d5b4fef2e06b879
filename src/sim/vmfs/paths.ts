// Pure path helpers for the simulated host: normalisation, joining, and the "[datastore] dir/file" form.

import { SimVfsError } from './errors.js';

/** Collapses "//", "." and ".." of an absolute path; the result has no trailing slash (except "/"). */
export function normalizeAbsolute(path: string): string {
  if (!path.startsWith('/')) throw new SimVfsError('EINVAL', path, 'Path is not absolute');
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return '/' + parts.join('/');
}

/** Splits a volume-relative path ("" is the root) into its parent and last name. */
export function splitRelative(rel: string): { parent: string; name: string } {
  const slash = rel.lastIndexOf('/');
  return slash < 0 ? { parent: '', name: rel } : { parent: rel.slice(0, slash), name: rel.slice(slash + 1) };
}

export function joinRelative(parent: string, name: string): string {
  return parent === '' ? name : `${parent}/${name}`;
}

/** True when rel is ancestor itself or lies below it. */
export function isWithin(rel: string, ancestor: string): boolean {
  return ancestor === '' || rel === ancestor || rel.startsWith(ancestor + '/');
}

/** Parses "[name] dir/file" (the space after "]" is optional); undefined for any other shape. */
export function parseBracketPath(path: string): { datastore: string; rest: string } | undefined {
  const match = /^\[([^\]]+)\]\s*(.*)$/s.exec(path);
  if (!match) return undefined;
  return { datastore: match[1]!, rest: match[2]! };
}

/** Sorts names by their UTF-8 bytes, as the host's ls does in the C locale. */
export function sortBytewise(names: Iterable<string>): string[] {
  return [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

/** What a volume holding files and directories keyed by relative path (the root is '') says of a path. */
export function entryKind(files: ReadonlyMap<string, unknown>, dirs: ReadonlyMap<string, unknown>, rel: string): 'file' | 'dir' | undefined {
  if (files.has(rel)) return 'file';
  return dirs.has(rel) ? 'dir' : undefined;
}

/** Names of the entries directly inside rel, among files and directories keyed by relative path. */
export function childNames(files: ReadonlyMap<string, unknown>, dirs: ReadonlyMap<string, unknown>, rel: string): string[] {
  const names: string[] = [];
  for (const path of [...files.keys(), ...dirs.keys()]) {
    if (path === '') continue;
    const { parent, name } = splitRelative(path);
    if (parent === rel) names.push(name);
  }
  return names;
}
