// restore --drill: the temporary VM's name and the flags that make no sense with a drill (pure).

import type { RestoreOptions } from '../workflow/restore-options.js';

/** Between two heartbeat polls: a guest takes tens of seconds to boot, and each poll is a hostd round trip. */
export const HEARTBEAT_POLL_MS = 2_000;

/** `NAME-drill-YYYYMMDD-HHMMSS` (UTC): a name no one else uses, that says what the VM is if a run is killed and it stays. */
export function drillName(base: string, now: Date): string {
  const stamp = now.toISOString().replace(/\.\d+Z$/, '').replace(/[-:]/g, '').replace('T', '-');
  return `${base}-drill-${stamp}`;
}

/** Why these flags cannot go with --drill (the USAGE message), or undefined when they can. */
export function drillConflict(o: Pick<RestoreOptions, 'drill' | 'policy' | 'name' | 'powerOn'>): string | undefined {
  if (!o.drill) return undefined;
  if (o.policy !== 'fail') {
    return `--drill with -b ${o.policy}: a drill restores under a new temporary name (NAME-drill-TIME) and never replaces or renames around a VM; leave -b out`;
  }
  if (o.name !== undefined) {
    return `--drill with --name: a drill chooses its own temporary name (NAME-drill-TIME), so that it can never take an existing VM's name; leave --name out (edit the catalog's vm.name with --catalog to change NAME)`;
  }
  if (o.powerOn) return '--drill with --power-on: a drill always powers the VM on, and off again once it booted; leave --power-on out';
  return undefined;
}
