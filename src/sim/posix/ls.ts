// ls and stat: directory listings (busybox long format with -l) and file status (default output and -c FORMAT).

import type { FileStat } from '../vmfs/types.js';
import type { CommandImpl, CommandIO } from '../shell/types.js';
import { complain, parseArgs, pathOf, print, utility } from './util.js';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const SIX_MONTHS_MS = 182 * 24 * 3600 * 1000;

function modeString(stat: FileStat): string {
  return stat.type === 'dir' ? 'drwxr-xr-x' : '-rw-r--r--';
}

function lsDate(mtimeMs: number): string {
  const d = new Date(mtimeMs);
  const day = String(d.getUTCDate()).padStart(2, ' ');
  const recent = Math.abs(Date.now() - mtimeMs) < SIX_MONTHS_MS;
  const tail = recent ? `${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}` : ` ${d.getUTCFullYear()}`;
  return `${MONTHS[d.getUTCMonth()]} ${day} ${tail}`;
}

function longLine(stat: FileStat, name: string): string {
  const links = stat.type === 'dir' ? 2 : 1;
  return `${modeString(stat)} ${String(links).padStart(4)} root     root     ${String(stat.size).padStart(12)} ${lsDate(stat.mtimeMs)} ${name}`;
}

export const ls: CommandImpl = (io) =>
  utility(io, async () => {
    const { flags, operands } = parseArgs(io.argv.slice(1), 'la1AhdFR');
    const long = flags.has('l');
    const showAll = flags.has('a');
    const targets = operands.length ? operands : ['.'];
    let status = 0;
    const files: string[] = [];
    const dirs: string[] = [];
    for (const target of targets) {
      const stat = io.vfs.stat(pathOf(io, target));
      if (!stat) {
        await complain(io, `ls: ${target}: No such file or directory`);
        status = 1;
      } else if (stat.type === 'dir' && !flags.has('d')) dirs.push(target);
      else files.push(long ? longLine(stat, target) : target);
    }
    let out = files.map((line) => `${line}\n`).join('');
    dirs.forEach((dir, i) => {
      const path = pathOf(io, dir);
      const names = io.vfs.list(path).filter((name) => showAll || flags.has('A') || !name.startsWith('.'));
      if (showAll) names.unshift('.', '..');
      if (files.length || dirs.length > 1) out += `${i > 0 || files.length ? '\n' : ''}${dir}:\n`;
      if (long) out += `total ${names.reduce((sum, name) => sum + Math.ceil((statOf(io, path, name)?.allocated ?? 0) / 1024), 0)}\n`;
      for (const name of names) {
        const stat = statOf(io, path, name);
        out += long && stat ? `${longLine(stat, name)}\n` : `${name}\n`;
      }
    });
    if (out) await print(io, out);
    return status;
  });

function statOf(io: CommandIO, dir: string, name: string): FileStat | undefined {
  if (name === '.' || name === '..') return io.vfs.stat(name === '.' ? dir : pathOf({ ...io, cwd: dir }, '..'));
  return io.vfs.stat(`${dir === '/' ? '' : dir}/${name}`);
}

function fileType(stat: FileStat): string {
  if (stat.type === 'dir') return 'directory';
  return stat.size === 0 ? 'regular empty file' : 'regular file';
}

function isoTime(mtimeMs: number): string {
  return `${new Date(mtimeMs).toISOString().replace('T', ' ').replace('Z', '')}000000 +0000`;
}

function formatStat(format: string, name: string, stat: FileStat): string {
  const seconds = String(Math.floor(stat.mtimeMs / 1000));
  const fields: Record<string, string> = {
    s: String(stat.size),
    n: name,
    N: `'${name}'`,
    Y: seconds,
    X: seconds,
    Z: seconds,
    F: fileType(stat),
    b: String(Math.ceil(stat.allocated / 512)),
    B: '512',
    o: '4096',
    a: stat.type === 'dir' ? '755' : '644',
    A: modeString(stat),
    u: '0',
    g: '0',
    U: 'root',
    G: 'root',
    y: isoTime(stat.mtimeMs),
    '%': '%',
  };
  return format.replace(/%(.)/g, (whole, c: string) => fields[c] ?? whole).replace(/\\n/g, '\n').replace(/\\t/g, '\t');
}

function defaultStat(name: string, stat: FileStat): string {
  const blocks = Math.ceil(stat.allocated / 512);
  const time = isoTime(stat.mtimeMs);
  return [
    `  File: '${name}'`,
    `  Size: ${String(stat.size).padEnd(10)}\tBlocks: ${String(blocks).padEnd(10)} IO Block: 4096   ${fileType(stat)}`,
    `Device: 0h/0d\tInode: 0           Links: ${stat.type === 'dir' ? 2 : 1}`,
    `Access: (${stat.type === 'dir' ? '0755' : '0644'}/${modeString(stat)})  Uid: (    0/    root)   Gid: (    0/    root)`,
    `Access: ${time}`,
    `Modify: ${time}`,
    `Change: ${time}`,
    '',
  ].join('\n');
}

export const stat: CommandImpl = (io) =>
  utility(io, async () => {
    const { values, operands } = parseArgs(io.argv.slice(1), 'Lf', 'c');
    if (operands.length === 0) {
      await complain(io, 'stat: missing operand');
      return 1;
    }
    const format = values.get('c');
    let status = 0;
    for (const name of operands) {
      const info = io.vfs.stat(pathOf(io, name));
      if (!info) {
        await complain(io, `stat: can't stat '${name}': No such file or directory`);
        status = 1;
        continue;
      }
      await print(io, format !== undefined ? `${formatStat(format, name, info)}\n` : defaultStat(name, info));
    }
    return status;
  });
