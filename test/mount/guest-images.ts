// Builds guest disk images for tests at run time (sfdisk, mkfs.vfat + mcopy, mke2fs -d, mkswap), as a fixtures directory the simulator loads.

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { execa } from 'execa';

const MiB = 1024 * 1024;

export interface BuiltFile {
  partition: number;
  path: string;
  data: Buffer;
}

export interface BuiltImage {
  fixturesDir: string;
  name: string;
  sizeBytes: number;
  files: BuiltFile[];
  cleanup(): void;
}

function content(seed: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i++) out[i] = (seed.charCodeAt(i % seed.length) * 31 + i * 7) & 0xff;
  return out;
}

/**
 * A 64 MiB MBR disk: 1 FAT32 "WINDATA" (primary), then an extended partition holding 5 ext3 "logs",
 * 6 Linux swap and 7 random bytes (no file system).
 */
export async function buildMixedMbrDisk(): Promise<BuiltImage> {
  const work = mkdtempSync(join(tmpdir(), 'vcb-image-'));
  const fixturesDir = join(work, 'fixtures');
  mkdirSync(fixturesDir);
  const disk = join(work, 'disk.img');
  const size = 64 * MiB;
  await execa('truncate', ['-s', String(size), disk]);
  await execa('sfdisk', ['-q', disk], {
    input: ['label: dos', 'unit: sectors', 'start=2048, size=73728, type=c', 'start=77824, type=5', 'start=79872, size=20480, type=83', 'start=102400, size=8192, type=82', 'start=112640, size=8192, type=83', ''].join('\n'),
  });
  const parts = JSON.parse((await execa('sfdisk', ['--json', disk])).stdout).partitiontable.partitions as Array<{ start: number; size: number; node: string }>;
  const at = (n: number) => {
    const p = parts.find((x) => x.node.endsWith(String(n)))!;
    return { start: p.start * 512, size: p.size * 512 };
  };
  const files: BuiltFile[] = [
    { partition: 1, path: '/Reports/q3 2026.txt', data: Buffer.from('Quarter 3\r\nall good\r\n') },
    { partition: 1, path: '/Data/blob.bin', data: content('fat32-blob', 300_000) },
    { partition: 5, path: '/app/app.log', data: content('ext3-log', 70_000) },
    { partition: 5, path: '/readme', data: Buffer.from('logs volume\n') },
  ];
  const place = async (image: string, n: number) => {
    const { start } = at(n);
    await execa('dd', [`if=${image}`, `of=${disk}`, 'bs=512', `seek=${start / 512}`, 'conv=notrunc', 'status=none']);
  };
  // FAT32 with its files, copied in by mtools (no mount needed).
  const fat = join(work, 'fat.img');
  await execa('truncate', ['-s', String(at(1).size), fat]);
  await execa('mkfs.vfat', ['-F', '32', '-n', 'WINDATA', '-i', '1234ABCD', fat]);
  for (const f of files.filter((x) => x.partition === 1)) {
    const local = join(work, 'src-' + f.path.replace(/\W/g, '_'));
    writeFileSync(local, f.data);
    const dir = f.path.slice(0, f.path.lastIndexOf('/'));
    await execa('mmd', ['-i', fat, '-D', 's', `::${dir}`], { reject: false });
    await execa('mcopy', ['-i', fat, local, `::${f.path}`]);
  }
  await place(fat, 1);
  // ext3 from a directory tree.
  const tree = join(work, 'tree');
  for (const f of files.filter((x) => x.partition === 5)) {
    mkdirSync(join(tree, f.path.slice(0, f.path.lastIndexOf('/'))), { recursive: true });
    writeFileSync(join(tree, f.path), f.data);
  }
  const ext = join(work, 'ext.img');
  await execa('truncate', ['-s', String(at(5).size), ext]);
  await execa('mke2fs', ['-q', '-F', '-t', 'ext3', '-L', 'logs', '-d', tree, ext]);
  await place(ext, 5);
  const swap = join(work, 'swap.img');
  await execa('truncate', ['-s', String(at(6).size), swap]);
  await execa('mkswap', ['-L', 'swap0', swap]);
  await place(swap, 6);
  writeFileSync(join(work, 'noise.img'), content('no file system here', at(7).size));
  await place(join(work, 'noise.img'), 7);

  writeFileSync(join(fixturesDir, 'mixed-mbr.gz'), gzipSync(readFileSync(disk)));
  writeFileSync(join(fixturesDir, 'manifest.json'), JSON.stringify({ version: 1, images: [{ name: 'mixed-mbr', sizeBytes: size, pieces: [{ offset: 0, length: size, file: 'mixed-mbr.gz' }] }] }));
  rmSync(disk);
  return { fixturesDir, name: 'mixed-mbr', sizeBytes: size, files, cleanup: () => rmSync(work, { recursive: true, force: true }) };
}
