// A guest disk for the -t file cases: GPT, one ext4 volume filled with many files of varied sizes (mke2fs -d of a generated tree).

import { createCipheriv, createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Prng } from '../../src/sim/guest/pattern.js';

const KIB = 1024;
const MIB = 1024 * 1024;
const BLOCK = 4 * KIB;
/** The volume starts at sector 2048 (1 MiB), as partitioning tools put it; the GPT's backup copy needs the disk's last MiB. */
export const VOLUME_START = MIB;
const DIR_ENTRIES = 64;

/** The guest's /etc/hostname: the bench reads it through the mount as the first file. */
export const FIRST_FILE = 'etc/hostname';
export const FIRST_FILE_CONTENT = 'bench-guest\n';
const FSTAB = 'LABEL=root  /  ext4  errors=remount-ro  0  1\n';

/**
 * How the file bytes are spread over sizes: a share of the bytes per class, sizes uniform within it. By count
 * most files are a few KiB (as in /etc, /usr or a mail spool); by bytes most are in files of a MiB or more.
 */
const SIZE_CLASSES: ReadonlyArray<{ share: number; min: number; max: number }> = [
  { share: 0.02, min: 0, max: 4 * KIB },
  { share: 0.1, min: 4 * KIB, max: 64 * KIB },
  { share: 0.3, min: 64 * KIB, max: MIB },
  { share: 0.43, min: MIB, max: 16 * MIB },
  { share: 0.15, min: 16 * MIB, max: 64 * MIB },
];

export interface GuestFile {
  path: string;
  size: number;
}

export interface GuestVolumePlan {
  /** Bytes of file content the plan was asked for. */
  fileBytes: number;
  files: GuestFile[];
  /** The ext4 volume's size and the disk's (volume plus 1 MiB before it for the GPT, 1 MiB after it for its backup). */
  volumeSize: number;
  diskSize: number;
  seed: number;
}

/**
 * The files of a volume holding about `fileBytes` (every class gets its share; a share too small for one file
 * of its class goes to the next smaller class), in directories of at most 64 entries, two levels deep, sizes shuffled among directories.
 * Deterministic in (fileBytes, seed). The volume leaves about a tenth free, as a guest's disk would.
 */
export function planGuestVolume(fileBytes: number, seed: number): GuestVolumePlan {
  const prng = new Prng(seed);
  const sizes: number[] = [];
  // Largest class first: what a class cannot use (its budget is below its smallest size) goes to the next one down.
  let carried = 0;
  for (const c of [...SIZE_CLASSES].reverse()) {
    let budget = Math.floor(fileBytes * c.share) + carried;
    while (budget > c.min) {
      const size = Math.min(budget, c.min + prng.int(Math.min(c.max, budget) - c.min + 1));
      sizes.push(size);
      budget -= size;
    }
    carried = budget;
  }
  for (let i = sizes.length - 1; i > 0; i--) {
    const j = prng.int(i + 1);
    [sizes[i], sizes[j]] = [sizes[j]!, sizes[i]!];
  }
  const files = sizes.map((size, i) => {
    const dir = Math.floor(i / DIR_ENTRIES);
    return { path: `data/d${String(Math.floor(dir / DIR_ENTRIES)).padStart(2, '0')}/d${String(dir % DIR_ENTRIES).padStart(2, '0')}/f${String(i).padStart(6, '0')}.bin`, size };
  });
  // ext4's own blocks: inode tables (256 B per 16 KiB), bitmaps, a journal of up to 64 MiB, directories; then ~10% free.
  const dataBlocks = files.reduce((sum, f) => sum + Math.ceil(f.size / BLOCK) * BLOCK, 0);
  const volumeSize = Math.ceil((dataBlocks * 1.1 + Math.min(64 * MIB, dataBlocks / 16) + 16 * MIB + files.length * 512) / MIB) * MIB;
  return { fileBytes, files, volumeSize, diskSize: volumeSize + 2 * MIB, seed };
}

/** Bytes of file content in the plan, including the two small files of /etc. */
export function planFileBytes(plan: GuestVolumePlan): number {
  return plan.files.reduce((sum, f) => sum + f.size, 0) + FIRST_FILE_CONTENT.length + FSTAB.length;
}

/** Writes the tree of the plan under `dir`: each file's bytes a keystream of its own (AES-CTR: incompressible, deterministic). */
function writeTree(plan: GuestVolumePlan, dir: string): void {
  mkdirSync(join(dir, 'etc'), { recursive: true });
  writeFileSync(join(dir, FIRST_FILE), FIRST_FILE_CONTENT);
  writeFileSync(join(dir, 'etc', 'fstab'), FSTAB);
  const zeros = Buffer.alloc(MIB);
  for (const f of plan.files) {
    const path = join(dir, f.path);
    mkdirSync(join(path, '..'), { recursive: true });
    const key = createHash('sha256').update(`${plan.seed}:${f.path}`).digest();
    const cipher = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32));
    const fd = openSync(path, 'w');
    try {
      for (let done = 0; done < f.size; done += MIB) writeSync(fd, cipher.update(zeros.subarray(0, Math.min(MIB, f.size - done))));
    } finally {
      closeSync(fd);
    }
  }
}

/**
 * Builds the guest disk of `plan` as a sparse raw image at `image`: a GPT with one Linux partition from
 * 1 MiB, holding an ext4 volume (4 KiB blocks) labelled root made by mke2fs -d from the generated tree
 * (removed after). `scratch` is a directory for the tree.
 */
export function buildGuestDisk(plan: GuestVolumePlan, image: string, scratch: string): void {
  const tree = join(scratch, 'guest-tree');
  rmSync(tree, { recursive: true, force: true });
  const env = { ...process.env, E2FSPROGS_FAKE_TIME: '1767225600', LC_ALL: 'C', TZ: 'UTC' };
  try {
    writeTree(plan, tree);
    rmSync(image, { force: true });
    writeFileSync(image, '');
    execFileSync('truncate', ['-s', String(plan.diskSize), image]);
    const first = VOLUME_START / 512;
    execFileSync('sfdisk', ['-q', image], { input: `label: gpt\nlabel-id: 3E1B5A70-2C4D-4E6F-8A9B-0C1D2E3F4A5B\nstart=${first}, size=${plan.volumeSize / 512}, type=linux, name=root\n` });
    const uuid = '7c1d2e3f-4a5b-4c6d-8e7f-90a1b2c3d4e5';
    execFileSync(
      'mke2fs',
      ['-q', '-F', '-t', 'ext4', '-b', '4096', '-L', 'root', '-U', uuid, '-E', `offset=${VOLUME_START},hash_seed=${uuid},root_owner=0:0`, '-d', tree, image, `${plan.volumeSize / KIB}k`],
      { env, stdio: ['ignore', 'ignore', 'pipe'] },
    );
  } finally {
    rmSync(tree, { recursive: true, force: true });
  }
}

/** Calls `write(offset, data)` for each 1 MiB piece of the image that is not all zeros (a thin disk stays thin where the volume is free). */
export function eachDataPiece(image: string, write: (offset: number, data: Buffer) => void): number {
  const fd = openSync(image, 'r');
  const buffer = Buffer.alloc(MIB);
  const zeros = Buffer.alloc(MIB);
  let written = 0;
  try {
    for (let offset = 0; ; offset += MIB) {
      const n = readSync(fd, buffer, 0, MIB, offset);
      if (n === 0) break;
      const piece = buffer.subarray(0, n);
      if (!piece.equals(zeros.subarray(0, n))) {
        write(offset, piece);
        written += n;
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}
