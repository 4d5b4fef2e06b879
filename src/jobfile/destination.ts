// A job's destination template (/backup/{host}/{vm}/{time}): checking it, and filling it in for one VM's backup.

import { basename, dirname } from 'node:path';
import { VcbError } from '../errors.js';

export const PLACEHOLDERS = ['host', 'vm', 'moref', 'time', 'date', 'job'] as const;
export type DestinationValues = Record<(typeof PLACEHOLDERS)[number], string>;

/**
 * A fullvm destination must hold {time} in its last component: a VM's backups are then the siblings in one
 * directory, which is what retention looks through. {vm} or {moref} keeps two VMs apart.
 */
export function checkDestinationTemplate(where: string, template: string, type: 'fullvm' | 'file'): void {
  for (const m of template.matchAll(/\{([^}]*)\}/g)) {
    if (!(PLACEHOLDERS as readonly string[]).includes(m[1]!)) {
      throw new VcbError('USAGE', `${where}: ${JSON.stringify(template)}: unknown placeholder {${m[1]}} (known: ${PLACEHOLDERS.map((p) => `{${p}}`).join(' ')})`);
    }
  }
  if (!template.startsWith('/')) throw new VcbError('USAGE', `${where}: ${JSON.stringify(template)}: must be an absolute path (cron's working directory is not yours)`);
  if (!/\{vm\}|\{moref\}/.test(template)) throw new VcbError('USAGE', `${where}: ${JSON.stringify(template)}: needs {vm} or {moref}, or every VM would write to the same place`);
  if (type === 'fullvm' && !basename(template).includes('{time}')) {
    throw new VcbError('USAGE', `${where}: ${JSON.stringify(template)}: needs {time} in its last component, e.g. /backup/{host}/{vm}/{time}: each backup is a new directory beside the VM's older ones`);
  }
}

/** A name as one path component: no slash, no leading dot, nothing a shell or a later glob trips over. */
function component(text: string): string {
  const safe = text.replace(/[/\0]/g, '_').replace(/^\.+/, '_');
  return safe === '' ? '_' : safe;
}

/** `20261201T020304Z` (UTC: sorts as text, and the same on every proxy). */
export function timeStamp(at: Date): string {
  return at.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
}

export function renderDestination(template: string, values: DestinationValues): string {
  return template.replace(/\{(\w+)\}/g, (_, key: string) => component(values[key as keyof DestinationValues]));
}

/** Where the VM's backups are found: the directory that holds the {time} component. */
export function backupsParent(dir: string): string {
  return dirname(dir);
}
