// Synchronous random-access byte store: the one interface disk formats (flat, COWD) read and write through.

export interface RandomAccessFile {
  /** Current length in bytes. */
  size(): number;
  /** Reads up to buf.length bytes at position; returns bytes read (short only at end of file). Holes read as zeros. */
  read(buf: Uint8Array, position: number): number;
  /** Writes all of buf at position, growing the file as needed. Throws an error with code ENOSPC when full. */
  write(buf: Uint8Array, position: number): void;
  /** Sets the length; growing leaves a hole (reads as zeros). */
  truncate(size: number): void;
}
