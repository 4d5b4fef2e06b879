// The simulated host's busybox-level utilities, as a command table for the shell interpreter.

import type { CommandTable } from '../shell/types.js';
import { cat } from './cat.js';
import { dd } from './dd.js';
import { cp, mkdir, mv, rm, touch } from './fileops.js';
import { ls, stat } from './ls.js';
import { DEFAULT_IDENTITY, df, hostnameCommand, sleep, unameCommand, type HostIdentity } from './system.js';
import { head, md5sum, sha1sum, wc } from './text.js';

export type { HostIdentity } from './system.js';

export function posixCommands(identity: Partial<HostIdentity> = {}): CommandTable {
  const host = { ...DEFAULT_IDENTITY, ...identity };
  return new Map([
    ['cat', cat],
    ['dd', dd],
    ['ls', ls],
    ['stat', stat],
    ['mkdir', mkdir],
    ['rm', rm],
    ['mv', mv],
    ['cp', cp],
    ['touch', touch],
    ['head', head],
    ['wc', wc],
    ['sha1sum', sha1sum],
    ['md5sum', md5sum],
    ['df', df],
    ['sleep', sleep],
    ['hostname', hostnameCommand(host)],
    ['uname', unameCommand(host)],
  ]);
}
