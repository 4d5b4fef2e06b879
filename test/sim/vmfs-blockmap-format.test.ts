// vmkfstools -t0 rendering of a block map, parsed back by tokens.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatBlockMap, openVfs, type BlockExtent, type SimVfs } from '../../src/sim/vmfs/index.js';
import { MiB, makeStateDir } from './vmfs-helpers.js';

/** Reads `vmkfstools -t0` output by tokens, ignoring spacing. */
function parseMapping(text: string): { path: string; size: number; lvid?: string; uuid?: string; extents: BlockExtent[] } {
  const [header, ...lines] = text.trimEnd().split('\n');
  const head = /^Mapping for file (.+) \((\d+) bytes in size\):$/.exec(header!);
  if (!head) throw new Error(`bad header: ${header}`);
  const result: ReturnType<typeof parseMapping> = { path: head[1]!, size: Number(head[2]), extents: [] };
  for (const line of lines) {
    const tokens = line.replace(/[[\]():]/g, ' ').split(/\s+/).filter(Boolean);
    // offset length --> KIND FLAG [LVID lvid/uuid/1] start --> end
    const [offset, length, arrow, kind, flag] = tokens;
    if (arrow !== '-->') throw new Error(`bad line: ${line}`);
    const end = Number(tokens.at(-1));
    const start = Number(tokens.at(-3));
    if (kind === 'NOMP') {
      expect([flag, start, end]).toEqual(['--', 0, 0]);
      result.extents.push({ fileOffset: Number(offset), length: Number(length), kind: 'hole' });
      continue;
    }
    expect(kind).toBe('VMFS');
    expect(tokens[5]).toBe('LVID');
    const [lvid, uuid, extentNo] = tokens[6]!.split('/');
    expect(extentNo).toBe('1');
    result.lvid = lvid;
    result.uuid = uuid;
    expect(end - start).toBe(Number(length));
    result.extents.push({
      fileOffset: Number(offset),
      length: Number(length),
      kind: flag === 'Z-' ? 'unzeroed' : 'mapped',
      lunOffset: start,
    });
  }
  return result;
}

describe('formatBlockMap', () => {
  let state: ReturnType<typeof makeStateDir>;
  let vfs: SimVfs;
  beforeEach(() => {
    state = makeStateDir();
    vfs = openVfs({ stateDir: state.dir, seed: 11, datastores: [{ name: 'ds', capacity: 40 * MiB }] });
  });
  afterEach(() => {
    vfs.close();
    state.cleanup();
  });

  it('prints the host shape for mapped, unzeroed and hole extents', () => {
    const text = formatBlockMap(
      '/vmfs/volumes/u/x-flat.vmdk',
      3 * MiB + 5,
      [
        { fileOffset: 0, length: MiB, kind: 'mapped', lunOffset: 22 * MiB },
        { fileOffset: MiB, length: MiB, kind: 'hole' },
        { fileOffset: 2 * MiB, length: MiB + 5, kind: 'unzeroed', lunOffset: 7 * MiB },
      ],
      { uuid: 'u', lvid: 'l' },
    );
    expect(text.split('\n')).toEqual([
      'Mapping for file /vmfs/volumes/u/x-flat.vmdk (3145733 bytes in size):',
      '[           0:     1048576] --> [VMFS -- LVID:l/u/1:(     23068672 -->     24117248)]',
      '[     1048576:     1048576] --> [NOMP -- :(            0 -->            0)]',
      '[     2097152:     1048581] --> [VMFS Z- LVID:l/u/1:(      7340032 -->      8388613)]',
      '',
    ]);
  });

  it('round-trips a real file block map through the tokenizer', () => {
    vfs.writeFile('[ds] old', Buffer.alloc(36 * MiB, 7));
    vfs.remove('[ds] old');
    vfs.createFile('[ds] thick', { size: 4 * MiB });
    vfs.open('[ds] thick').write(Buffer.alloc(MiB, 1), MiB);
    vfs.createFile('[ds] thin', { size: 9 * MiB + 17, thin: true });
    vfs.open('[ds] thin').write(Buffer.alloc(3 * MiB, 2), 2 * MiB);
    vfs.open('[ds] thin').write(Buffer.alloc(10, 3), 9 * MiB);
    const ds = vfs.datastores()[0]!;
    for (const name of ['thick', 'thin']) {
      const path = vfs.canonical(`[ds] ${name}`);
      const size = vfs.stat(path)!.size;
      const extents = vfs.blockMap(path);
      const parsed = parseMapping(formatBlockMap(path, size, extents, ds));
      expect(parsed).toMatchObject({ path, size, lvid: ds.lvid, uuid: ds.uuid });
      expect(parsed.extents).toEqual(extents);
    }
    const kinds = new Set([...vfs.blockMap('[ds] thick'), ...vfs.blockMap('[ds] thin')].map((e) => e.kind));
    expect([...kinds].sort()).toEqual(['hole', 'mapped', 'unzeroed']);
  });
});
