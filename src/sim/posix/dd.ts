// dd: block copy between files, stdin and stdout with the operands busybox dd knows (if= of= bs= ibs= obs= skip=
// seek= count= conv= iflag= status=), streamed in chunks.
//
// As strict as busybox: an unknown operand (oflag= among them: the busybox builds of ESXi have none) prints the
// usage and fails; an unknown conv=, iflag= or status= word fails with "invalid argument 'X' to 'conv'".
// Input from a pipe is read in full blocks (like iflag=fullblock), so records counts depend only on the byte count.

import type { RandomAccessFile } from '../../formats/random-access.js';
import type { CommandImpl, CommandIO } from '../shell/types.js';
import { errorText } from './paths.js';
import { forEachFileChunk, readChunk } from './streams.js';
import { complain, parseSize, pathOf, print, utility } from './util.js';

interface DdOptions {
  input?: string;
  output?: string;
  blockSize: number;
  skip: number;
  seek: number;
  count?: number;
  notrunc: boolean;
  /** conv=sync: a short last input block is padded with zeros to bs. */
  sync: boolean;
  /** iflag=skip_bytes: skip= counts bytes, not blocks. */
  skipBytes: boolean;
  /** status=none prints nothing; status=noxfer leaves out the bytes/speed line. */
  status: 'all' | 'none' | 'noxfer';
}

class DdError extends Error {}

/** dd cannot run at all with these operands: busybox prints its usage. */
class DdUsage extends Error {}

const USAGE = `Usage: dd [if=FILE] [of=FILE] [ibs=N obs=N/bs=N] [count=N] [skip=N] [seek=N]
	[conv=notrunc|noerror|sync|fsync] [iflag=skip_bytes|fullblock] [status=noxfer|none]`;

/** The words busybox knows after conv=, iflag= and status= (conv=swab too, which the simulator does not do: refused). */
const WORDS: Record<'conv' | 'iflag' | 'status', readonly string[]> = {
  conv: ['notrunc', 'sync', 'noerror', 'fsync'],
  iflag: ['skip_bytes', 'fullblock'],
  status: ['none', 'noxfer'],
};

function words(key: 'conv' | 'iflag' | 'status', value: string): string[] {
  const list = value.split(',');
  for (const word of list) if (!WORDS[key].includes(word)) throw new DdError(`invalid argument '${word}' to '${key}'`);
  if (key === 'status' && list.length > 1) throw new DdError(`invalid argument '${value}' to 'status'`);
  return list;
}

function parseOptions(args: readonly string[]): DdOptions {
  const opts: DdOptions = { blockSize: 512, skip: 0, seek: 0, notrunc: false, sync: false, skipBytes: false, status: 'all' };
  const number = (value: string) => {
    const n = parseSize(value);
    if (n === undefined) throw new DdError(`invalid number '${value}'`);
    return n;
  };
  for (const arg of args) {
    const eq = arg.indexOf('=');
    if (eq < 0) throw new DdUsage(arg);
    const key = arg.slice(0, eq);
    const value = arg.slice(eq + 1);
    switch (key) {
      case 'if': opts.input = value; break;
      case 'of': opts.output = value; break;
      case 'bs': case 'ibs': case 'obs': opts.blockSize = number(value); break;
      case 'skip': opts.skip = number(value); break;
      case 'seek': opts.seek = number(value); break;
      case 'count': opts.count = number(value); break;
      case 'conv':
        for (const conv of words('conv', value)) {
          if (conv === 'notrunc') opts.notrunc = true;
          if (conv === 'sync') opts.sync = true;
        }
        break;
      case 'iflag':
        if (words('iflag', value).includes('skip_bytes')) opts.skipBytes = true;
        break;
      case 'status': opts.status = words('status', value)[0] as 'none' | 'noxfer'; break;
      default: throw new DdUsage(arg);
    }
  }
  if (opts.blockSize === 0) throw new DdError(`invalid number '0'`);
  return opts;
}

