// df, sleep, hostname, uname: what the host reports about itself.

import { humanSize } from './dd.js';
import type { CommandImpl } from '../shell/types.js';
import { sleepAbortable } from './streams.js';
import { complain, parseArgs, print, utility } from './util.js';

export interface HostIdentity {
  hostname: string;
  /** uname -r, e.g. "6.7.0". */
  release: string;
  /** The kernel build string, e.g. "#1 SMP Release build-8169922 Apr  3 2018 14:48:22". */
  version: string;
}

export const DEFAULT_IDENTITY: HostIdentity = {
  hostname: 'esx-sim',
  release: '6.7.0',
  version: '#1 SMP Release build-8169922 Apr  3 2018 14:48:22',
};


export const df: CommandImpl = (io) =>
  utility(io, async () => {
    const { flags } = parseArgs(io.argv.slice(1), 'hkPT');
    const humanReadable = flags.has('h');
    const rows = io.vfs.datastores().map((ds) => {
      const used = ds.capacity - ds.free;
      const percent = ds.capacity ? Math.ceil((used / ds.capacity) * 100) : 0;
      const size = (n: number) => (humanReadable ? humanSize(n) : String(n));
      return ['VMFS-5', size(ds.capacity), size(used), size(ds.free), `${percent}%`, `/vmfs/volumes/${ds.name}`];
    });
    const header = ['Filesystem', humanReadable ? 'Size' : 'Bytes', 'Used', 'Available', 'Use%', 'Mounted on'];
    const table = [header, ...rows];
    const widths = header.map((_, col) => Math.max(...table.map((row) => row[col]!.length)));
    const lines = table.map((row) =>
      row.map((cell, col) => (col === 0 ? cell.padEnd(widths[0]!) : col === 5 ? cell : cell.padStart(widths[col]!))).join(' '),
    );
    await print(io, `${lines.join('\n')}\n`);
    return 0;
  });

export const sleep: CommandImpl = (io) =>
  utility(io, async () => {
    const arg = io.argv[1];
    const m = arg === undefined ? null : /^(\d+(?:\.\d+)?)([smhd]?)$/.exec(arg);
    if (!m) {
      await complain(io, `sleep: invalid number '${arg ?? ''}'`);
      return 1;
    }
    const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
    await sleepAbortable(Number(m[1]) * unit * 1000, io.signal);
    return 0;
  });

export function hostnameCommand(identity: HostIdentity): CommandImpl {
  return (io) => utility(io, async () => (await print(io, `${identity.hostname}\n`), 0));
}

export function unameCommand(identity: HostIdentity): CommandImpl {
  return (io) =>
    utility(io, async () => {
      const { flags } = parseArgs(io.argv.slice(1), 'asnrvmpio');
      const all = flags.has('a');
      const fields: string[] = [];
      if (all || flags.has('s') || flags.size === 0) fields.push('VMkernel');
      if (all || flags.has('n')) fields.push(identity.hostname);
      if (all || flags.has('r')) fields.push(identity.release);
      if (all || flags.has('v')) fields.push(identity.version);
      if (all || flags.has('m')) fields.push('x86_64');
      if (all || flags.has('p')) fields.push('x86_64');
      if (all || flags.has('i')) fields.push('x86_64');
      if (all || flags.has('o')) fields.push('ESXi');
      await print(io, `${fields.join(' ')}\n`);
      return 0;
    });
}
