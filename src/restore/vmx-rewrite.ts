// The restored VM's .vmx: the exported one with its disks, nvram, name and moved-or-copied answer set for its new place.

/** VMware's escape for a value: `"`, `|`, `#` and control characters as |XX. */
function encodeValue(value: string): string {
  return value.replace(/["|#\x00-\x1f]/g, (c) => `|${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

const KEY = /^\s*([A-Za-z0-9_.:\-[\]]+)\s*=/;

export interface VmxEdits {
  /** Keys to set (added at the end when absent), compared without case as the host does. */
  set: Record<string, string>;
  /** Keys to drop. */
  remove: string[];
}

/**
 * Applies edits line by line: every other line (comments, order, unknown keys) stays byte for byte, so the VM's
 * hardware is exactly the backup's. A key set twice in the file is set on each of its lines.
 */
export function editVmx(text: string, edits: VmxEdits): string {
  const set = new Map(Object.entries(edits.set).map(([k, v]) => [k.toLowerCase(), { key: k, value: v }]));
  const remove = new Set(edits.remove.map((k) => k.toLowerCase()));
  const done = new Set<string>();
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const out: string[] = [];
  for (const line of lines) {
    const key = KEY.exec(line)?.[1]?.toLowerCase();
    if (key !== undefined && remove.has(key)) continue;
    const edit = key === undefined ? undefined : set.get(key);
    if (edit) {
      out.push(`${line.slice(0, line.indexOf('=')).trimEnd()} = "${encodeValue(edit.value)}"`);
      done.add(key!);
    } else out.push(line);
  }
  for (const [lower, edit] of set) if (!done.has(lower)) out.push(`${edit.key} = "${encodeValue(edit.value)}"`);
  return `${out.join('\n')}\n`;
}

/**
 * `ethernetN.startConnected = "FALSE"` for every network card the .vmx has: a drill's copy boots with its cards
 * disconnected, so it never answers on the network with the original's addresses (Tools report in all the same).
 */
export function disconnectedNics(text: string): Record<string, string> {
  const set: Record<string, string> = {};
  for (const m of text.matchAll(/^\s*(ethernet\d+)\.present\s*=/gim)) set[`${m[1]}.startConnected`] = 'FALSE';
  return set;
}
