// Sizes, rates and durations in the units an admin reads (KiB, MiB/s, 1 h 02 min), for summaries and progress lines.

const SIZE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** "0 B", "512 B", "1.5 MiB": powers of 1024, one decimal above bytes. */
export function humanSize(bytes: number): string {
  let n = Math.max(0, bytes);
  let i = 0;
  while (n >= 1024 && i < SIZE_UNITS.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i ? 1 : 0)} ${SIZE_UNITS[i]}`;
}

/** "12.3 MiB/s" from bytes per second. */
export function humanRate(bytesPerSecond: number): string {
  return `${humanSize(bytesPerSecond)}/s`;
}

/** "0.4 s", "42 s", "3 min 05 s", "2 h 07 min": precise where short, coarse where long. */
export function humanDuration(ms: number): string {
  const t = Math.max(0, ms);
  if (t < 10_000) return `${(t / 1000).toFixed(1)} s`;
  const s = Math.round(t / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}
