// Shared test helpers for disk-format tests: temp dirs, a seeded PRNG, and running qemu-img.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openLocalFile, type LocalFile } from '../../src/formats/local-file.js';

export function makeTempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `vcb-${prefix}-`));
}

/** Deterministic xorshift32 generator so failures reproduce. */
export function seededRandom(seed: number): { int(maxExclusive: number): number; bytes(length: number): Uint8Array } {
  let state = seed >>> 0 || 1;
  const next = (): number => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state;
  };
  return {
    int: (maxExclusive) => next() % maxExclusive,
    bytes(length) {
      const out = new Uint8Array(length);
      for (let i = 0; i < length; i += 4) {
        const value = next();
        out[i] = value & 0xff;
        if (i + 1 < length) out[i + 1] = (value >>> 8) & 0xff;
        if (i + 2 < length) out[i + 2] = (value >>> 16) & 0xff;
        if (i + 3 < length) out[i + 3] = (value >>> 24) & 0xff;
      }
      return out;
    },
  };
}

export function qemuImg(...args: string[]): string {
  return execFileSync('qemu-img', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Opens files and closes all of them at the end of a test. */
export class FileTracker {
  private readonly files: LocalFile[] = [];

  open(filePath: string, create = false): LocalFile {
    const file = openLocalFile(filePath, { create });
    this.files.push(file);
    return file;
  }

  closeAll(): void {
    for (const file of this.files.splice(0)) file.close();
  }
}
