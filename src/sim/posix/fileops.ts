// mkdir, rm, mv, cp, touch over the Vfs, with busybox's messages.

import type { CommandImpl, CommandIO } from '../shell/types.js';
import { errorCode, errorText } from './paths.js';
import { forEachFileChunk } from './streams.js';
import { complain, parseArgs, pathOf, utility } from './util.js';

function joinPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

function baseName(path: string): string {
  const trimmed = path.replace(/\/+$/, '');
  return trimmed.slice(trimmed.lastIndexOf('/') + 1) || trimmed;
}

export const mkdir: CommandImpl = (io) =>
  utility(io, async () => {
    const { flags, operands } = parseArgs(io.argv.slice(1), 'p', 'm');
    if (!operands.length) return (await complain(io, 'mkdir: missing operand'), 1);
    let status = 0;
    for (const name of operands) {
      const path = pathOf(io, name);
      try {
        if (flags.has('p') && io.vfs.stat(path)?.type === 'dir') continue;
        io.vfs.mkdir(path, { recursive: flags.has('p') });
      } catch (err) {
        await complain(io, `mkdir: can't create directory '${name}': ${errorText(err)}`);
        status = 1;
      }
    }
    return status;
  });

export const rm: CommandImpl = (io) =>
  utility(io, async () => {
    const { flags, operands } = parseArgs(io.argv.slice(1), 'frRi');
    const force = flags.has('f');
    const recursive = flags.has('r') || flags.has('R');
    if (!operands.length && !force) return (await complain(io, 'rm: missing operand'), 1);
    let status = 0;
    for (const name of operands) {
      const path = pathOf(io, name);
      const stat = io.vfs.stat(path);
      if (!stat) {
        if (!force) {
          await complain(io, `rm: can't remove '${name}': No such file or directory`);
          status = 1;
        }
        continue;
      }
      if (stat.type === 'dir' && !recursive) {
        await complain(io, `rm: '${name}' is a directory`);
        status = 1;
        continue;
      }
      try {
        io.vfs.remove(path, { recursive });
      } catch (err) {
        await complain(io, `rm: can't remove '${name}': ${errorText(err)}`);
        status = 1;
      }
    }
    return status;
  });

/** Resolves the destination of mv/cp: into a directory when the last operand is one. */
function destinations(io: CommandIO, operands: string[]): { sources: string[]; targetOf: (source: string) => string } | string {
  if (operands.length < 2) return 'missing file operand';
  const last = operands[operands.length - 1]!;
  const lastPath = pathOf(io, last);
  const sources = operands.slice(0, -1);
  const intoDir = io.vfs.stat(lastPath)?.type === 'dir';
  if (!intoDir && sources.length > 1) return `'${last}' is not a directory`;
  return { sources, targetOf: (source) => (intoDir ? joinPath(lastPath, baseName(source)) : lastPath) };
}

export const mv: CommandImpl = (io) =>
  utility(io, async () => {
    const { operands } = parseArgs(io.argv.slice(1), 'fin');
    const plan = destinations(io, operands);
    if (typeof plan === 'string') return (await complain(io, `mv: ${plan}`), 1);
    let status = 0;
    for (const source of plan.sources) {
      try {
        io.vfs.rename(pathOf(io, source), plan.targetOf(source));
      } catch (err) {
        await complain(io, `mv: can't rename '${source}': ${errorText(err)}`);
        status = 1;
      }
    }
    return status;
  });

export const cp: CommandImpl = (io) =>
  utility(io, async () => {
    const { flags, operands } = parseArgs(io.argv.slice(1), 'fpaRrd');
    const plan = destinations(io, operands);
    if (typeof plan === 'string') return (await complain(io, `cp: ${plan}`), 1);
    const recursive = flags.has('r') || flags.has('R') || flags.has('a');
    let status = 0;
    for (const source of plan.sources) {
      const from = pathOf(io, source);
      const stat = io.vfs.stat(from);
      if (!stat) {
        await complain(io, `cp: can't stat '${source}': No such file or directory`);
        status = 1;
      } else if (stat.type === 'dir' && !recursive) {
        await complain(io, `cp: omitting directory '${source}'`);
        status = 1;
      } else {
        try {
          await copyTree(io, from, plan.targetOf(source));
        } catch (err) {
          if (errorCode(err) === undefined || !['ENOSPC', 'ENOENT', 'ENOTDIR', 'EISDIR', 'EEXIST'].includes(errorCode(err)!)) throw err;
          await complain(io, `cp: can't create '${plan.targetOf(source)}': ${errorText(err)}`);
          status = 1;
        }
      }
    }
    return status;
  });

async function copyTree(io: CommandIO, from: string, to: string): Promise<void> {
  const stat = io.vfs.stat(from)!;
  if (stat.type === 'dir') {
    if (io.vfs.stat(to)?.type !== 'dir') io.vfs.mkdir(to);
    for (const name of io.vfs.list(from)) await copyTree(io, joinPath(from, name), joinPath(to, name));
    return;
  }
  io.vfs.createFile(to, { size: 0, thin: stat.thin });
  const source = io.vfs.open(from);
  const target = io.vfs.open(to);
  let position = 0;
  await forEachFileChunk(source, 0, source.size(), io.signal, async (chunk) => {
    target.write(chunk, position);
    position += chunk.length;
    await new Promise<void>((resolve) => setImmediate(resolve));
  });
}

export const touch: CommandImpl = (io) =>
  utility(io, async () => {
    const { operands } = parseArgs(io.argv.slice(1), 'cam');
    if (!operands.length) return (await complain(io, 'touch: missing operand'), 1);
    let status = 0;
    for (const name of operands) {
      const path = pathOf(io, name);
      try {
        const stat = io.vfs.stat(path);
        if (!stat) io.vfs.writeFile(path, '');
        else if (stat.type === 'file') io.vfs.open(path).truncate(stat.size);
      } catch (err) {
        await complain(io, `touch: ${name}: ${errorText(err)}`);
        status = 1;
      }
    }
    return status;
  });
