// head, wc, sha1sum, md5sum: utilities that read files or stdin chunk by chunk.

import { createHash } from 'node:crypto';
import type { CommandImpl, CommandIO } from '../shell/types.js';
import { copyStdin } from './cat.js';
import { errorText } from './paths.js';
import { forEachFileChunk, StreamStop } from './streams.js';
import { complain, parseArgs, parseSize, pathOf, print, utility, UsageError } from './util.js';

/** Feeds every chunk of a file operand ("-" is stdin) to onChunk; returns an error text when it cannot be read. */
async function readOperand(io: CommandIO, name: string, onChunk: (chunk: Buffer) => Promise<void> | void): Promise<string | undefined> {
  if (name === '-') {
    await copyStdin(io, async (chunk) => onChunk(chunk));
    return undefined;
  }
  const path = pathOf(io, name);
  const stat = io.vfs.stat(path);
  if (!stat) return 'No such file or directory';
  if (stat.type === 'dir') return 'Is a directory';
  try {
    const file = io.vfs.open(path);
    await forEachFileChunk(file, 0, file.size(), io.signal, onChunk);
    return undefined;
  } catch (err) {
    if (err instanceof StreamStop) throw err;
    return errorText(err);
  }
}

class Enough extends Error {}

export const head: CommandImpl = (io) =>
  utility(io, async () => {
    const { values, operands } = parseArgs(io.argv.slice(1), 'qv', 'cn');
    const byteLimit = values.has('c') ? parseSize(values.get('c')!) : undefined;
    const lineLimit = values.has('n') ? Number(values.get('n')) : byteLimit === undefined ? 10 : undefined;
    if ((values.has('c') && byteLimit === undefined) || (lineLimit !== undefined && !Number.isInteger(lineLimit))) throw new UsageError('invalid number');
    let status = 0;
    for (const name of operands.length ? operands : ['-']) {
      let remainingBytes = byteLimit ?? Infinity;
      let remainingLines = lineLimit ?? Infinity;
      try {
        const error = await readOperand(io, name, async (chunk) => {
          let take = Math.min(chunk.length, remainingBytes);
          if (remainingLines !== Infinity) {
            let i = 0;
            while (i < take && remainingLines > 0) {
              const nl = chunk.indexOf(10, i);
              if (nl < 0 || nl >= take) {
                i = take;
                break;
              }
              i = nl + 1;
              remainingLines--;
            }
            take = i;
          }
          if (take > 0) await print(io, chunk.subarray(0, take));
          remainingBytes -= take;
          if (remainingBytes <= 0 || remainingLines <= 0) throw new Enough();
        });
        if (error) {
          await complain(io, `head: can't open '${name}': ${error}`);
          status = 1;
        }
      } catch (err) {
        if (!(err instanceof Enough)) throw err;
      }
    }
    return status;
  });

export const wc: CommandImpl = (io) =>
  utility(io, async () => {
    const { flags, operands } = parseArgs(io.argv.slice(1), 'clwm');
    const wanted = flags.size ? flags : new Set(['l', 'w', 'c']);
    let status = 0;
    const names = operands.length ? operands : ['-'];
    const totals = { l: 0, w: 0, c: 0 };
    let out = '';
    for (const name of names) {
      const counts = { l: 0, w: 0, c: 0 };
      let inWord = false;
      const error = await readOperand(io, name, (chunk) => {
        counts.c += chunk.length;
        if (!wanted.has('l') && !wanted.has('w')) return;
        for (const byte of chunk) {
          if (byte === 10) counts.l++;
          const space = byte === 32 || (byte >= 9 && byte <= 13);
          if (!space && !inWord) counts.w++;
          inWord = !space;
        }
      });
      if (error) {
        await complain(io, `wc: can't open '${name}': ${error}`);
        status = 1;
        continue;
      }
      totals.l += counts.l;
      totals.w += counts.w;
      totals.c += counts.c;
      out += formatCounts(counts, wanted, operands.length ? name : '');
    }
    if (names.length > 1) out += formatCounts(totals, wanted, 'total');
    if (out) await print(io, out);
    return status;
  });

function formatCounts(counts: { l: number; w: number; c: number }, wanted: Set<string>, name: string): string {
  const columns = (['l', 'w', 'c'] as const).filter((k) => wanted.has(k) || (k === 'c' && wanted.has('m'))).map((k) => String(counts[k]));
  const single = columns.length === 1;
  const text = single ? columns[0]! : columns.map((c) => c.padStart(9)).join('');
  return name ? `${text} ${name}\n` : `${text}\n`;
}

function hashCommand(algorithm: 'sha1' | 'md5'): CommandImpl {
  return (io) =>
    utility(io, async () => {
      const { operands } = parseArgs(io.argv.slice(1), 'bt');
      const name = `${algorithm}sum`;
      let status = 0;
      for (const operand of operands.length ? operands : ['-']) {
        const hash = createHash(algorithm);
        const error = await readOperand(io, operand, (chunk) => {
          hash.update(chunk);
        });
        if (error) {
          await complain(io, `${name}: can't open '${operand}': ${error}`);
          status = 1;
          continue;
        }
        await print(io, `${hash.digest('hex')}  ${operand}\n`);
      }
      return status;
    });
}

export const sha1sum = hashCommand('sha1');
export const md5sum = hashCommand('md5');
