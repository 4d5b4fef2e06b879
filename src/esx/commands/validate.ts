// Argument checks shared by the command builders: catch wrong kinds of values before they reach a host.

import { VcbError } from '../../errors.js';

export function requireVmid(vmid: string): string {
  if (!/^\d+$/.test(vmid)) throw new VcbError('USAGE', `not a vim-cmd vmid: ${JSON.stringify(vmid)}`);
  return vmid;
}

/** Host paths are absolute so that no argument can be mistaken for an option. */
export function requireAbsolutePath(path: string): string {
  if (!path.startsWith('/') || path.includes('\0')) {
    throw new VcbError('USAGE', `not an absolute host path: ${JSON.stringify(path)}`);
  }
  return path;
}

export function flag(value: boolean): '1' | '0' {
  return value ? '1' : '0';
}
