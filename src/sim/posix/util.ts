// Shared plumbing for the POSIX utilities: option parsing, printing, and turning failures into busybox-style exits.

import type { CommandIO } from '../shell/types.js';
import { errorCode, errorText, resolvePath } from './paths.js';
import { isStreamStop, writeChunk } from './streams.js';

export interface ParsedArgs {
  flags: Set<string>;
  values: Map<string, string>;
  operands: string[];
}

export class UsageError extends Error {}

/** Short options only, clustered or not (-rf), anywhere before "--"; `withValue` lists options taking an argument. */
export function parseArgs(args: readonly string[], allowed: string, withValue = ''): ParsedArgs {
  const parsed: ParsedArgs = { flags: new Set(), values: new Map(), operands: [] };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') {
      parsed.operands.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      parsed.operands.push(arg);
      continue;
    }
    for (let j = 1; j < arg.length; j++) {
      const flag = arg[j]!;
      if (withValue.includes(flag)) {
        const value = j + 1 < arg.length ? arg.slice(j + 1) : args[++i];
        if (value === undefined) throw new UsageError(`option requires an argument -- '${flag}'`);
        parsed.values.set(flag, value);
        break;
      }
      if (!allowed.includes(flag)) throw new UsageError(`invalid option -- '${flag}'`);
      parsed.flags.add(flag);
    }
  }
  return parsed;
}

export function print(io: CommandIO, text: string | Uint8Array): Promise<void> {
  return writeChunk(io.stdout, text, io.signal);
}

/** Prints one diagnostic line to stderr; never throws. */
export async function complain(io: CommandIO, line: string): Promise<void> {
  await writeChunk(io.stderr, `${line}\n`, io.signal).catch(() => {});
}

export function pathOf(io: CommandIO, operand: string): string {
  return resolvePath(io.cwd, operand);
}

/** Runs a utility body, mapping a vanished reader to a quiet exit and other errors to "name: message". */
export async function utility(io: CommandIO, body: () => Promise<number>): Promise<number> {
  const name = io.argv[0]!.split('/').pop()!;
  try {
    return await body();
  } catch (err) {
    if (isStreamStop(err)) return err.code === 'EPIPE' ? 141 : 129;
    if (err instanceof UsageError) {
      await complain(io, `${name}: ${err.message}`);
      return 1;
    }
    const code = errorCode(err);
    await complain(io, code === 'ENOSPC' ? `${name}: write error: ${errorText(err)}` : `${name}: ${errorText(err)}`);
    return 1;
  }
}

/** Parses a size with an optional busybox suffix: k/K (1024), M, G, b (512), kB (1000), MB, GB. */
export function parseSize(text: string): number | undefined {
  const m = /^(\d+)(c|w|b|kB|K|k|MB|M|m|GB|G|g|T)?$/.exec(text);
  if (!m) return undefined;
  const multipliers: Record<string, number> = {
    c: 1, w: 2, b: 512, kB: 1000, K: 1024, k: 1024, MB: 1e6, M: 1024 ** 2, m: 1024 ** 2, GB: 1e9, G: 1024 ** 3, g: 1024 ** 3, T: 1024 ** 4,
  };
  return Number(m[1]) * (m[2] ? multipliers[m[2]]! : 1);
}
