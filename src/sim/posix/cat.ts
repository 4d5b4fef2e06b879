// cat: copies files (or stdin, or "-") to stdout in chunks, waiting for the reader between chunks.

import type { CommandImpl, CommandIO } from '../shell/types.js';
import { errorText } from './paths.js';
import { forEachFileChunk, readChunk } from './streams.js';
import { complain, parseArgs, pathOf, print, utility } from './util.js';

export async function copyStdin(io: CommandIO, onChunk: (chunk: Buffer) => Promise<void>): Promise<void> {
  for (let chunk = await readChunk(io.stdin, io.signal); chunk; chunk = await readChunk(io.stdin, io.signal)) await onChunk(chunk);
}

export const cat: CommandImpl = (io) =>
  utility(io, async () => {
    const { operands } = parseArgs(io.argv.slice(1), 'uvetA');
    const names = operands.length ? operands : ['-'];
    let status = 0;
    for (const name of names) {
      if (name === '-') {
        await copyStdin(io, (chunk) => print(io, chunk));
        continue;
      }
      const path = pathOf(io, name);
      const stat = io.vfs.stat(path);
      if (stat?.type === 'dir') {
        await complain(io, `cat: read error: Is a directory`);
        status = 1;
        continue;
      }
      let file;
      try {
        if (!stat) throw Object.assign(new Error('missing'), { code: 'ENOENT' });
        file = io.vfs.open(path);
      } catch (err) {
        await complain(io, `cat: can't open '${name}': ${errorText(err)}`);
        status = 1;
        continue;
      }
      await forEachFileChunk(file, 0, file.size(), io.signal, (chunk) => print(io, chunk));
    }
    return status;
  });
