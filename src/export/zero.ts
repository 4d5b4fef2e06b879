// All-zero detection by memcmp against a shared zero buffer (no per-byte JavaScript loop).

const ZEROS = Buffer.alloc(1024 * 1024);

export function isAllZero(data: Buffer): boolean {
  for (let at = 0; at < data.length; at += ZEROS.length) {
    const piece = data.subarray(at, Math.min(data.length, at + ZEROS.length));
    if (!piece.equals(ZEROS.subarray(0, piece.length))) return false;
  }
  return true;
}
