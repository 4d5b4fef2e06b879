// Where a sparse file holds data (lseek SEEK_DATA / SEEK_HOLE), found by a small perl child: Node has no call for it.
//
// Why perl: Node's fs has no lseek at all. perl-base is Essential on Debian (always installed, even in
// minimal images and containers), and its sysseek passes any whence straight to lseek(2), so SEEK_DATA (3)
// and SEEK_HOLE (4) work on every file system the kernel supports them on (ext4, xfs, btrfs, tmpfs, NFS 4.2)
// and, on the others, the kernel's generic answer (the whole file is data) is still right, only not sparse.
// filefrag (e2fsprogs) prints extents through FIEMAP, which tmpfs and NFS refuse, in a format meant for
// people; python3 is not installed everywhere. Without perl every file is treated as all data: correct,
// only slower.

import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

/**
 * For each file argument: `<index> <start> <end>` per data range, in increasing order; `<index> all` when the
 * file system refuses SEEK_DATA (read it whole); `<index> error <text>` when it cannot be opened.
 * lseek(SEEK_DATA) fails with ENXIO (6 on Linux) when no data follows the position: that ends the file.
 */
const SCRIPT = `
for my $i (0 .. $#ARGV) {
  my $fh;
  unless (open($fh, '<', $ARGV[$i])) { print "$i error $!\\n"; next; }
  my $pos = 0;
  while (1) {
    my $data = sysseek($fh, $pos, 3);
    if (!defined $data) { print "$i all\\n" if ($! + 0) != 6; last; }
    my $hole = sysseek($fh, $data, 4);
    if (!defined $hole) { print "$i all\\n"; last; }
    $data += 0; $hole += 0;
    last if $hole <= $data;
    print "$i $data $hole\\n";
    $pos = $hole;
  }
  close($fh);
}
`;

export type DataRangeEvent =
  | { file: number; kind: 'range'; start: number; end: number }
  | { file: number; kind: 'all' }
  | { file: number; kind: 'error'; message: string };

/**
 * Calls `onEvent` for each data range of each file (by its index in `paths`), in order per file.
 * Returns false when the ranges could not be found at all (no perl): the caller then reads every byte.
 */
export async function forEachDataRange(paths: readonly string[], onEvent: (event: DataRangeEvent) => void): Promise<boolean> {
  if (paths.length === 0) return true;
  const child = spawn('perl', ['-e', SCRIPT, '--', ...paths], { stdio: ['ignore', 'pipe', 'pipe'] });
  const started = new Promise<boolean>((resolve) => {
    child.once('spawn', () => resolve(true));
    child.once('error', () => resolve(false));
  });
  if (!(await started)) return false;
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text.slice(0, 2000)));
  const closed = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  for await (const line of createInterface({ input: child.stdout, crlfDelay: Infinity })) {
    const [index, first, ...rest] = line.split(' ');
    const file = Number(index);
    if (first === 'all') onEvent({ file, kind: 'all' });
    else if (first === 'error') onEvent({ file, kind: 'error', message: rest.join(' ') });
    else onEvent({ file, kind: 'range', start: Number(first), end: Number(rest[0]) });
  }
  const code = await closed;
  if (code !== 0) throw new Error(`perl (finding the data ranges of ${paths.join(', ')}) exited with ${code}: ${stderr.trim()}`);
  return true;
}
