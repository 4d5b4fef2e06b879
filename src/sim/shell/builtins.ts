// Shell builtins of the simulated host: cd, pwd, true, false, :, echo, printf, exit, test/[, export, unset, read.

import type { CommandIO } from './types.js';
import { errorText, resolvePath } from '../posix/paths.js';
import { isStreamStop, readLine, writeChunk } from '../posix/streams.js';

export interface ShellState {
  /** Shell variables; all of them are passed to commands as their environment. */
  vars: Record<string, string>;
  cwd: string;
  /** $? */
  status: number;
  /** Set by `exit`: the list stops and the shell returns this status. */
  exit?: number;
  /** Set when a drop fault cut the session. */
  dropped: boolean;
}

export type Builtin = (io: CommandIO, shell: ShellState) => Promise<number>;

async function print(io: CommandIO, text: string, stream: 'stdout' | 'stderr' = 'stdout'): Promise<number> {
  try {
    await writeChunk(io[stream], text, io.signal);
    return 0;
  } catch (err) {
    if (isStreamStop(err)) return 1;
    return 1;
  }
}

const cd: Builtin = async (io, shell) => {
  const target = io.argv[1] ?? shell.vars.HOME ?? '/';
  const path = resolvePath(shell.cwd, target);
  const stat = io.vfs.stat(path);
  if (!stat) return (await print(io, `sh: cd: can't cd to ${target}: No such file or directory\n`, 'stderr'), 2);
  if (stat.type !== 'dir') return (await print(io, `sh: cd: can't cd to ${target}: Not a directory\n`, 'stderr'), 2);
  shell.cwd = path;
  shell.vars.PWD = path;
  return 0;
};

const echo: Builtin = async (io) => {
  const args = io.argv.slice(1);
  let newline = true;
  let escapes = false;
  while (args.length && /^-[neE]+$/.test(args[0]!)) {
    const flags = args.shift()!;
    if (flags.includes('n')) newline = false;
    if (flags.includes('e')) escapes = true;
    if (flags.includes('E')) escapes = false;
  }
  let text = args.join(' ');
  if (escapes) {
    const cut = text.indexOf('\\c');
    if (cut >= 0) {
      text = text.slice(0, cut);
      newline = false;
    }
    text = backslashEscapes(text);
  }
  return print(io, newline ? `${text}\n` : text);
};

function backslashEscapes(text: string): string {
  const map: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', a: '\x07', b: '\b', f: '\f', v: '\v' };
  return text.replace(/\\(0[0-7]{0,3}|x[0-9a-fA-F]{1,2}|.)/g, (whole, esc: string) => {
    if (esc.startsWith('0')) return String.fromCharCode(parseInt(esc.slice(1) || '0', 8));
    if (esc.startsWith('x') && esc.length > 1) return String.fromCharCode(parseInt(esc.slice(1), 16));
    return map[esc] ?? whole;
  });
}

