// Whole-subtree operations on one volume or between two: removing a tree, copying one (a move across volumes).

import { joinRelative } from './paths.js';
import type { Volume } from './volume.js';

const COPY_CHUNK = 1024 * 1024;

/** Removes a file, or a directory and everything below it. */
export function removeTree(volume: Volume, rel: string): void {
  if (volume.kind(rel) === 'file') {
    volume.removeFile(rel);
    return;
  }
  for (const name of volume.children(rel)) removeTree(volume, joinRelative(rel, name));
  volume.removeDir(rel);
}

/** Copies a file or directory between volumes; zero chunks are skipped, since a fresh file reads as zeros. */
export function copyTree(from: Volume, fromRel: string, to: Volume, toRel: string): void {
  const stat = from.stat(fromRel)!;
  if (stat.type === 'dir') {
    to.makeDir(toRel);
    for (const name of from.children(fromRel)) copyTree(from, joinRelative(fromRel, name), to, joinRelative(toRel, name));
    return;
  }
  to.createFile(toRel, stat.size, stat.thin);
  try {
    const source = from.open(fromRel);
    const target = to.open(toRel);
    const chunk = Buffer.alloc(COPY_CHUNK);
    const zeros = Buffer.alloc(COPY_CHUNK);
    for (let position = 0; position < stat.size; position += COPY_CHUNK) {
      const n = source.read(chunk, position);
      if (!chunk.subarray(0, n).equals(zeros.subarray(0, n))) target.write(chunk.subarray(0, n), position);
    }
  } catch (err) {
    to.removeFile(toRel);
    throw err;
  }
}
