// Space accounting of the simulated VMFS: freeing on rm, zero-on-reuse of freed blocks, ENOSPC and the setFull hook.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openVfs, type SimVfs } from '../../src/sim/vmfs/index.js';
import { MiB, expectCode, makeStateDir, pseudoRandom, readLun, reconstructFromLun } from './vmfs-helpers.js';

// 20 blocks of 1 MiB, the first 4 reserved for the volume header: 16 MiB for files.
const CAPACITY = 20 * MiB;
const USABLE = 16 * MiB;
const DS = '/vmfs/volumes/small';

describe('simulated VMFS space', () => {
  let state: ReturnType<typeof makeStateDir>;
  let vfs: SimVfs;
  const free = () => vfs.datastores()[0]!.free;
  beforeEach(() => {
    state = makeStateDir();
    vfs = openVfs({ stateDir: state.dir, seed: 3, datastores: [{ name: 'small', capacity: CAPACITY }] });
  });
  afterEach(() => {
    vfs.close();
    state.cleanup();
  });

  it('accounts capacity and free space per allocated block', () => {
    expect(vfs.datastores()[0]).toMatchObject({ capacity: CAPACITY, blockSize: MiB, free: USABLE });
    vfs.createFile(`${DS}/thick`, { size: 3 * MiB + 1 });
    expect(free()).toBe(USABLE - 4 * MiB);
    vfs.createFile(`${DS}/thin`, { size: 8 * MiB, thin: true });
    expect(free()).toBe(USABLE - 4 * MiB);
    vfs.open(`${DS}/thin`).write(Buffer.from('x'), 5 * MiB);
    expect(free()).toBe(USABLE - 5 * MiB);
    vfs.remove(`${DS}/thick`);
    expect(free()).toBe(USABLE - MiB);
  });

  it('rm frees blocks, and a new thick file over reused blocks reads zeros although the LUN still holds old bytes', () => {
    const old = pseudoRandom(USABLE, 'old');
    vfs.writeFile(`${DS}/old.bin`, old);
    expect(free()).toBe(0);
    const lunPath = vfs.datastores()[0]!.lunPath;
    vfs.remove(`${DS}/old.bin`);
    expect(free()).toBe(USABLE);

    vfs.createFile(`${DS}/new-flat.vmdk`, { size: USABLE });
    const map = vfs.blockMap(`${DS}/new-flat.vmdk`);
    expect(map.every((e) => e.kind === 'unzeroed')).toBe(true);
    expect(vfs.readFile(`${DS}/new-flat.vmdk`).equals(Buffer.alloc(USABLE))).toBe(true);
    const first = map[0]!;
    expect(readLun(lunPath, first.lunOffset!, 4096).equals(Buffer.alloc(4096))).toBe(false);

    // A partial write into an unzeroed block zeroes the rest of that block on the LUN.
    const patch = pseudoRandom(1000, 'patch');
    vfs.open(`${DS}/new-flat.vmdk`).write(patch, MiB + 500);
    const model = Buffer.alloc(USABLE);
    patch.copy(model, MiB + 500);
    const after = vfs.blockMap(`${DS}/new-flat.vmdk`);
    expect(after.filter((e) => e.kind === 'mapped').reduce((n, e) => n + e.length, 0)).toBe(MiB);
    expect(vfs.readFile(`${DS}/new-flat.vmdk`).equals(model)).toBe(true);
    const written = after.find((e) => e.kind === 'mapped')!;
    expect(readLun(lunPath, written.lunOffset!, MiB).equals(model.subarray(MiB, 2 * MiB))).toBe(true);
  });

  it('a thin file reusing a freed block zeroes the rest of the block on first write', () => {
    vfs.writeFile(`${DS}/old.bin`, pseudoRandom(USABLE, 'old2'));
    vfs.remove(`${DS}/old.bin`);
    vfs.createFile(`${DS}/thin-flat.vmdk`, { size: 4 * MiB, thin: true });
    const data = pseudoRandom(300, 'small');
    vfs.open(`${DS}/thin-flat.vmdk`).write(data, 2 * MiB + 77);
    const model = Buffer.alloc(4 * MiB);
    data.copy(model, 2 * MiB + 77);
    const map = vfs.blockMap(`${DS}/thin-flat.vmdk`);
    expect(map.map((e) => e.kind)).toEqual(['hole', 'mapped', 'hole']);
    expect(reconstructFromLun(vfs.datastores()[0]!.lunPath, 4 * MiB, map).equals(model)).toBe(true);
  });

  it('fails with ENOSPC when no block is left, leaving no half-made thick file', () => {
    vfs.createFile(`${DS}/a`, { size: 10 * MiB });
    expect(expectCode(() => vfs.createFile(`${DS}/b`, { size: 7 * MiB }))).toBe('ENOSPC');
    expect(vfs.stat(`${DS}/b`)).toBeUndefined();
    expect(free()).toBe(6 * MiB);

    vfs.createFile(`${DS}/thin`, { size: 10 * MiB, thin: true });
    const file = vfs.open(`${DS}/thin`);
    let err: unknown;
    try {
      file.write(Buffer.alloc(7 * MiB, 1), 0);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'ENOSPC', path: vfs.canonical(`${DS}/thin`) });
    expect(vfs.stat(`${DS}/thin`)!.allocated).toBe(0);
    file.write(Buffer.alloc(6 * MiB, 1), 0);
    expect(free()).toBe(0);
  });

  it('setFull makes every allocation fail and free read 0, while allocated blocks stay writable', () => {
    vfs.createFile(`${DS}/thin`, { size: 4 * MiB, thin: true });
    const file = vfs.open(`${DS}/thin`);
    file.write(Buffer.from('first'), 0);
    vfs.setFull('small', true);
    expect(free()).toBe(0);
    expect(expectCode(() => file.write(Buffer.from('second'), 2 * MiB))).toBe('ENOSPC');
    expect(expectCode(() => vfs.createFile(`${DS}/thick`, { size: MiB }))).toBe('ENOSPC');
    file.write(Buffer.from('again'), 10);
    vfs.setFull('small', false);
    expect(free()).toBe(USABLE - MiB);
    file.write(Buffer.from('second'), 2 * MiB);
    expect(vfs.readFile(`${DS}/thin`).subarray(2 * MiB, 2 * MiB + 6).toString()).toBe('second');
  });
});
