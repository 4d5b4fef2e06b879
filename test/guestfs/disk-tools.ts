// Helpers for tests that build disk images with the real partitioning and mkfs tools and read them back.
import { mkdtemp, open, rm, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import type { ReadAt } from '../../src/formats/partition-table.js';
import type { FsType } from '../../src/guestfs/probe.js';

const toolEnv = { PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin` };
export const MiB = 1024 * 1024;

/** Runs a tool; its stdout. Throws (with stderr) when it fails. */
export async function tool(command: string, args: string[], input?: string): Promise<string> {
  const r = await execa(command, args, { env: toolEnv, input, stripFinalNewline: true });
  return r.stdout;
}

export async function makeTempDir(prefix: string): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `vcb-${prefix}-`));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** A sparse file of `bytes` zeros. */
export async function sparseFile(path: string, bytes: number): Promise<string> {
  await (await open(path, 'w')).close();
  await truncate(path, bytes);
  return path;
}

/** A ReadAt over a file that, like a disk, returns short reads only at its end and refuses reads outside it. */
export function fileReader(path: string): ReadAt {
  return async (offset, length) => {
    if (offset < 0 || length < 0) throw new Error(`read at ${offset} for ${length}`);
    const handle = await open(path, 'r');
    try {
      const buf = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buf, 0, length, offset);
      return buf.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  };
}

/** A ReadAt over a buffer holding a whole disk. */
export function bufferReader(disk: Buffer): ReadAt {
  return async (offset, length) => Buffer.from(disk.subarray(offset, offset + length));
}

/** Copies `image` into `disk` at byte `offset`, leaving the image's all-zero 64 KiB blocks as holes. */
export async function placeImage(disk: string, image: string, offset: number): Promise<void> {
  const from = await open(image, 'r');
  const to = await open(disk, 'r+');
  try {
    const buf = Buffer.alloc(64 * 1024);
    for (let at = 0; ; at += buf.length) {
      const { bytesRead } = await from.read(buf, 0, buf.length, at);
      if (bytesRead === 0) break;
      const chunk = buf.subarray(0, bytesRead);
      if (chunk.some((b) => b !== 0)) await to.write(chunk, 0, bytesRead, offset + at);
    }
  } finally {
    await from.close();
    await to.close();
  }
}

/** Patches bytes of a file in place. */
export async function patchFile(path: string, offset: number, bytes: Uint8Array): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.write(bytes, 0, bytes.length, offset);
  } finally {
    await handle.close();
  }
}

export async function readFileAt(path: string, offset: number, length: number): Promise<Buffer> {
  return Buffer.from(await fileReader(path)(offset, length));
}

/** `blkid -p -o export` of a file: its fields, or {} when blkid finds nothing (exit 2). */
export async function blkid(path: string): Promise<Record<string, string>> {
  const r = await execa('blkid', ['-p', '-o', 'export', path], { env: toolEnv, reject: false });
  if (r.exitCode === 2) return {};
  if (r.exitCode !== 0) throw new Error(`blkid ${path}: exit ${r.exitCode}: ${r.stderr}`);
  return Object.fromEntries(r.stdout.split('\n').filter(Boolean).map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
}

/** blkid's TYPE (and VERSION for FAT) in our names. */
export function blkidFsType(fields: Record<string, string>): FsType {
  if (!fields.TYPE) return 'unknown';
  if (fields.TYPE === 'vfat') return fields.VERSION?.toLowerCase() as FsType;
  if (fields.TYPE === 'LVM2_member') return 'lvm2';
  return fields.TYPE as FsType;
}

export interface SfdiskPartition {
  node: string;
  start: number;
  size: number;
  type: string;
  name?: string;
  bootable?: boolean;
}

export async function sfdiskJson(path: string): Promise<{ label: string; partitions: SfdiskPartition[] }> {
  const out = JSON.parse(await tool('sfdisk', ['--json', path])) as { partitiontable: { label: string; partitions: SfdiskPartition[] } };
  return out.partitiontable;
}

/** The partition number at the end of an sfdisk node name ("/tmp/x/disk.img5" -> 5). */
export const nodeNumber = (node: string): number => Number(/(\d+)$/.exec(node)![1]);
