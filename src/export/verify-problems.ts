// What a verify can find wrong with an export, each naming the file and the byte offset in that file.

export type VerifyProblemKind =
  /** A file the catalog lists is not there (or is not a regular file). */
  | 'missing-file'
  /** A file is there but could not be opened or read (permissions, I/O error). */
  | 'unreadable-file'
  /** A descriptor that does not parse, or whose extents are not the catalog's (names, sizes, type). */
  | 'broken-descriptor'
  /** An extent file shorter than its descriptor says. */
  | 'truncated-extent'
  /** An extent file longer than its descriptor says. */
  | 'oversized-extent'
  /** The block list file: a line that is not `<offset> <sha256>`, out of order, or the file not matching the catalog's digest. */
  | 'block-list'
  /** A block whose bytes hash to another sha256 than its line in the block list. */
  | 'block-mismatch'
  /** A block the block list lists that reads as all zeros (a hole, a zeroed region). */
  | 'missing-block'
  /** A block holding data that the block list does not list. */
  | 'extra-block'
  /** The disk's digest recomputed from its data is not the catalog's, where no finer problem explains it (its block list is missing). */
  | 'digest-mismatch';

export interface VerifyProblem {
  kind: VerifyProblemKind;
  /** File name relative to the export directory. */
  file: string;
  /** Byte offset in that file where the problem starts (absent when the whole file is concerned). */
  offset?: number;
  /** Bytes concerned from offset (a block: 1 MiB or less at the disk's end). */
  length?: number;
  /** The disk's descriptor file, for problems of a disk. */
  disk?: string;
  /** Byte offset in the virtual disk, for problems of a block. */
  diskOffset?: number;
  message: string;
}

/** One line for people: `file @ offset: message`. */
export function problemLine(p: VerifyProblem): string {
  const where = p.offset === undefined ? p.file : `${p.file} @ byte ${p.offset}${p.length ? ` (+${p.length})` : ''}`;
  return `${where}: ${p.message}`;
}

/** At most `limit` lines of the problems, then how many more there are. */
export function problemLines(problems: readonly VerifyProblem[], limit: number): string[] {
  const lines = problems.slice(0, limit).map(problemLine);
  if (problems.length > limit) lines.push(`... and ${problems.length - limit} more problem(s)`);
  return lines;
}
