// Data path of the simulated VMFS: file contents, fragmentation, block maps checked against the raw LUN image, reopen.

import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openVfs, type SimVfs } from '../../src/sim/vmfs/index.js';
import { MiB, makeStateDir, pseudoRandom, readLun, reconstructFromLun } from './vmfs-helpers.js';

const DS = '/vmfs/volumes/ds1';

function open(dir: string): SimVfs {
  return openVfs({ stateDir: dir, seed: 7, datastores: [{ name: 'ds1', capacity: 96 * MiB }] });
}

/** Applies the same writes to the Vfs file and to an in-memory model. */
function writeBoth(vfs: SimVfs, path: string, model: Buffer, writes: Array<[number, number]>, label: string): void {
  const file = vfs.open(path);
  writes.forEach(([position, length], i) => {
    const data = pseudoRandom(length, `${label}${i}`);
    file.write(data, position);
    data.copy(model, position);
  });
}

describe('simulated VMFS datastore data path', () => {
  let state: ReturnType<typeof makeStateDir>;
  let vfs: SimVfs;
  beforeEach(() => {
    state = makeStateDir();
    vfs = open(state.dir);
    vfs.mkdir(`${DS}/vm`);
  });
  afterEach(() => {
    vfs.close();
    state.cleanup();
  });

  const thickSize = 10 * MiB;
  const thinSize = 12 * MiB;
  const oddSize = 3 * MiB + 777;

  function populate(): { thick: Buffer; thin: Buffer; odd: Buffer } {
    const thick = Buffer.alloc(thickSize);
    vfs.createFile(`${DS}/vm/thick-flat.vmdk`, { size: thickSize });
    writeBoth(vfs, `${DS}/vm/thick-flat.vmdk`, thick, [[0, 3 * MiB + 5], [5 * MiB - 100, 2 * MiB + 300], [9 * MiB + 1, MiB - 1]], 't');
    const thin = Buffer.alloc(thinSize);
    vfs.createFile(`${DS}/vm/thin-flat.vmdk`, { size: thinSize, thin: true });
    writeBoth(vfs, `${DS}/vm/thin-flat.vmdk`, thin, [[0, MiB + MiB / 2], [3 * MiB + 123, 4 * MiB], [11 * MiB + 10, 100], [MiB / 2, 4096]], 'n');
    const odd = pseudoRandom(oddSize, 'odd');
    vfs.writeFile(`${DS}/vm/odd.bin`, odd);
    return { thick, thin, odd };
  }

  it('reads back what was written, thick and thin, and fragments files across the LUN', () => {
    const { thick, thin, odd } = populate();
    expect(vfs.readFile(`${DS}/vm/thick-flat.vmdk`).equals(thick)).toBe(true);
    expect(vfs.readFile(`${DS}/vm/thin-flat.vmdk`).equals(thin)).toBe(true);
    expect(vfs.readFile(`${DS}/vm/odd.bin`).equals(odd)).toBe(true);

    const unaligned = Buffer.alloc(MiB + 3);
    expect(vfs.open(`${DS}/vm/thick-flat.vmdk`).read(unaligned, 4 * MiB - 1)).toBe(MiB + 3);
    expect(unaligned.equals(thick.subarray(4 * MiB - 1, 5 * MiB + 2))).toBe(true);
    expect(vfs.open(`${DS}/vm/odd.bin`).read(Buffer.alloc(MiB), oddSize - 10)).toBe(10);

    for (const name of ['thick-flat.vmdk', 'thin-flat.vmdk', 'odd.bin']) {
      const mapped = vfs.blockMap(`${DS}/vm/${name}`).filter((e) => e.kind === 'mapped');
      expect(mapped.length, name).toBeGreaterThan(1);
      for (const e of mapped) expect(e.lunOffset!, name).toBeGreaterThanOrEqual(MiB);
    }
  });

  it('thick files allocate every block at creation, thin files only the blocks written', () => {
    populate();
    const thickStat = vfs.stat(`${DS}/vm/thick-flat.vmdk`)!;
    expect(thickStat).toMatchObject({ type: 'file', size: thickSize, allocated: thickSize, thin: false });
    const thinStat = vfs.stat(`${DS}/vm/thin-flat.vmdk`)!;
    // blocks 0, 1, 3..7 and 11 were written
    expect(thinStat).toMatchObject({ size: thinSize, allocated: 8 * MiB, thin: true });
    const map = vfs.blockMap(`${DS}/vm/thin-flat.vmdk`);
    expect(map.filter((e) => e.kind === 'hole').map((e) => [e.fileOffset, e.length])).toEqual([
      [2 * MiB, MiB],
      [8 * MiB, 3 * MiB],
    ]);
    const total = map.reduce((sum, e) => sum + e.length, 0);
    expect(total).toBe(thinSize);
  });

  it('block map extents read straight from the LUN image reconstruct each file', () => {
    const models = populate();
    const lunPath = vfs.datastores()[0]!.lunPath;
    const cases: Array<[string, Buffer]> = [
      ['thick-flat.vmdk', models.thick],
      ['thin-flat.vmdk', models.thin],
      ['odd.bin', models.odd],
    ];
    for (const [name, model] of cases) {
      const path = `${DS}/vm/${name}`;
      const map = vfs.blockMap(path);
      expect(map.at(-1)!.fileOffset + map.at(-1)!.length).toBe(model.length);
      expect(reconstructFromLun(lunPath, model.length, map).equals(model), name).toBe(true);
    }
    const oddMap = vfs.blockMap(`${DS}/vm/odd.bin`);
    expect(oddMap.at(-1)!.length % MiB).toBe(777);
  });

  it('keeps the LUN image sparse at its capacity with a readable header at offset 0', () => {
    const info = vfs.datastores()[0]!;
    expect(statSync(info.lunPath).size).toBe(96 * MiB);
    const header = readLun(info.lunPath, 0, 256).toString('latin1');
    expect(header).toContain(`uuid=${info.uuid}`);
    expect(header).toContain(`lvid=${info.lvid}`);
  });

  it('persists the allocation map as JSON beside the LUN image', () => {
    populate();
    const info = vfs.datastores()[0]!;
    const map = JSON.parse(readFileSync(join(state.dir, 'ds1.vmfs.json'), 'utf8'));
    expect(map).toMatchObject({ uuid: info.uuid, lvid: info.lvid, blockSize: MiB, capacity: 96 * MiB, dirs: ['vm'] });
    const thin = map.files.find((f: { path: string }) => f.path === 'vm/thin-flat.vmdk');
    expect(thin).toMatchObject({ size: thinSize, thin: true });
    expect(thin.blocks).toHaveLength(12);
    expect(thin.blocks[2]).toBeNull();
    expect(thin.blocks[0] * MiB).toBe(vfs.blockMap(`${DS}/vm/thin-flat.vmdk`)[0]!.lunOffset);
    expect(typeof map.mtimes['vm/thin-flat.vmdk']).toBe('number');
  });

  it('reopens from the state dir with the same content, block maps and ids', () => {
    const models = populate();
    const before = vfs.datastores()[0]!;
    const maps = ['thick-flat.vmdk', 'thin-flat.vmdk', 'odd.bin'].map((n) => vfs.blockMap(`${DS}/vm/${n}`));
    vfs.close();
    vfs = open(state.dir);
    expect(vfs.datastores()[0]).toEqual(before);
    expect(['thick-flat.vmdk', 'thin-flat.vmdk', 'odd.bin'].map((n) => vfs.blockMap(`${DS}/vm/${n}`))).toEqual(maps);
    expect(vfs.readFile(`${DS}/vm/thick-flat.vmdk`).equals(models.thick)).toBe(true);
    expect(vfs.readFile(`${DS}/vm/thin-flat.vmdk`).equals(models.thin)).toBe(true);
    expect(vfs.list(`${DS}/vm`)).toEqual(['odd.bin', 'thick-flat.vmdk', 'thin-flat.vmdk']);
  });

  it('places blocks deterministically for a given seed', () => {
    populate();
    const other = makeStateDir();
    const twin = open(other.dir);
    try {
      twin.mkdir(`${DS}/vm`);
      twin.createFile(`${DS}/vm/thick-flat.vmdk`, { size: thickSize });
      expect(twin.blockMap(`${DS}/vm/thick-flat.vmdk`)).toEqual(vfs.blockMap(`${DS}/vm/thick-flat.vmdk`));
      expect(twin.datastores()[0]!.uuid).toBe(vfs.datastores()[0]!.uuid);
    } finally {
      twin.close();
      other.cleanup();
    }
  });

  it('truncate shrinks (freeing blocks, zeroing the cut tail) and grows with zeros', () => {
    const data = pseudoRandom(4 * MiB, 'trunc');
    vfs.createFile(`${DS}/t.bin`, { thin: true });
    const file = vfs.open(`${DS}/t.bin`);
    file.write(data, 0);
    const freeBefore = vfs.datastores()[0]!.free;
    file.truncate(MiB + 10);
    expect(vfs.datastores()[0]!.free).toBe(freeBefore + 2 * MiB);
    file.truncate(3 * MiB);
    const back = vfs.readFile(`${DS}/t.bin`);
    expect(back.subarray(0, MiB + 10).equals(data.subarray(0, MiB + 10))).toBe(true);
    expect(back.subarray(MiB + 10).equals(Buffer.alloc(3 * MiB - MiB - 10))).toBe(true);
    expect(vfs.blockMap(`${DS}/t.bin`).at(-1)).toMatchObject({ kind: 'hole', fileOffset: 2 * MiB, length: MiB });
  });

  it('a thick file stays fully allocated when grown by truncate or by writing past its end', () => {
    vfs.createFile(`${DS}/grow.bin`, { size: MiB + 1 });
    const file = vfs.open(`${DS}/grow.bin`);
    file.truncate(3 * MiB);
    expect(vfs.stat(`${DS}/grow.bin`)).toMatchObject({ size: 3 * MiB, allocated: 3 * MiB });
    file.write(Buffer.from('tail'), 6 * MiB - 4);
    expect(vfs.stat(`${DS}/grow.bin`)).toMatchObject({ size: 6 * MiB, allocated: 6 * MiB });
    expect(vfs.blockMap(`${DS}/grow.bin`).every((e) => e.kind !== 'hole')).toBe(true);
    const model = Buffer.alloc(6 * MiB);
    model.write('tail', 6 * MiB - 4);
    expect(vfs.readFile(`${DS}/grow.bin`).equals(model)).toBe(true);
  });
});

describe('simulated VMFS with a non-default block size', () => {
  it('maps files in blocks of the configured size', () => {
    const state = makeStateDir();
    const blockSize = 256 * 1024;
    const vfs = openVfs({ stateDir: state.dir, datastores: [{ name: 'fine', capacity: 32 * MiB, blockSize }] });
    try {
      expect(vfs.datastores()[0]!.blockSize).toBe(blockSize);
      const data = pseudoRandom(3 * MiB + 1000, 'fine');
      vfs.createFile('[fine] f', { size: data.length, thin: true });
      vfs.open('[fine] f').write(data.subarray(MiB), MiB);
      const model = Buffer.alloc(data.length);
      data.copy(model, MiB, MiB);
      const map = vfs.blockMap('[fine] f');
      for (const e of map) expect(e.fileOffset % blockSize).toBe(0);
      expect(map[0]).toMatchObject({ kind: 'hole', fileOffset: 0, length: MiB });
      expect(map.filter((e) => e.kind === 'mapped').length).toBeGreaterThan(1);
      expect(reconstructFromLun(vfs.datastores()[0]!.lunPath, data.length, map).equals(model)).toBe(true);
    } finally {
      vfs.close();
      state.cleanup();
    }
  });
});