export const dd: CommandImpl = (io) =>
  utility(io, async () => {
    let opts: DdOptions;
    try {
      opts = parseOptions(io.argv.slice(1));
    } catch (err) {
      if (err instanceof DdUsage) {
        await complain(io, USAGE);
        return 1;
      }
      if (!(err instanceof DdError)) throw err;
      await complain(io, `dd: ${err.message}`);
      return 1;
    }
    const started = process.hrtime.bigint();
    const limit = opts.count === undefined ? Infinity : opts.count * opts.blockSize;
    const opened = openEnds(io, opts);
    if (typeof opened === 'string') {
      await complain(io, `dd: ${opened}`);
      return 1;
    }
    let copied = 0;
    let writeFailure: unknown;
    const write = async (chunk: Buffer) => {
      if (opened.output) {
        try {
          opened.output.write(chunk, opts.seek * opts.blockSize + copied);
        } catch (err) {
          writeFailure = err;
          throw err;
        }
      } else await print(io, chunk);
      copied += chunk.length;
    };
    const skipBytes = opts.skipBytes ? opts.skip : opts.skip * opts.blockSize;
    try {
      if (opened.input) {
        const end = Math.min(opened.input.size(), skipBytes + limit);
        await forEachFileChunk(opened.input, skipBytes, end, io.signal, write);
      } else await copyFromStdin(io, skipBytes, limit, write);
      const short = copied % opts.blockSize;
      if (opts.sync && short > 0) await write(Buffer.alloc(opts.blockSize - short));
    } catch (err) {
      if (writeFailure === undefined) throw err;
      await complain(io, `dd: error writing '${opts.output}': ${errorText(err)}`);
    }
    if (opts.status !== 'none') await complain(io, summary(copied, opts.blockSize, started, opts.status === 'all'));
    return writeFailure === undefined ? 0 : 1;
  });

function openEnds(io: CommandIO, opts: DdOptions): { input?: RandomAccessFile; output?: RandomAccessFile } | string {
  const ends: { input?: RandomAccessFile; output?: RandomAccessFile } = {};
  if (opts.input !== undefined && opts.input !== '/dev/stdin') {
    const path = pathOf(io, opts.input);
    const stat = io.vfs.stat(path);
    if (!stat) return `can't open '${opts.input}': No such file or directory`;
    if (stat.type === 'dir') return `can't open '${opts.input}': Is a directory`;
    ends.input = io.vfs.open(path);
  }
  if (opts.output !== undefined && opts.output !== '/dev/stdout') {
    const path = pathOf(io, opts.output);
    try {
      const stat = io.vfs.stat(path);
      if (stat?.type === 'dir') return `can't open '${opts.output}': Is a directory`;
      if (!stat) io.vfs.writeFile(path, '');
      ends.output = io.vfs.open(path);
      if (!opts.notrunc) ends.output.truncate(opts.seek * opts.blockSize);
    } catch (err) {
      return `can't open '${opts.output}': ${errorText(err)}`;
    }
  }
  return ends;
}

async function copyFromStdin(io: CommandIO, skipBytes: number, limit: number, write: (chunk: Buffer) => Promise<void>): Promise<void> {
  let toSkip = skipBytes;
  let remaining = limit;
  while (remaining > 0) {
    let chunk = await readChunk(io.stdin, io.signal);
    if (!chunk) return;
    if (toSkip > 0) {
      const dropped = Math.min(toSkip, chunk.length);
      toSkip -= dropped;
      chunk = chunk.subarray(dropped);
    }
    if (chunk.length > remaining) chunk = chunk.subarray(0, remaining);
    if (chunk.length === 0) continue;
    remaining -= chunk.length;
    await write(chunk);
  }
}

function summary(bytes: number, blockSize: number, started: bigint, withTransfer: boolean): string {
  const full = Math.floor(bytes / blockSize);
  const partial = bytes % blockSize ? 1 : 0;
  const seconds = Math.max(Number(process.hrtime.bigint() - started) / 1e9, 1e-6);
  const records = `${full}+${partial} records`;
  if (!withTransfer) return `${records} in\n${records} out`;
  return `${records} in\n${records} out\n${bytes} bytes (${humanSize(bytes)}B) copied, ${seconds.toFixed(6)} seconds, ${humanSize(bytes / seconds)}B/s`;
}

/** busybox's human-readable sizes: 1024-based, one decimal, unit letter (e.g. 1.0M). */
export function humanSize(bytes: number): string {
  const units = ['', 'K', 'M', 'G', 'T', 'P'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? String(Math.round(value)) : `${value.toFixed(1)}${units[unit]}`;
}
