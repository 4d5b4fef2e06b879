// The VM's small files in an export: which to copy, export names for disks, the .vmx rewritten to them, the .vmsd emptied.

import { posix } from 'node:path';

/** .nvram, .vmsd and vmware*.log; never swap files, snapshot deltas/children, or disks. */
export function isCopyableVmFile(fileName: string): boolean {
  const name = posix.basename(fileName);
  if (/\.vswp$/i.test(name) || /-(delta|sesparse)\.vmdk$/i.test(name) || /-\d{6}(\.|-)/.test(name)) return false;
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

/**
 * The .vmsd (snapshot database) of an export: the source's with no snapshot in it. The export is the
 * flattened image as of our snapshot, so none of the source's snapshots (their .vmsn files, deltas and
 * parent disks) is in it; an empty database is what ESX keeps for a VM without snapshots, and a VM
 * restored with it registers with no snapshot that names a missing file. Every line that is not about
 * snapshots (`.encoding`) is kept byte for byte, and `snapshot.lastUID` too (ESX keeps it when the last
 * snapshot is deleted, so that uids are not reused); `snapshot.numSnapshots = "0"` is added. A .vmsd with
 * no snapshot entry comes back unchanged.
 */
export function vmsdWithoutSnapshots(vmsdText: string): string {
  const eol = vmsdText.includes('\r\n') ? '\r\n' : '\n';
  const lines = vmsdText.split(/\r?\n/);
  const key = (line: string): string => /^[ \t]*([^=\s]*)/.exec(line)![1]!.toLowerCase();
  const isSnapshotEntry = (line: string): boolean => /^snapshot/.test(key(line)) && key(line) !== 'snapshot.lastuid';
  if (!lines.some(isSnapshotEntry)) return vmsdText;
  const kept = lines.filter((line) => !isSnapshotEntry(line) && line.trim() !== '');
  return [...kept, 'snapshot.numSnapshots = "0"'].join(eol) + eol;
}