/** printf FORMAT [ARG]...: %s %d %i %u %x %o %c %%, with the format reused while arguments remain. */
const printf: Builtin = async (io) => {
  const format = io.argv[1];
  if (format === undefined) return print(io, 'printf: usage: printf FORMAT [ARGUMENT]...\n', 'stderr');
  const args = io.argv.slice(2);
  let out = '';
  let status = 0;
  let used = 0;
  do {
    const before = used;
    out += backslashEscapes(format).replace(/%([-+ 0#]*)(\d*)(?:\.(\d+))?([sdiuxXoc%])/g, (_m, flags: string, width: string, precision: string | undefined, conv: string) => {
      if (conv === '%') return '%';
      const arg = args[used++] ?? '';
      let text: string;
      if (conv === 's') text = precision !== undefined ? arg.slice(0, Number(precision)) : arg;
      else if (conv === 'c') text = arg.slice(0, 1);
      else {
        const n = arg === '' ? 0 : Number(arg);
        if (!Number.isFinite(n)) {
          status = 1;
          void print(io, `printf: invalid number '${arg}'\n`, 'stderr');
        }
        const int = Math.trunc(Number.isFinite(n) ? n : 0);
        text = conv === 'x' ? int.toString(16) : conv === 'X' ? int.toString(16).toUpperCase() : conv === 'o' ? int.toString(8) : String(int);
      }
      const w = Number(width || 0);
      if (text.length < w) text = flags.includes('-') ? text.padEnd(w) : text.padStart(w, flags.includes('0') && conv !== 's' ? '0' : ' ');
      return text;
    });
    if (used === before) break;
  } while (used < args.length);
  return (await print(io, out)) || status;
};

const exit: Builtin = async (io, shell) => {
  const arg = io.argv[1];
  const code = arg === undefined ? shell.status : Number(arg);
  if (!Number.isInteger(code)) {
    await print(io, `sh: exit: Illegal number: ${arg}\n`, 'stderr');
    shell.exit = 2;
    return 2;
  }
  shell.exit = code & 255;
  return shell.exit;
};

const exportBuiltin: Builtin = async (io, shell) => {
  for (const arg of io.argv.slice(1)) {
    const eq = arg.indexOf('=');
    if (eq > 0) shell.vars[arg.slice(0, eq)] = arg.slice(eq + 1);
  }
  return 0;
};

const unset: Builtin = async (io, shell) => {
  for (const name of io.argv.slice(1)) delete shell.vars[name];
  return 0;
};

const test: Builtin = async (io) => {
  const args = io.argv.slice(1);
  if (io.argv[0]!.endsWith('[')) {
    if (args[args.length - 1] !== ']') return (await print(io, 'sh: [: missing ]\n', 'stderr'), 2);
    args.pop();
  }
  try {
    return evaluateTest(args, io) ? 0 : 1;
  } catch (err) {
    await print(io, `sh: test: ${errorText(err)}\n`, 'stderr');
    return 2;
  }
};

function evaluateTest(args: string[], io: CommandIO): boolean {
  if (args[0] === '!' ) return !evaluateTest(args.slice(1), io);
  if (args.length === 0) return false;
  if (args.length === 1) return args[0] !== '';
  if (args.length === 2) {
    const [op, operand] = args as [string, string];
    const stat = () => io.vfs.stat(resolvePath(io.cwd, operand));
    switch (op) {
      case '-n': return operand !== '';
      case '-z': return operand === '';
      case '-e': case '-r': case '-w': case '-x': return stat() !== undefined;
      case '-f': return stat()?.type === 'file';
      case '-d': return stat()?.type === 'dir';
      case '-s': return (stat()?.size ?? 0) > 0;
      default: throw new Error(`${op}: unknown operand`);
    }
  }
  if (args.length === 3) {
    const [a, op, b] = args as [string, string, string];
    if (op === '=' || op === '==') return a === b;
    if (op === '!=') return a !== b;
    const numeric = { '-eq': (x: number, y: number) => x === y, '-ne': (x: number, y: number) => x !== y, '-lt': (x: number, y: number) => x < y, '-le': (x: number, y: number) => x <= y, '-gt': (x: number, y: number) => x > y, '-ge': (x: number, y: number) => x >= y }[op];
    if (!numeric) throw new Error(`${op}: unknown operand`);
    const x = Number(a);
    const y = Number(b);
    if (!/^\s*-?\d+\s*$/.test(a)) throw new Error(`${a}: bad number`);
    if (!/^\s*-?\d+\s*$/.test(b)) throw new Error(`${b}: bad number`);
    return numeric(x, y);
  }
  throw new Error('too many arguments');
}

/**
 * read [-r] NAME...: one line of stdin, split at blanks into the names, the last taking the rest; status 1 at
 * end of input (the names still get what came before it). Without -r a backslash escapes the next character
 * and a backslash-newline joins the next line.
 */
const read: Builtin = async (io, shell) => {
  const args = io.argv.slice(1);
  let raw = false;
  while (args[0]?.startsWith('-')) {
    const option = args.shift()!;
    if (option === '--') break;
    if (option !== '-r') return (await print(io, `sh: read: ${option}: invalid option\n`, 'stderr'), 2);
    raw = true;
  }
  const names = args.length > 0 ? args : ['REPLY'];
  const bad = names.find((n) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(n));
  if (bad !== undefined) return (await print(io, `sh: read: '${bad}': not a valid identifier\n`, 'stderr'), 2);
  let text = '';
  let ended = false;
  for (;;) {
    let got;
    try {
      got = await readLine(io.stdin, io.signal);
    } catch (err) {
      if (isStreamStop(err)) return 1;
      throw err;
    }
    if (got === null) {
      ended = true;
      break;
    }
    ended = got.ended;
    if (!raw && got.line.endsWith('\\') && !got.line.endsWith('\\\\') && !ended) {
      text += got.line.slice(0, -1);
      continue;
    }
    text += got.line;
    break;
  }
  if (!raw) text = text.replace(/\\(.)/g, '$1');
  const fields = text.replace(/^[ \t]+/, '');
  let rest = fields;
  names.forEach((name, i) => {
    if (i === names.length - 1) {
      shell.vars[name] = rest.replace(/[ \t]+$/, '');
      return;
    }
    const m = /^([^ \t]*)[ \t]*/.exec(rest)!;
    shell.vars[name] = m[1]!;
    rest = rest.slice(m[0].length);
  });
  return ended ? 1 : 0;
};

const pwd: Builtin = async (io, shell) => print(io, `${shell.cwd}\n`);

export const builtins: ReadonlyMap<string, Builtin> = new Map<string, Builtin>([
  ['cd', cd],
  ['pwd', pwd],
  ['true', async () => 0],
  [':', async () => 0],
  ['false', async () => 1],
  ['echo', echo],
  ['printf', printf],
  ['exit', exit],
  ['export', exportBuiltin],
  ['unset', unset],
  ['test', test],
  ['[', test],
  ['read', read],
]);
