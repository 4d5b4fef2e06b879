// Where each guest volume appears under DIR: digits/<disk>-<partition> always, letters/<X> for Windows volumes, names/<name> for Linux ones.

/** What naming needs to know of a volume. */
export interface NamedVolumeInput {
  disk: number;
  partition: number;
  fileSystem: string;
  label?: string;
  uuid?: string;
  /** GPT type GUID (lower case) or MBR type byte as two hex digits. */
  partitionType?: string;
  /** The guest's own mount point, from its /etc/fstab, when known. */
  guestMountPoint?: string;
}

const WINDOWS_FS = new Set(['ntfs', 'fat12', 'fat16', 'fat32', 'exfat']);
// GPT types Windows gives no drive letter: EFI system, Microsoft reserved, Windows recovery.
const NO_LETTER_TYPES = new Set(['c12a7328-f81f-11d2-ba4b-00a0c93ec93b', 'e3c9e316-0b5c-4db8-817d-f92df00215ae', 'de94bba4-06d1-4d40-a16a-bfd50179d6ac', '27']);

export function digitsName(v: Pick<NamedVolumeInput, 'disk' | 'partition'>): string {
  return `${v.disk}-${v.partition}`;
}

/**
 * Drive letters as Windows hands them out on a fresh install: C, D, ... to the volumes it can read, in disk
 * then partition order, leaving out the partitions it keeps hidden (System Reserved, EFI, MSR, recovery).
 */
export function driveLetters<V extends NamedVolumeInput>(volumes: readonly V[]): Map<V, string> {
  const letters = new Map<V, string>();
  let next = 'C'.charCodeAt(0);
  const ordered = [...volumes].sort((a, b) => a.disk - b.disk || a.partition - b.partition);
  for (const v of ordered) {
    if (!WINDOWS_FS.has(v.fileSystem)) continue;
    if (v.partitionType && NO_LETTER_TYPES.has(v.partitionType.toLowerCase())) continue;
    if (v.label?.toLowerCase() === 'system reserved') continue;
    if (next > 'Z'.charCodeAt(0)) break;
    letters.set(v, String.fromCharCode(next++));
  }
  return letters;
}

/** A name safe as one directory entry: the guest's mount point ("/" → root, "/var/lib" → var-lib) or label. */
function cleanName(text: string): string {
  return text
    .replace(/[\u0000-\u001f/\\]+/g, '-')
    .replace(/^[-.]+|-+$/g, '')
    .slice(0, 64);
}

export function recognisableName(v: NamedVolumeInput): string | undefined {
  if (v.guestMountPoint) return v.guestMountPoint === '/' ? 'root' : cleanName(v.guestMountPoint.replace(/^\/+/, '').replace(/\//g, '-')) || undefined;
  if (v.label) return cleanName(v.label) || undefined;
  return undefined;
}

/** names/<name> for non-Windows volumes; a name two volumes share gets each one's digits appended. */
export function recognisableNames<V extends NamedVolumeInput>(volumes: readonly V[]): Map<V, string> {
  const wanted = volumes.filter((v) => !WINDOWS_FS.has(v.fileSystem)).map((v) => [v, recognisableName(v)] as const);
  const counts = new Map<string, number>();
  for (const [, n] of wanted) if (n) counts.set(n, (counts.get(n) ?? 0) + 1);
  const names = new Map<V, string>();
  for (const [v, n] of wanted) if (n) names.set(v, counts.get(n)! > 1 ? `${n}-${digitsName(v)}` : n);
  return names;
}

/**
 * Mount points of an /etc/fstab by the volume they name: `UUID=`, `LABEL=`, `PARTUUID=` and
 * /dev/disk/by-uuid|by-label paths. Swap and pseudo file systems are left out.
 */
export function parseFstab(text: string): Array<{ uuid?: string; label?: string; mountPoint: string }> {
  const entries: Array<{ uuid?: string; label?: string; mountPoint: string }> = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    const [spec, mountPoint] = line.split(/\s+/);
    if (!spec || !mountPoint || !mountPoint.startsWith('/')) continue;
    const unescape = (s: string) => s.replace(/\\040/g, ' ');
    const m = /^(UUID|LABEL)=(.+)$/.exec(spec) ?? /^\/dev\/disk\/by-(uuid|label)\/(.+)$/i.exec(spec);
    if (!m) continue;
    const value = unescape(m[2]!.replace(/^"|"$/g, ''));
    entries.push(m[1]!.toLowerCase() === 'uuid' ? { uuid: value.toLowerCase(), mountPoint: unescape(mountPoint) } : { label: value, mountPoint: unescape(mountPoint) });
  }
  return entries;
}
