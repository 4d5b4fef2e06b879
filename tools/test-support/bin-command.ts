// How to start bin/vcbmounter.js with the running node, as its first line would: the benchmarks and the
// tests run the CLI this way, so they measure and test it with the node flags users get.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from './project-root.js';

export function binPath(): string {
  return join(projectRoot(), 'bin', 'vcbmounter.js');
}

/** The node flags of a `#!/usr/bin/env [-S] node [--flag ...]` first line. */
export function shebangNodeFlags(firstLine: string, file = 'bin/vcbmounter.js'): string[] {
  const match = /^#!\S*\/env\s+(?:-S\s+)?node((?:\s+--[\w-]+(?:=\S+)?)*)\s*$/.exec(firstLine);
  if (!match) {
    throw new Error(`${file}: first line ${JSON.stringify(firstLine)} is not "#!/usr/bin/env [-S] node [--flag ...]"`);
  }
  return match[1]!.split(/\s+/).filter(Boolean);
}

/** Command and arguments that run the CLI with `args`: this process's node, the bin's node flags, the bin. */
export function binCommand(args: readonly string[]): { command: string; args: string[] } {
  const bin = binPath();
  const firstLine = readFileSync(bin, 'utf8').split('\n', 1)[0]!;
  return { command: process.execPath, args: [...shebangNodeFlags(firstLine, bin), bin, ...args] };
}
