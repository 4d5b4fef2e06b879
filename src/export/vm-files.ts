// The VM's small files in an export: which to copy, export names for disks, and the .vmx rewritten to them.

import { posix } from 'node:path';

/** .nvram, .vmsd and vmware*.log; never swap files, snapshot deltas/children, or disks. */
export function isCopyableVmFile(fileName: string): boolean {
  const name = posix.basename(fileName);
  if (/\.vswp$/i.test(name) || /-delta\.vmdk$/i.test(name) || /-\d{6}(\.|-)/.test(name)) return false;
  return /\.nvram$/i.test(name) || /\.vmsd$/i.test(name) || /^vmware.*\.log$/i.test(name);
}

/** A file name safe inside a quoted descriptor extent line and on any file system. */
function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9._+()-]/g, '_');
}

/**
 * Export descriptor names, one per disk in order: the source descriptor's base name (sanitized), with the
 * slot appended when two disks would collide (e.g. same name on two datastores).
 */
export function exportDescriptorNames(disks: ReadonlyArray<{ slot: string; sourceDatastorePath: string }>): string[] {
  const base = disks.map((d) => {
    const stem = safeName(posix.basename(d.sourceDatastorePath.replace(/^\[[^\]]*\]\s*/, '')).replace(/\.vmdk$/i, ''));
    return stem === '' ? 'disk' : stem;
  });
  const used = new Set<string>();
  return base.map((stem, i) => {
    let name = `${stem}.vmdk`;
    const collides = base.filter((s) => s.toLowerCase() === stem.toLowerCase()).length > 1;
    if (collides || used.has(name.toLowerCase())) name = `${stem}-${safeName(disks[i]!.slot.replace(':', '-'))}.vmdk`;
    used.add(name.toLowerCase());
    return name;
  });
}

/** VMware's .vmx escaping: `|` and `"` (and control characters) as `|XX`. */
export function encodeVmxValue(value: string): string {
  return value.replace(/[|"\x00-\x1f]/g, (c) => `|${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Replaces `<slot>.fileName = "..."` for each slot given, keeping every other line byte for byte. */
export function rewriteVmxDiskFileNames(vmxText: string, fileNameBySlot: Readonly<Record<string, string>>): string {
  let text = vmxText;
  for (const [slot, fileName] of Object.entries(fileNameBySlot)) {
    const line = new RegExp(`^([ \\t]*${escapeRegExp(slot)}\\.fileName[ \\t]*=[ \\t]*).*$`, 'im');
    if (!line.test(text)) throw new Error(`the .vmx has no ${slot}.fileName entry`);
    text = text.replace(line, (_m, head: string) => `${head}"${encodeVmxValue(fileName)}"`);
  }
  return text;
}
