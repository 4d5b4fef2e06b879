// Shared helpers for the VMFS simulator tests: temp state dirs, deterministic data, reading extents off the LUN.

import { createCipheriv } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BlockExtent } from '../../src/sim/vmfs/types.js';

export const MiB = 1024 * 1024;

export function makeStateDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'vmfs-test-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Deterministic pseudo-random bytes (AES-CTR keystream of the label). */
export function pseudoRandom(length: number, label: string): Buffer {
  const key = Buffer.alloc(16);
  key.write(label.slice(0, 16));
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  return Buffer.concat([cipher.update(Buffer.alloc(length)), cipher.final()]);
}

/** Rebuilds a file from its block map by reading the LUN image with plain fs calls; holes and unzeroed read as zeros. */
export function reconstructFromLun(lunPath: string, size: number, extents: BlockExtent[]): Buffer {
  const out = Buffer.alloc(size);
  const fd = openSync(lunPath, 'r');
  try {
    for (const extent of extents) {
      if (extent.kind !== 'mapped') continue;
      const n = readSync(fd, out, extent.fileOffset, extent.length, extent.lunOffset!);
      if (n !== extent.length) throw new Error(`short LUN read at ${extent.lunOffset}`);
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

export function readLun(lunPath: string, offset: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  const fd = openSync(lunPath, 'r');
  try {
    readSync(fd, out, 0, length, offset);
  } finally {
    closeSync(fd);
  }
  return out;
}

export function expectCode(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code ?? 'NO_CODE';
  }
  return 'NO_ERROR';
}
